"""The review queue: sheets the model flags wait for a person, most uncertain (or oldest) first.

Flagged = the model calls the sheet defective, some class probability lies within `band` of its
threshold, or the sheet looks unlike the model's training images (out of domain). A sheet leaves
the queue with its first review.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from core.contract.verdict import Verdict
from core.review.store import ReviewLog

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
                 ood_score: float | None = None, out_of_domain: bool = False) -> tuple[str, ...]:
    """Why a sheet waits for a person, in words an inspector reads; () when it does not."""
    reasons = [f"model calls {', '.join(classes_present)}"] if classes_present else []
    reasons += [f"{name} {p:.2f} is within {band:.2f} of its threshold {t:.2f}"
                for name, p, t in zip(class_names, probabilities, thresholds, strict=True) if abs(p - t) < band]
    if out_of_domain:
        score = f" (unfamiliarity {ood_score:.1f})" if ood_score is not None else ""
        reasons.append(f"looks unlike the model's training images{score}")
    return tuple(reasons)


def is_flagged(verdict: Verdict, band: float) -> bool:
    return verdict.defective or verdict.margin() < band or verdict.out_of_domain


def _to_item(row, band: float) -> QueueItem:
    return QueueItem(row.id, row.image_sha256, row.verdict["image"], row.defective, row.margin, row.created_at,
                     flag_reasons(row.class_names, row.probabilities, row.thresholds, row.classes_present, band,
                                  row.verdict.get("ood_score"), bool(row.verdict.get("out_of_domain"))))


def next_in_queue(log: ReviewLog, band: float, order: str = "uncertain",
                  skipped: Iterable[int] = ()) -> QueueItem | None:
    """The next sheet to review, leaving out the inference ids this inspector skipped."""
    rows = log.flagged_unreviewed(band, order, limit=1, exclude=skipped)
    return _to_item(rows[0], band) if rows else None


def upcoming(log: ReviewLog, band: float, order: str = "uncertain", limit: int = 20) -> list[QueueItem]:
    return [_to_item(row, band) for row in log.flagged_unreviewed(band, order, limit=limit)]


def waiting(log: ReviewLog, band: float) -> int:
    return log.count_flagged_unreviewed(band)


class Claims:
    """Short claims on queue items, so two reviewers on the queue at once are shown different sheets.

    Held in the server process (the dashboard keeps one per review log): a claim lasts `seconds`
    and is renewed by every rerun of the page that shows the sheet, so a reviewer who walks away
    frees it soon. Advisory only: a decision on a claimed sheet is still recorded (append-only).
    """

    def __init__(self, seconds: float = 120.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._held: dict[int, tuple[str, float]] = {}  # inference id -> (who, expires)
        self._lock = threading.Lock()

    def held_by_others(self, who: str) -> set[int]:
        now = self._clock()
        with self._lock:
            self._held = {i: (w, t) for i, (w, t) in self._held.items() if t > now}
            return {i for i, (w, _) in self._held.items() if w != who}

    def claim(self, inference_id: int, who: str) -> bool:
        """Take or renew the claim; False if someone else holds it (the caller should pick another)."""
        now = self._clock()
        with self._lock:
            holder = self._held.get(inference_id)
            if holder and holder[0] != who and holder[1] > now:
                return False
            self._held = {i: h for i, h in self._held.items() if h[0] != who}  # one sheet per reviewer
            self._held[inference_id] = (who, now + self.seconds)
            return True

    def release(self, who: str) -> None:
        with self._lock:
            self._held = {i: h for i, h in self._held.items() if h[0] != who}
