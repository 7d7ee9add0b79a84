"""The review log: images by content hash, every verdict, append-only reviews, logged setting changes.

ReviewLog is the one object callers hold. Its parts live beside it: db (engine, transactions), images (the
content-addressed files), frames (pandas tables), audit (setting changes); this module writes and queries
verdicts and reviews.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.contract.coil import CoilPlace
from core.contract.verdict import Verdict
from core.delivery.outbox import Outbox
from core.review.store.audit import SettingsAudit
from core.review.store.batches import BatchStore
from core.review.store.coils import CoilStore
from core.review.store.db import Database, StoreError
from core.review.store.decisions import CurrentLabel, Decision, DecisionConflict, check_reviewer, painted_masks
from core.review.store.disk import DiskGuard
from core.review.store.frames import ReviewFrames
from core.review.store.images import ImageStore
from core.review.store.models import ImageRow, InferenceRow, ReviewRow, utc_now
from core.review.store.sampling import SAMPLE_KEY, ExploreSampler
from core.review.store.sampling import queued as _flagged  # the queue's rule in SQL


def _current_labels(session: Session, shas: list[str]) -> dict[str, CurrentLabel]:
    latest = (select(func.max(ReviewRow.id).label("id")).where(ReviewRow.image_sha256.in_(shas))
              .group_by(ReviewRow.image_sha256).subquery())
    rows = session.execute(select(ReviewRow, InferenceRow.model_set).join(latest, ReviewRow.id == latest.c.id)
                           .join(InferenceRow, InferenceRow.id == ReviewRow.inference_id))
    return {r.image_sha256: CurrentLabel(r.id, tuple(r.classes), r.decision, r.reviewer, r.decided_at, r.reason,
                                         model_set) for r, model_set in rows}


def _image_label(session: Session, sha: str) -> str:
    image = session.get(ImageRow, sha)
    return f"{image.original_name} ({sha[:12]})" if image is not None else sha[:12]


class ReviewLog(Database, ImageStore, ReviewFrames, SettingsAudit, BatchStore, CoilStore):
    # Queues a few sheets an hour beyond the flagged ones, to teach the model (core.review.store.sampling);
    # from_settings sets it from queue_explore_per_hour. None: only flagged sheets are queued.
    explore: ExploreSampler | None = None

    def __init__(self, database_url: str, image_store: str | Path, outbox: Outbox | None = None,
                 min_free_disk_mb: int = 0) -> None:
        """`outbox`: each verdict and decision also queues a message for the plant's systems, in the same
        transaction (core.delivery); None (no sink configured): nothing is queued. `min_free_disk_mb`: new records
        are refused (DatabaseFull) while the database's or the image store's disk has less free (0: no minimum)."""
        ImageStore.__init__(self, image_store, DiskGuard(min_free_disk_mb))
        Database.__init__(self, database_url)
        self.outbox = outbox
        parsed = make_url(database_url)
        database = parsed.database if parsed.get_backend_name() == "sqlite" else None
        self._database_folder = Path(database).parent if database and database != ":memory:" else None

    @classmethod
    def from_settings(cls, settings) -> ReviewLog:
        """The review log as the settings describe it; old API calls, sign-ins and sessions are pruned first when
        prune_on_start is set (core.review.store.retention)."""
        log = cls(settings.database_url, settings.image_store, Outbox.from_settings(settings),
                  min_free_disk_mb=settings.min_free_disk_mb)
        if settings.prune_on_start:
            from core.review.store.retention import Retention, prune

            prune(log.engine, Retention.from_settings(settings))
        log.explore = ExploreSampler.from_settings(settings)
        return log

    def _check_disk(self) -> None:
        """Refuse a new record before the disks it lands on are full (at most one statvfs a second each)."""
        if self._database_folder is not None:
            self.disk_guard.check(self._database_folder, "the review log's database")
        self.disk_guard.check(self.image_store, "the image store")

    def record_inference(self, verdict: Verdict, data: bytes, source: str = "upload",
                         at: datetime | None = None, line: str | None = None, place: CoilPlace | None = None) -> int:
        """Store the image (once) and the verdict; returns the inference id. `line`: the production line it
        came from, for delivery (None: this process's line_name). `place`: the coil and position the line gave
        (kept beside the verdict, and in its message)."""
        self._check_disk()
        sha, relative = self.store_image_file(data, verdict.image_name)
        if sha != verdict.image_sha256:
            raise StoreError(verdict.image_name, "the bytes given are not the bytes the verdict was made from",
                             "pass the same file content that was inspected")
        stored = verdict.to_dict()

        def work(session: Session) -> int:
            if session.get(ImageRow, sha) is None:
                session.add(ImageRow(sha256=sha, original_name=verdict.image_name, size_bytes=len(data),
                                     width=verdict.width, height=verdict.height, stored_path=relative,
                                     first_seen_at=at or utc_now()))
                session.flush()
            sampled = self.explore.reason(session, verdict, at or utc_now()) if self.explore else None
            row = InferenceRow(
                image_sha256=sha, model_set=verdict.model_set, model_version=verdict.model_version,
                model_fingerprint=verdict.model_fingerprint, model_trained=verdict.model_trained,
                class_names=list(verdict.class_names), probabilities=list(verdict.probabilities),
                thresholds=list(verdict.thresholds), classes_present=list(verdict.classes_present),
                regions=stored["regions"], defective=verdict.defective, margin=verdict.margin(),
                timings_ms=dict(verdict.timings_ms), device=verdict.device, source=source,
                verdict=stored if sampled is None else {**stored, SAMPLE_KEY: sampled}, created_at=at or utc_now(),
                coil=place.coil if place else None, position=place.position if place else None)
            session.add(row)
            session.flush()
            if self.outbox is not None:
                self.outbox.verdict(session, row.id, stored, source, row.created_at, line=line, coil=row.coil,
                                    position_m=row.position)
            return row.id

        try:
            return self._write(work)
        except IntegrityError:
            # Another process stored the same image between our check and insert (non-SQLite backends).
            return self._write(work)

    def verdict(self, inference_id: int) -> Verdict:
        row = self._read(lambda s: s.get(InferenceRow, inference_id))
        if row is None:
            raise StoreError(self.display_url, f"has no inference {inference_id}", "it may belong to another database")
        return Verdict.from_dict(row.verdict)

    def inference_image(self, inference_id: int) -> tuple[str, ImageRow]:
        """(sha256, image row) of an inference."""
        def work(session: Session):
            inference = session.get(InferenceRow, inference_id)
            if inference is None:
                raise StoreError(self.display_url, f"has no inference {inference_id}", "")
            return inference.image_sha256, session.get(ImageRow, inference.image_sha256)
        return self._read(work)

    def image_path(self, sha256: str) -> Path:
        row = self._read(lambda s: s.get(ImageRow, sha256))
        if row is None:
            raise StoreError(self.display_url, f"has no image {sha256[:12]}…", "inspect the image first")
        path = self.image_store / row.stored_path
        if not path.is_file():
            raise StoreError(path, "is missing from the image store", "restore the image store from its backup")
        return path

    def inspected_shas(self, shas: Iterable[str]) -> set[str]:
        """Which of these image contents already have a verdict (the folder watcher inspects each once)."""
        wanted = list(set(shas))
        if not wanted:
            return set()
        return self._read(lambda s: set(s.scalars(
            select(InferenceRow.image_sha256).where(InferenceRow.image_sha256.in_(wanted)).distinct())))

    def sampled_reason(self, inference_id: int) -> str | None:
        """Why this sheet was queued beyond the flagged ones (core.review.store.sampling), or None."""
        return self._read(lambda s: s.scalar(select(InferenceRow.verdict[SAMPLE_KEY].as_string())
                                             .where(InferenceRow.id == inference_id)))

    def latest_inference_id(self, sha256: str) -> int | None:
        return self._read(lambda s: s.scalar(select(func.max(InferenceRow.id)).where(
            InferenceRow.image_sha256 == sha256)))

    # -- reviews --------------------------------------------------------------------------------------

    def add_review(self, inference_id: int, reviewer: str, decision: Decision, page: str = "",
                   at: datetime | None = None) -> int:
        """Append one decision. Each class kept gets the mask the inspector painted, else the model's; which one is
        recorded per class. Painted masks are checked against this inference's classes and image size.

        Never overwrites unseen: a first decision (replaces=None) on a reviewed image, or a change naming a review
        that is no longer the latest, raises DecisionConflict and records nothing. The check and the insert share
        one write transaction, with the image's row locked (PostgreSQL; SQLite's write lock is taken at BEGIN), and
        the unique replaces_review_id backs it in the database itself.
        """
        reviewer = check_reviewer(reviewer)
        self._check_disk()

        def work(session: Session) -> int:
            inference = session.get(InferenceRow, inference_id)
            if inference is None:
                raise StoreError(self.display_url, f"has no inference {inference_id}", "inspect the image first")
            unknown = set(decision.classes) - set(inference.class_names)
            if unknown:
                raise StoreError("review", f"classes {sorted(unknown)} are not in {inference.model_set}",
                                 f"choose from {', '.join(inference.class_names)}")
            sha = inference.image_sha256
            image = session.get(ImageRow, sha, with_for_update=True)  # decisions on one image queue here, one at a time
            current = _current_labels(session, [sha]).get(sha)
            if (current.review_id if current else None) != decision.replaces:
                raise DecisionConflict(_image_label(session, sha), current, decision.replaces)
            painted = {}
            if decision.masks_rle:
                painted = painted_masks(decision.masks_rle, inference.class_names, decision.classes,
                                        (image.height, image.width))
            model = inference.verdict.get("masks_rle", {})
            masks = {c: painted[c] if c in painted else model[c] for c in decision.classes
                     if c in painted or c in model}
            row = ReviewRow(image_sha256=sha, inference_id=inference_id, reviewer=reviewer,
                            decision=decision.kind, model_classes=list(inference.classes_present),
                            classes=list(decision.classes), masks_rle=masks,
                            mask_sources={c: "inspector" if c in painted else "model" for c in masks},
                            reason=decision.reason, page=page, decided_at=at or utc_now(),
                            replaces_review_id=decision.replaces)
            session.add(row)
            session.flush()
            if self.outbox is not None:
                self.outbox.decision(session, row.id, inference_id, {"name": image.original_name, "sha256": sha},
                                     inference.model_set, row.model_classes, row.decision, row.classes, reviewer,
                                     row.reason, row.replaces_review_id, row.decided_at)
            return row.id

        try:
            return self._write(work)
        except IntegrityError:
            # The unique replaces_review_id refused a second change of one label: report who got there first.
            sha = self.inference_image(inference_id)[0]
            current = self.current_label(sha)
            if current is None or current.review_id == decision.replaces:
                raise
            raise DecisionConflict(sha[:12], current, decision.replaces) from None

    def current_label(self, sha256: str) -> CurrentLabel | None:
        """The image's label now (its latest review), or None if nobody has decided it."""
        return self.current_labels([sha256]).get(sha256)

    def current_labels(self, shas: Iterable[str]) -> dict[str, CurrentLabel]:
        """Labels of the reviewed images among `shas` (unreviewed ones are absent)."""
        wanted = list(set(shas))
        if not wanted:
            return {}
        return self._read(lambda s: _current_labels(s, wanted))

    def reviews_of(self, sha256: str) -> list[ReviewRow]:
        return self._read(lambda s: list(s.scalars(
            select(ReviewRow).where(ReviewRow.image_sha256 == sha256).order_by(ReviewRow.id))))

    def latest_review(self, sha256: str) -> ReviewRow | None:
        reviews = self.reviews_of(sha256)
        return reviews[-1] if reviews else None

    def reviewed_shas(self, shas: Iterable[str]) -> set[str]:
        wanted = list(set(shas))
        if not wanted:
            return set()
        return self._read(lambda s: set(s.scalars(
            select(ReviewRow.image_sha256).where(ReviewRow.image_sha256.in_(wanted)).distinct())))

    def status_by_sha(self, shas: Iterable[str], band: float) -> dict[str, dict]:
        """For each known image: its latest inference id, whether that verdict is flagged, whether reviewed."""
        wanted = list(set(shas))
        if not wanted:
            return {}
        latest = self._latest_per_image()
        rows = self._read(lambda s: s.execute(
            select(InferenceRow.image_sha256, InferenceRow.id, _flagged(band))
            .join(latest, InferenceRow.id == latest.c.id).where(InferenceRow.image_sha256.in_(wanted))).all())
        reviewed = self.reviewed_shas(wanted)
        return {sha: {"inference_id": iid, "flagged": bool(flagged), "reviewed": sha in reviewed}
                for sha, iid, flagged in rows}

    # -- the queue ------------------------------------------------------------------------------------

    def _latest_per_image(self):
        return select(func.max(InferenceRow.id).label("id")).group_by(InferenceRow.image_sha256).subquery()

    def flagged_unreviewed(self, band: float, order: str = "uncertain", limit: int | None = None,
                           exclude: Iterable[int] = ()) -> list[InferenceRow]:
        """Latest inference of each never-reviewed image that is defective, within `band` of a threshold, or
        sampled to teach the model (core.review.store.sampling.queued)."""
        latest = self._latest_per_image()
        reviewed = select(ReviewRow.image_sha256).distinct()
        query = (select(InferenceRow).join(latest, InferenceRow.id == latest.c.id)
                 .where(InferenceRow.image_sha256.not_in(reviewed))
                 .where(_flagged(band)))
        excluded = list(exclude)
        if excluded:
            query = query.where(InferenceRow.id.not_in(excluded))
        if order == "uncertain":
            query = query.order_by(InferenceRow.margin, InferenceRow.id)
        elif order == "oldest":
            query = query.order_by(InferenceRow.id)
        else:
            raise ValueError(f"queue order {order!r} is unknown; use 'uncertain' or 'oldest'")
        if limit is not None:
            query = query.limit(limit)
        return self._read(lambda s: list(s.scalars(query)))

    def count_flagged_unreviewed(self, band: float) -> int:
        latest = self._latest_per_image()
        reviewed = select(ReviewRow.image_sha256).distinct()
        query = (select(func.count()).select_from(InferenceRow).join(latest, InferenceRow.id == latest.c.id)
                 .where(InferenceRow.image_sha256.not_in(reviewed))
                 .where(_flagged(band)))
        return int(self._read(lambda s: s.scalar(query)) or 0)
