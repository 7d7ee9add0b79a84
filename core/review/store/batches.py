"""An inspector's batch kept in the review log: what was uploaded, opened from a folder or taken from the queue,
in order, so the batch comes back after a reload, another page, or a restart of the app."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.review.store.db import StoreError
from core.review.store.models import BatchItemRow, BatchRow, InferenceRow, utc_now

SOURCES = ("upload", "folder", "queue")


@dataclass(frozen=True)
class BatchItem:
    position: int
    inference_id: int
    image_sha256: str
    image_name: str


@dataclass(frozen=True)
class Batch:
    id: int
    owner: str
    source: str  # upload | folder | queue
    label: str
    created_at: datetime
    items: tuple[BatchItem, ...]  # in the order the images finished


class BatchStore:
    """Mixed into ReviewLog (needs its _read/_write and display_url)."""

    def open_batch(self, owner: str, source: str, label: str = "") -> int:
        if source not in SOURCES:
            raise StoreError(f"batch source {source!r}", "is unknown", f"use one of {', '.join(SOURCES)}")
        if not (owner or "").strip():
            raise StoreError("batch", "has no owner", "open batches for the signed-in user")

        def work(session: Session) -> int:
            row = BatchRow(owner=owner.strip(), source=source, label=label[:512], created_at=utc_now())
            session.add(row)
            session.flush()
            return row.id

        return self._write(work)

    def add_to_batch(self, batch_id: int, inference_id: int) -> None:
        """Append an inference (as it finishes); adding one already in the batch changes nothing."""
        def work(session: Session) -> None:
            batch = session.get(BatchRow, batch_id, with_for_update=True)  # positions are handed out one at a time
            if batch is None:
                raise StoreError(self.display_url, f"has no batch {batch_id}", "open a batch first")
            if batch.closed_at is not None:
                raise StoreError(f"batch {batch_id}", "is closed", "open a new batch for new images")
            present = session.scalar(select(BatchItemRow.position).where(
                BatchItemRow.batch_id == batch_id, BatchItemRow.inference_id == inference_id))
            if present is not None:
                return
            # The name the image had in this run (the images table keeps the first name its content was seen under).
            found = session.execute(select(InferenceRow.id, InferenceRow.verdict["image"].as_string())
                                    .where(InferenceRow.id == inference_id)).first()
            if found is None:
                raise StoreError(self.display_url, f"has no inference {inference_id}", "record the verdict first")
            name = found[1] or ""
            last = session.scalar(select(func.max(BatchItemRow.position)).where(BatchItemRow.batch_id == batch_id))
            session.add(BatchItemRow(batch_id=batch_id, position=0 if last is None else last + 1,
                                     inference_id=inference_id, image_name=name[:512]))

        self._write(work)

    def current_batch(self, owner: str) -> Batch | None:
        """The owner's latest open batch, items in order; None when every batch of theirs is closed."""
        def work(session: Session) -> Batch | None:
            batch = session.scalars(select(BatchRow).where(BatchRow.owner == owner, BatchRow.closed_at.is_(None))
                                    .order_by(BatchRow.id.desc()).limit(1)).first()
            if batch is None:
                return None
            rows = session.execute(
                select(BatchItemRow.position, BatchItemRow.inference_id, InferenceRow.image_sha256,
                       BatchItemRow.image_name)
                .join(InferenceRow, InferenceRow.id == BatchItemRow.inference_id)
                .where(BatchItemRow.batch_id == batch.id).order_by(BatchItemRow.position)).all()
            return Batch(batch.id, batch.owner, batch.source, batch.label, batch.created_at,
                         tuple(BatchItem(*row) for row in rows))

        return self._read(work)

    def close_batch(self, batch_id: int) -> None:
        def work(session: Session) -> None:
            batch = session.get(BatchRow, batch_id)
            if batch is None:
                raise StoreError(self.display_url, f"has no batch {batch_id}", "")
            if batch.closed_at is None:
                batch.closed_at = utc_now()

        self._write(work)
