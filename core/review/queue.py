"""The review queue: sheets the model flags wait for a person, most uncertain (or oldest) first.

Flagged = the model calls the sheet defective, or some class probability lies within `band` of its
threshold (uncertain): all of these wait. Beyond them a few sheets an hour are sampled because they
teach the model (out of domain, unusual, or unlike anything reviewed: core.review.store.sampling);
each item says why it is here. A sheet leaves the queue with its first review.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.contract.verdict import Verdict
from core.review.store import ReviewLog
from core.review.store.db import Database
from core.review.store.models import InferenceRow, QueueClaimRow, ReviewRow, utc_now
from core.review.store.sampling import SAMPLE_KEY, queued

ORDERS = {"uncertain": "Most uncertain first", "oldest": "Oldest first"}


@dataclass(frozen=True)
class QueueItem:
    inference_id: int
    image_sha256: str
    image_name: str
    defective: bool
    margin: float
    inspected_at: datetime
    reasons: tuple[str, ...]


def flag_reasons(class_names, probabilities, thresholds, classes_present, band: float,
                 sampled: str | None = None) -> tuple[str, ...]:
    """Why a sheet waits for a person, in short lines an inspector reads; () when it does not. `sampled`: the reason
    it was queued to teach the model (the stored SAMPLE_KEY), if it was."""
    probability = dict(zip(class_names, probabilities, strict=True))
    reasons = ["flagged: " + ", ".join(f"{name} {probability[name]:.2f}" for name in classes_present)
               ] if classes_present else []
    reasons += [f"uncertain: {name} {p:.2f} is within {band:.2f} of its threshold {t:.2f}"
                for name, p, t in zip(class_names, probabilities, thresholds, strict=True) if abs(p - t) < band]
    return (*reasons, sampled) if sampled else tuple(reasons)


def is_flagged(verdict: Verdict, band: float, sampled: str | None = None) -> bool:
    """Whether the sheet waits in the queue (the rule core.review.store.sampling.queued says in SQL)."""
    return verdict.defective or verdict.margin() < band or sampled is not None


def _to_item(row, band: float) -> QueueItem:
    return QueueItem(row.id, row.image_sha256, row.verdict["image"], row.defective, row.margin, row.created_at,
                     flag_reasons(row.class_names, row.probabilities, row.thresholds, row.classes_present, band,
                                  row.verdict.get(SAMPLE_KEY)))


def next_in_queue(log: ReviewLog, band: float, order: str = "uncertain",
                  skipped: Iterable[int] = ()) -> QueueItem | None:
    """The next sheet to review, leaving out the inference ids this inspector skipped."""
    rows = log.flagged_unreviewed(band, order, limit=1, exclude=skipped)
    return _to_item(rows[0], band) if rows else None


def upcoming(log: ReviewLog, band: float, order: str = "uncertain", limit: int = 20) -> list[QueueItem]:
    return [_to_item(row, band) for row in log.flagged_unreviewed(band, order, limit=limit)]


def waiting(log: ReviewLog, band: float) -> int:
    return log.count_flagged_unreviewed(band)


@dataclass(frozen=True)
class QueueCounts:
    """One reviewer's view of the queue, from one read, so the numbers always add up (issue 37 item 12): every
    waiting sheet is the one shown, one another reviewer has open, one this reviewer skipped, or one after them."""

    waiting: int
    showing: bool
    held_by_others: int
    skipped: int

    @property
    def after(self) -> int:
        return self.waiting - self.showing - self.held_by_others - self.skipped

    def line(self) -> str:
        if not self.waiting:
            return "**Waiting for review: 0**"
        parts = [f"**Waiting for review: {self.waiting}**"]
        if self.showing:
            parts.append("this one")
        if self.after:
            parts.append(f"{self.after} after it" if self.showing else f"{self.after} more")
        if self.held_by_others:
            parts.append(f"{self.held_by_others} open with other reviewers")
        if self.skipped:
            parts.append(f"{self.skipped} skipped by you")
        return " · ".join(parts)


def waiting_ids(log: ReviewLog, band: float) -> set[int]:
    """The inference ids of the sheets waiting (the rows `waiting` counts), ids only: no verdicts read."""
    latest = log._latest_per_image()
    reviewed = select(ReviewRow.image_sha256).distinct()
    query = (select(InferenceRow.id).join(latest, InferenceRow.id == latest.c.id)
             .where(InferenceRow.image_sha256.not_in(reviewed)).where(queued(band)))
    return log._read(lambda s: set(s.scalars(query)))


def queue_counts(log: ReviewLog, band: float, showing: int | None, held_by_others: Iterable[int],
                 skipped: Iterable[int]) -> QueueCounts:
    """The counters beside the sheet a reviewer holds (`showing`, None when none), from one read of the queue."""
    ids = waiting_ids(log, band)
    held = ids & set(held_by_others)
    passed = (ids & set(skipped)) - held - {showing}
    return QueueCounts(len(ids), showing in ids, len(held - {showing}), len(passed))


class Claims:
    """Short claims on queue items, so two reviewers on the queue at once are shown different sheets.

    Held in the review log's database (table queue_claims), so every app server on one database sees the same
    claims. A claim lasts `seconds` and is renewed by every rerun of the page that shows the sheet, so a reviewer
    who walks away frees it soon. Advisory only: a decision on a claimed sheet is still recorded (append-only).
    Server clocks are assumed to agree to well within `seconds` (NTP).
    """

    def __init__(self, log: Database, seconds: float = 120.0, clock: Callable[[], datetime] = utc_now) -> None:
        self.log = log
        self.seconds = seconds
        self._clock = clock

    def held_by_others(self, who: str) -> set[int]:
        now = self._clock()
        query = select(QueueClaimRow.inference_id).where(QueueClaimRow.holder != who, QueueClaimRow.expires_at > now)
        return self.log._read(lambda s: set(s.scalars(query)))

    def claim(self, inference_id: int, who: str) -> bool:
        """Take or renew the claim; False if someone else holds it (the caller should pick another)."""

        def work(session: Session) -> bool:
            now = self._clock()
            # FOR UPDATE: on PostgreSQL a second server claiming the same sheet waits here for the first to commit.
            held = session.scalar(select(QueueClaimRow).where(QueueClaimRow.inference_id == inference_id)
                                  .with_for_update())
            if held is not None and held.holder != who and held.expires_at > now:
                return False
            # One sheet per reviewer; this also keeps the table as small as the number of reviewers.
            session.execute(delete(QueueClaimRow).where(QueueClaimRow.holder == who,
                                                        QueueClaimRow.inference_id != inference_id))
            if held is None:
                session.add(QueueClaimRow(inference_id=inference_id, holder=who,
                                          expires_at=now + timedelta(seconds=self.seconds)))
            else:
                held.holder, held.expires_at = who, now + timedelta(seconds=self.seconds)
            return True

        try:
            return self.log._write(work)
        except IntegrityError:
            # Another server inserted a claim on this sheet between our look and our insert: it holds it now.
            return self.log._write(work)

    def release(self, who: str) -> None:
        self.log._write(lambda s: s.execute(delete(QueueClaimRow).where(QueueClaimRow.holder == who)))


def claim_next(log: ReviewLog, claims: Claims, who: str, band: float, order: str = "uncertain",
               skipped: Iterable[int] = ()) -> tuple[QueueItem | None, set[int]]:
    """(the next sheet for `who`, now claimed by them, or None; the sheets other reviewers hold).

    A sheet another reviewer holds is left to them. A sheet decided between our look and our claim is let go and
    the next one taken, so two reviewers on any number of app servers never get the same sheet.
    """
    passed = set(skipped)
    while True:
        taken = claims.held_by_others(who)
        item = next_in_queue(log, band, order, skipped=[*passed, *taken])
        if item is None:
            return None, taken
        if claims.claim(item.inference_id, who):
            if not log.reviewed_shas([item.image_sha256]):
                return item, taken
            claims.release(who)
        passed.add(item.inference_id)
