"""The review log: images by content hash, every verdict, append-only reviews, logged setting changes.

SQLite by default (WAL, so readers never block the writer; busy_timeout plus a retry so two
processes writing at once both succeed), any SQLAlchemy URL by setting. Writes on SQLite begin
IMMEDIATE: a transaction takes the write lock up front instead of failing to upgrade half way.
"""

from __future__ import annotations

import hashlib
import io
import os
import random
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import TypeVar

import pandas as pd
from PIL import Image, UnidentifiedImageError
from sqlalchemy import Engine, create_engine, event, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from core.contract.errors import SteelScanError
from core.contract.verdict import Verdict
from core.imaging.imageio import FORMAT_EXTENSIONS
from core.review.store.decisions import Decision, check_reviewer
from core.review.store.models import Base, ImageRow, InferenceRow, ReviewRow, SettingChangeRow, utc_now

T = TypeVar("T")
BUSY_TIMEOUT_S = 30
WRITE_ATTEMPTS = 8
CLASS_SETTING_KEYS = {"threshold": float, "min_area": int}


class StoreError(SteelScanError):
    """The review log cannot be opened or written."""


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(parsed, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(parsed, connect_args={"timeout": BUSY_TIMEOUT_S})

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy's "begin" hook below issues BEGIN itself
        cursor = dbapi_connection.cursor()
        for pragma in ("journal_mode=WAL", f"busy_timeout={BUSY_TIMEOUT_S * 1000}", "foreign_keys=ON",
                       "synchronous=NORMAL"):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection) -> None:
        immediate = connection.get_execution_options().get("steelscan_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _is_lock_error(exc: OperationalError) -> bool:
    text = str(exc.orig).lower() if exc.orig is not None else str(exc).lower()
    return "locked" in text or "busy" in text


def image_suffix(data: bytes, name: str) -> str:
    """The stored file's extension comes from its content, so it always matches what decoders expect."""
    try:
        fmt = Image.open(io.BytesIO(data)).format
    except (UnidentifiedImageError, OSError):
        fmt = None
    if fmt not in FORMAT_EXTENSIONS:
        raise StoreError(name, f"is not a JPEG, PNG, BMP or TIFF image ({fmt or 'unrecognised'})",
                         "inspect only images the engine accepted")
    return FORMAT_EXTENSIONS[fmt][0]


class ReviewLog:
    def __init__(self, database_url: str, image_store: str | Path) -> None:
        self.url = database_url
        self.image_store = Path(image_store)
        self.engine = make_engine(database_url)
        self._writer = self.engine.execution_options(steelscan_write=True)
        try:
            self._write(lambda session: Base.metadata.create_all(session.connection()))
        except OperationalError as exc:
            raise StoreError(self.display_url, f"cannot be opened ({exc.orig})",
                             "check database_url in steelscan.toml or STEELSCAN_DATABASE_URL") from None

    @classmethod
    def from_settings(cls, settings) -> ReviewLog:
        return cls(settings.database_url, settings.image_store)

    @property
    def display_url(self) -> str:
        return make_url(self.url).render_as_string(hide_password=True)

    def close(self) -> None:
        self.engine.dispose()

    # -- plumbing -------------------------------------------------------------------------------------

    def _write(self, work: Callable[[Session], T]) -> T:
        """Run `work` in one write transaction, retried from the start if the database stays locked."""
        for attempt in range(WRITE_ATTEMPTS):
            try:
                with Session(self._writer, expire_on_commit=False) as session, session.begin():
                    return work(session)
            except OperationalError as exc:
                if not _is_lock_error(exc):
                    raise
                if attempt == WRITE_ATTEMPTS - 1:
                    raise StoreError(self.display_url, f"stayed locked through {WRITE_ATTEMPTS} attempts",
                                     "another program holds a long write lock; close it and retry") from None
                time.sleep(min(2.0, 0.05 * 2**attempt) * random.uniform(0.5, 1.5))
        raise AssertionError("unreachable")

    def _read(self, work: Callable[[Session], T]) -> T:
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            return work(session)

    # -- images and verdicts --------------------------------------------------------------------------

    def store_image_file(self, data: bytes, name: str) -> tuple[str, str]:
        """Copy the bytes under the image store once per content; returns (sha256, relative path)."""
        sha = hashlib.sha256(data).hexdigest()
        relative = f"{sha[:2]}/{sha}{image_suffix(data, name)}"
        target = self.image_store / relative
        if not target.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            # Write aside, then rename: a reader never sees half a file, and two writers agree.
            temporary = target.with_name(f".{target.name}.{os.getpid()}.{random.getrandbits(32):08x}")
            temporary.write_bytes(data)
            os.replace(temporary, target)
        return sha, relative

    def record_inference(self, verdict: Verdict, data: bytes, source: str = "upload",
                         at: datetime | None = None) -> int:
        """Store the image (once) and the verdict; returns the inference id."""
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
            row = InferenceRow(
                image_sha256=sha, model_set=verdict.model_set, model_version=verdict.model_version,
                model_fingerprint=verdict.model_fingerprint, model_trained=verdict.model_trained,
                class_names=list(verdict.class_names), probabilities=list(verdict.probabilities),
                thresholds=list(verdict.thresholds), classes_present=list(verdict.classes_present),
                regions=stored["regions"], defective=verdict.defective, margin=verdict.margin(),
                timings_ms=dict(verdict.timings_ms), device=verdict.device, source=source, verdict=stored,
                created_at=at or utc_now())
            session.add(row)
            session.flush()
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

    def latest_inference_id(self, sha256: str) -> int | None:
        return self._read(lambda s: s.scalar(select(func.max(InferenceRow.id)).where(
            InferenceRow.image_sha256 == sha256)))

    # -- reviews --------------------------------------------------------------------------------------

    def add_review(self, inference_id: int, reviewer: str, decision: Decision, page: str = "",
                   at: datetime | None = None) -> int:
        """Append one decision; the model's masks travel with the classes the reviewer kept."""
        reviewer = check_reviewer(reviewer)

        def work(session: Session) -> int:
            inference = session.get(InferenceRow, inference_id)
            if inference is None:
                raise StoreError(self.display_url, f"has no inference {inference_id}", "inspect the image first")
            unknown = set(decision.classes) - set(inference.class_names)
            if unknown:
                raise StoreError("review", f"classes {sorted(unknown)} are not in {inference.model_set}",
                                 f"choose from {', '.join(inference.class_names)}")
            masks = inference.verdict.get("masks_rle", {})
            row = ReviewRow(image_sha256=inference.image_sha256, inference_id=inference_id, reviewer=reviewer,
                            decision=decision.kind, model_classes=list(inference.classes_present),
                            classes=list(decision.classes),
                            masks_rle={c: masks[c] for c in decision.classes if c in masks},
                            reason=decision.reason, page=page, decided_at=at or utc_now())
            session.add(row)
            session.flush()
            return row.id

        return self._write(work)

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
            select(InferenceRow.image_sha256, InferenceRow.id, InferenceRow.defective, InferenceRow.margin)
            .join(latest, InferenceRow.id == latest.c.id).where(InferenceRow.image_sha256.in_(wanted))).all())
        reviewed = self.reviewed_shas(wanted)
        return {sha: {"inference_id": iid, "flagged": bool(defective or margin < band), "reviewed": sha in reviewed}
                for sha, iid, defective, margin in rows}

    # -- the queue ------------------------------------------------------------------------------------

    def _latest_per_image(self):
        return select(func.max(InferenceRow.id).label("id")).group_by(InferenceRow.image_sha256).subquery()

    def flagged_unreviewed(self, band: float, order: str = "uncertain", limit: int | None = None,
                           exclude: Iterable[int] = ()) -> list[InferenceRow]:
        """Latest inference of each never-reviewed image that is defective or within `band` of a threshold."""
        latest = self._latest_per_image()
        reviewed = select(ReviewRow.image_sha256).distinct()
        query = (select(InferenceRow).join(latest, InferenceRow.id == latest.c.id)
                 .where(InferenceRow.image_sha256.not_in(reviewed))
                 .where(InferenceRow.defective.is_(True) | (InferenceRow.margin < band)))
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
                 .where(InferenceRow.defective.is_(True) | (InferenceRow.margin < band)))
        return int(self._read(lambda s: s.scalar(query)) or 0)

    # -- tables for statistics and export -------------------------------------------------------------

    def images_frame(self) -> pd.DataFrame:
        """One row per image: its latest verdict and its latest review (the current label), if any."""
        latest = self._latest_per_image()

        def work(session: Session) -> pd.DataFrame:
            inferences = session.execute(
                select(InferenceRow.image_sha256, ImageRow.original_name, InferenceRow.id, InferenceRow.created_at,
                       InferenceRow.model_set, InferenceRow.model_version, InferenceRow.model_trained,
                       InferenceRow.class_names, InferenceRow.probabilities, InferenceRow.thresholds,
                       InferenceRow.classes_present, InferenceRow.defective, InferenceRow.margin,
                       InferenceRow.regions)
                .join(latest, InferenceRow.id == latest.c.id)
                .join(ImageRow, ImageRow.sha256 == InferenceRow.image_sha256)).all()
            reviews = session.execute(
                select(ReviewRow.image_sha256, ReviewRow.reviewer, ReviewRow.decision, ReviewRow.classes,
                       ReviewRow.decided_at).order_by(ReviewRow.id)).all()
            return inferences, reviews

        inferences, reviews = self._read(work)
        frame = pd.DataFrame(inferences, columns=[
            "image_sha256", "image_name", "inference_id", "inspected_at", "model_set", "model_version",
            "model_trained", "class_names", "probabilities", "thresholds", "model_classes", "defective", "margin",
            "regions"])
        history = pd.DataFrame(reviews, columns=["image_sha256", "reviewer", "decision", "final_classes",
                                                 "decided_at"])
        first = history.groupby("image_sha256")["decided_at"].min().rename("first_reviewed_at")
        current = history.groupby("image_sha256").last()
        frame = frame.join(current, on="image_sha256").join(first, on="image_sha256")
        frame["reviewed"] = frame["decision"].notna()
        frame["inspected_at"] = pd.to_datetime(frame["inspected_at"])
        for column in ("decided_at", "first_reviewed_at"):
            frame[column] = pd.to_datetime(frame[column])
        return frame

    def reviews_frame(self) -> pd.DataFrame:
        """Every decision ever recorded, oldest first, with the verdict it answered."""
        def work(session: Session):
            return session.execute(
                select(ReviewRow.id, ReviewRow.image_sha256, ImageRow.original_name, ReviewRow.inference_id,
                       InferenceRow.model_set, InferenceRow.model_version, InferenceRow.class_names,
                       ReviewRow.reviewer, ReviewRow.decision, ReviewRow.model_classes, ReviewRow.classes,
                       ReviewRow.masks_rle, ReviewRow.reason, ReviewRow.page, ReviewRow.decided_at,
                       ImageRow.stored_path)
                .join(InferenceRow, InferenceRow.id == ReviewRow.inference_id)
                .join(ImageRow, ImageRow.sha256 == ReviewRow.image_sha256)
                .order_by(ReviewRow.id)).all()

        frame = pd.DataFrame(self._read(work), columns=[
            "review_id", "image_sha256", "image_name", "inference_id", "model_set", "model_version", "class_names",
            "reviewer", "decision", "model_classes", "classes", "masks_rle", "reason", "page", "decided_at",
            "stored_path"])
        frame["decided_at"] = pd.to_datetime(frame["decided_at"])
        return frame

    # -- operational settings -------------------------------------------------------------------------

    def log_setting_change(self, key: str, new_value: str, changed_by: str, *, model_set: str = "",
                           model_fingerprint: str = "", class_name: str = "", old_value: str = "",
                           reason: str = "") -> int:
        changed_by = check_reviewer(changed_by)
        if key in CLASS_SETTING_KEYS:
            try:
                CLASS_SETTING_KEYS[key](new_value)
            except ValueError:
                raise StoreError(key, f"value {new_value!r} is not a {CLASS_SETTING_KEYS[key].__name__}",
                                 "enter a number") from None

        def work(session: Session) -> int:
            row = SettingChangeRow(key=key, model_set=model_set, model_fingerprint=model_fingerprint,
                                   class_name=class_name, old_value=str(old_value), new_value=str(new_value),
                                   changed_by=changed_by, reason=reason, changed_at=utc_now())
            session.add(row)
            session.flush()
            return row.id

        return self._write(work)

    def setting_changes(self, model_set: str | None = None) -> pd.DataFrame:
        query = select(SettingChangeRow).order_by(SettingChangeRow.id)
        if model_set is not None:
            query = query.where(SettingChangeRow.model_set == model_set)
        rows = self._read(lambda s: list(s.scalars(query)))
        columns = ["id", "changed_at", "changed_by", "key", "model_set", "class_name", "old_value", "new_value",
                   "reason", "model_fingerprint"]
        return pd.DataFrame([[getattr(r, c) for c in columns] for r in rows], columns=columns)

    def class_overrides(self, model_fingerprint: str) -> dict[str, dict[str, float | int]]:
        """Latest threshold / min_area per class for exactly these weights (a retrained set starts clean)."""
        rows = self._read(lambda s: list(s.scalars(
            select(SettingChangeRow).where(SettingChangeRow.model_fingerprint == model_fingerprint)
            .where(SettingChangeRow.key.in_(list(CLASS_SETTING_KEYS))).order_by(SettingChangeRow.id))))
        overrides: dict[str, dict[str, float | int]] = {}
        for row in rows:
            overrides.setdefault(row.class_name, {})[row.key] = CLASS_SETTING_KEYS[row.key](row.new_value)
        return overrides

    def active_model_set(self) -> str | None:
        """The model set last chosen on the Models page, or None if nobody chose one yet."""
        return self._read(lambda s: s.scalar(
            select(SettingChangeRow.new_value).where(SettingChangeRow.key == "active_model_set")
            .order_by(SettingChangeRow.id.desc()).limit(1)))
