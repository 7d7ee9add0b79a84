"""Which sheets wait in the review queue, and the few beyond the flagged ones that teach the model (issue 33).

Every defective sheet and every uncertain one (a class probability within the band of its threshold) waits for a
person, however many there are. Beyond them, at most `per_hour` sheets an hour are sampled as they are recorded,
because a person's label on them teaches the model most:

- out of domain or unusual (the verdict's graded `domain_level`): the model has not seen their like;
- diverse: far, in the verdict's whitened `embedding` (core.engine.domain), from every sheet of the same weights
  already reviewed or queued (a farthest-point rule with a distance threshold: unit spread per coordinate over the
  training images, so two typical training images lie about 4 apart and DIVERSE_DISTANCE picks the outskirts).

A sampled sheet's reason is stored in its verdict JSON under SAMPLE_KEY when it is recorded, so the queue, its count,
the replay and the page read one rule (`queued`) from the database, and the reason keeps the words it had then.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.contract.verdict import Verdict
from core.review.store.models import InferenceRow, ReviewRow

SAMPLE_KEY = "queue_sample"
UNUSUAL, OUT_OF_DOMAIN = "unusual", "out of domain"  # core.engine.domain.LEVELS (which would load torch here)
DIVERSE_DISTANCE = 3.0
WINDOW = timedelta(hours=1)


def queued(band: float):
    """The queue's rule in SQL: defective, within `band` of a threshold, or sampled to teach (SAMPLE_KEY).
    The same rule in Python is core.review.queue.is_flagged."""
    return (InferenceRow.defective.is_(True) | (InferenceRow.margin < band)
            | InferenceRow.verdict[SAMPLE_KEY].as_string().is_not(None))


def domain_reason(verdict: Verdict) -> str | None:
    if verdict.domain_level in (OUT_OF_DOMAIN, UNUSUAL) and verdict.ood_score is not None:
        return f"{verdict.domain_level} (score {verdict.ood_score:.1f})"
    return None


class ExploreSampler:
    """Chooses, inside the transaction that records a verdict, whether a sheet the rule does not flag is queued to
    teach the model, and why. Keeps the embeddings of the sheets reviewed or queued in memory (8 numbers each),
    read incrementally by row id, so a recording reads only the rows added since the last one.

    Across processes the cap holds on SQLite (a write transaction holds the lock); on PostgreSQL two processes
    recording at the same instant may each take the last place of an hour.
    """

    def __init__(self, per_hour: int, band: float, min_distance: float = DIVERSE_DISTANCE) -> None:
        self.per_hour, self.band, self.min_distance = per_hour, band, min_distance
        self._lock = threading.Lock()
        self._last_inference = self._last_review = 0
        self._seen: set[int] = set()
        self._points: dict[str, list[np.ndarray]] = {}  # model fingerprint -> embeddings reviewed or queued
        self._stacked: dict[str, np.ndarray] = {}

    @classmethod
    def from_settings(cls, settings) -> ExploreSampler | None:
        per_hour = settings.queue_explore_per_hour
        return cls(per_hour, settings.uncertainty_band) if per_hour > 0 else None

    def reason(self, session: Session, verdict: Verdict, at: datetime) -> str | None:
        """Why this sheet is queued beyond the flagged ones, or None (flagged anyway, cap reached, nothing new)."""
        if self.per_hour <= 0 or verdict.defective or verdict.margin() < self.band:
            return None
        why = domain_reason(verdict) or self._diverse(session, verdict)
        if why is None:  # most sheets: the hour's count is not even read
            return None
        taken = session.scalar(select(func.count()).select_from(InferenceRow).where(
            InferenceRow.created_at > at - WINDOW, InferenceRow.created_at <= at,
            InferenceRow.verdict[SAMPLE_KEY].as_string().is_not(None)))
        return why if taken < self.per_hour else None

    def _diverse(self, session: Session, verdict: Verdict) -> str | None:
        if not verdict.embedding:
            return None
        with self._lock:
            self._refresh(session)
            known = self._known(verdict.model_fingerprint)
        if not len(known):
            return "diverse: no sheet of these weights reviewed or queued yet"
        nearest = float(np.sqrt(((known - np.asarray(verdict.embedding)) ** 2).sum(1)).min())
        if nearest < self.min_distance:
            return None
        sheets = f"{len(known)} sheet{'s' * (len(known) != 1)}"
        return f"diverse: unlike the {sheets} reviewed or queued (nearest {nearest:.1f} away)"

    def _known(self, fingerprint: str) -> np.ndarray:
        if fingerprint not in self._stacked:
            points = self._points.get(fingerprint, [])
            self._stacked[fingerprint] = np.stack(points) if points else np.zeros((0, 0))
        return self._stacked[fingerprint]

    def _refresh(self, session: Session) -> None:
        embedding = InferenceRow.verdict["embedding"]
        newest = session.scalar(select(func.max(InferenceRow.id))) or 0
        fresh = session.execute(select(InferenceRow.id, InferenceRow.model_fingerprint, embedding)
                                .where(InferenceRow.id > self._last_inference, InferenceRow.id <= newest,
                                       queued(self.band))).all()
        reviewed = session.execute(select(ReviewRow.id, InferenceRow.id, InferenceRow.model_fingerprint, embedding)
                                   .join(InferenceRow, InferenceRow.id == ReviewRow.inference_id)
                                   .where(ReviewRow.id > self._last_review).order_by(ReviewRow.id)).all()
        for inference_id, fingerprint, point in [*fresh, *(row[1:] for row in reviewed)]:
            if inference_id in self._seen or not point:
                continue
            self._seen.add(inference_id)
            self._points.setdefault(fingerprint, []).append(np.asarray(point, dtype=np.float64))
            self._stacked.pop(fingerprint, None)
        self._last_inference = max(self._last_inference, newest)
        if reviewed:
            self._last_review = reviewed[-1][0]
