"""Coils in the review log: which coils were inspected lately, and a coil's sheets along it (one indexed query each,
on inferences.coil/position, migration 0010_coils)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.contract.coil import CoilPlace
from core.review.store.models import InferenceRow


@dataclass(frozen=True)
class CoilSummary:
    coil: str
    sheets: int  # distinct images recorded on it
    first_at: datetime
    last_at: datetime
    head_m: float | None  # the smallest and largest position recorded (None: no position given)
    tail_m: float | None


@dataclass(frozen=True)
class CoilSheet:
    """A sheet of a coil: its latest verdict on this coil (an image inspected again counts once)."""

    inference_id: int
    image_sha256: str
    image_name: str
    position: float | None
    model_set: str
    class_names: tuple[str, ...]
    probabilities: tuple[float, ...]
    classes_present: tuple[str, ...]  # the model's
    out_of_domain: bool
    source: str
    inspected_at: datetime


class CoilStore:
    """Mixed into ReviewLog (needs its _read)."""

    def recent_coils(self, limit: int = 50) -> list[CoilSummary]:
        """Coils by their latest sheet, newest first."""
        def work(session: Session) -> list[CoilSummary]:
            rows = session.execute(
                select(InferenceRow.coil, func.count(InferenceRow.image_sha256.distinct()),
                       func.min(InferenceRow.created_at), func.max(InferenceRow.created_at),
                       func.min(InferenceRow.position), func.max(InferenceRow.position))
                .where(InferenceRow.coil.is_not(None)).group_by(InferenceRow.coil)
                .order_by(func.max(InferenceRow.created_at).desc(), InferenceRow.coil).limit(limit))
            return [CoilSummary(*row) for row in rows]
        return self._read(work)

    def coil_sheets(self, coil: str) -> list[CoilSheet]:
        """The coil's sheets from head to tail (by position, then as recorded); [] for a coil never seen."""
        def work(session: Session) -> list[CoilSheet]:
            latest = (select(func.max(InferenceRow.id).label("id")).where(InferenceRow.coil == coil)
                      .group_by(InferenceRow.image_sha256).subquery())
            rows = session.scalars(select(InferenceRow).join(latest, InferenceRow.id == latest.c.id)
                                   .order_by(InferenceRow.position.is_(None), InferenceRow.position, InferenceRow.id))
            return [CoilSheet(r.id, r.image_sha256, r.verdict["image"], r.position, r.model_set,
                              tuple(r.class_names), tuple(r.probabilities), tuple(r.classes_present),
                              bool(r.verdict.get("out_of_domain", False)), r.source, r.created_at) for r in rows]
        return self._read(work)

    def place_of(self, inference_id: int) -> CoilPlace | None:
        """The coil and position recorded with an inference (None: none was given)."""
        row = self._read(lambda s: s.execute(select(InferenceRow.coil, InferenceRow.position)
                                             .where(InferenceRow.id == inference_id)).first())
        return CoilPlace(row.coil, row.position) if row is not None and row.coil else None
