"""The review log's tables. Times are UTC, stored naive (SQLite keeps no zone); reviews are append-only."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    event,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class ImageRow(Base):
    """One row per distinct image content; the file lives once under the image store."""

    __tablename__ = "images"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    original_name: Mapped[str] = mapped_column(String(512))
    size_bytes: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    stored_path: Mapped[str] = mapped_column(String(512))  # relative to the image store
    first_seen_at: Mapped[datetime] = mapped_column(DateTime, default=utc_now)


class InferenceRow(Base):
    """One Verdict, stored whole (`verdict` is Verdict.to_dict()); the other columns serve queries."""

    __tablename__ = "inferences"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    image_sha256: Mapped[str] = mapped_column(ForeignKey("images.sha256"), index=True)
    model_set: Mapped[str] = mapped_column(String(128))
    model_version: Mapped[str] = mapped_column(String(64))
    model_fingerprint: Mapped[str] = mapped_column(String(160))
    model_trained: Mapped[bool] = mapped_column(Boolean)
    class_names: Mapped[list] = mapped_column(JSON)
    probabilities: Mapped[list] = mapped_column(JSON)
    thresholds: Mapped[list] = mapped_column(JSON)
    classes_present: Mapped[list] = mapped_column(JSON)
    regions: Mapped[list] = mapped_column(JSON)  # [{class, area_px, bbox, mean_probability}]
    defective: Mapped[bool] = mapped_column(Boolean)
    margin: Mapped[float] = mapped_column(Float)  # min |p - threshold|: small = uncertain
    timings_ms: Mapped[dict] = mapped_column(JSON)
    device: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(32))  # upload | folder | api
    verdict: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utc_now, index=True)
    # Where the sheet lies on its coil (core.contract.coil.CoilPlace): the line's context, kept beside the verdict,
    # not in it. NULL: not known (uploads, and rows from before migration 0010_coils). One index: a coil's sheets
    # in order along it are one range scan.
    coil: Mapped[str | None] = mapped_column(String(64), nullable=True)
    position: Mapped[float | None] = mapped_column(Float, nullable=True)

    __table_args__ = (Index("ix_inferences_coil_position", "coil", "position"),)


class ReviewRow(Base):
    """A person's decision on one inference. Never updated or deleted: the latest row per image is its label."""

    __tablename__ = "reviews"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    image_sha256: Mapped[str] = mapped_column(ForeignKey("images.sha256"))
    inference_id: Mapped[int] = mapped_column(ForeignKey("inferences.id"))
    reviewer: Mapped[str] = mapped_column(String(128))
    decision: Mapped[str] = mapped_column(String(16))  # accept | override
    model_classes: Mapped[list] = mapped_column(JSON)  # what the model said
    classes: Mapped[list] = mapped_column(JSON)  # what the reviewer says is present (the label)
    masks_rle: Mapped[dict] = mapped_column(JSON)  # class -> RLE for kept classes: painted, else the model's
    # class -> "inspector" | "model": who drew each mask (migration 0006). Rows from before it read '{}': all
    # their masks were the model's (use mask_source() to read either).
    mask_sources: Mapped[dict] = mapped_column(JSON, default=dict, server_default=text("'{}'"))
    reason: Mapped[str] = mapped_column(Text, default="")
    page: Mapped[str] = mapped_column(String(32), default="")  # inspect | queue
    decided_at: Mapped[datetime] = mapped_column(DateTime, default=utc_now, index=True)
    # The review this one changes (None: the image's first decision). Unique: a label is replaced at most once,
    # so two people changing the same label at once cannot both land (migration 0005_shift).
    replaces_review_id: Mapped[int | None] = mapped_column(Integer, nullable=True)

    __table_args__ = (Index("ix_reviews_image_id", "image_sha256", "id"),
                      Index("ux_reviews_replaces", "replaces_review_id", unique=True))

    def mask_source(self, class_name: str) -> str:
        return (self.mask_sources or {}).get(class_name, "model")


class SettingChangeRow(Base):
    """Operational settings changed in the dashboard: thresholds, minimum areas, the active model set."""

    __tablename__ = "setting_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(64))  # threshold | min_area | active_model_set
    model_set: Mapped[str] = mapped_column(String(128), default="")
    model_fingerprint: Mapped[str] = mapped_column(String(160), default="")
    class_name: Mapped[str] = mapped_column(String(128), default="")
    old_value: Mapped[str] = mapped_column(String(256), default="")
    new_value: Mapped[str] = mapped_column(String(256))
    changed_by: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str] = mapped_column(Text, default="")
    changed_at: Mapped[datetime] = mapped_column(DateTime, default=utc_now)


# The database itself refuses to rewrite history: triggers on SQLite and PostgreSQL, made by the migrations
# (migrations/versions/0001 and 0002 for reviews, 0009 for inferences and setting_changes). The ORM guard below
# covers every backend.


class AppendOnlyError(RuntimeError):
    """Raised when code tries to change or delete a stored review, verdict or setting change."""


APPEND_ONLY = (ReviewRow, InferenceRow, SettingChangeRow)


@event.listens_for(Session, "before_flush")
def _refuse_audit_rewrites(session: Session, flush_context, instances) -> None:
    for row in (*session.dirty, *session.deleted):
        if isinstance(row, APPEND_ONLY) and (row in session.deleted or session.is_modified(row)):
            if isinstance(row, ReviewRow):
                raise AppendOnlyError(f"review {row.id} is append-only: record a new review instead")
            raise AppendOnlyError(f"{row.__tablename__} row {row.id} is append-only: record a new row instead")


# -- the line: API keys, queue claims shared by app servers, watcher heartbeats --------------------------------
# (on this Base; made by migration 0004_line_integration)


class ApiKeyRow(Base):
    """A key for line systems. Only the key's SHA-256 is stored; the key itself is shown once, when made."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    key_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list] = mapped_column(JSON)  # subset of score | record | read
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utc_now)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    revoked_by: Mapped[str] = mapped_column(String(64), default="")


class ApiCallRow(Base):
    """Every authenticated API call, attributed to its key (append-only by convention)."""

    __tablename__ = "api_calls"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id"), index=True)
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(256))
    status: Mapped[int] = mapped_column(Integer)
    inference_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    latency_ms: Mapped[float] = mapped_column(Float)
    called_at: Mapped[datetime] = mapped_column(DateTime, default=utc_now, index=True)


class QueueClaimRow(Base):
    """Which reviewer has a queue sheet open, until when: shared by every app server on the database."""

    __tablename__ = "queue_claims"

    inference_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    holder: Mapped[str] = mapped_column(String(128), index=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime)


class WatcherHeartbeatRow(Base):
    """One row per running folder watcher, rewritten every few seconds; the dashboard shows it."""

    __tablename__ = "watcher_heartbeats"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    folders: Mapped[list] = mapped_column(JSON)
    started_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)
    inspected: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)  # already inspected content (same hash)
    errors: Mapped[int] = mapped_column(Integer, default=0)
    backlog: Mapped[int] = mapped_column(Integer, default=0)
    rate_per_s: Mapped[float] = mapped_column(Float, default=0.0)  # over the last minute
    last_image: Mapped[str] = mapped_column(String(512), default="")
    last_image_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    last_error: Mapped[str] = mapped_column(Text, default="")


# -- an inspector's batch (upload, folder, queue), kept so it survives reload, navigation and restarts -------
# (made by migration 0005_shift)


class BatchRow(Base):
    __tablename__ = "batches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    owner: Mapped[str] = mapped_column(String(128), index=True)
    source: Mapped[str] = mapped_column(String(16))  # upload | folder | queue
    label: Mapped[str] = mapped_column(String(512), default="")  # e.g. the folder, or "12 uploads"
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utc_now)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class BatchItemRow(Base):
    __tablename__ = "batch_items"

    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    inference_id: Mapped[int] = mapped_column(ForeignKey("inferences.id"))
    image_name: Mapped[str] = mapped_column(String(512))  # the name it had in this batch

    __table_args__ = (Index("ux_batch_items_inference", "batch_id", "inference_id", unique=True),)


# -- the training loop: evaluation/training parts, training jobs (made by migration 0007_training_loop) -------


class SheetPartRow(Base):
    """Which part a reviewed sheet belongs to, drawn once by image hash and never re-drawn: an evaluation sheet
    is never trained on, so the gate compares models on sheets neither has seen."""

    __tablename__ = "sheet_parts"

    image_sha256: Mapped[str] = mapped_column(ForeignKey("images.sha256"), primary_key=True)
    part: Mapped[str] = mapped_column(String(8))  # eval | train
    eval_share: Mapped[float] = mapped_column(Float)  # the share in force when this sheet was assigned
    assigned_at: Mapped[datetime] = mapped_column(DateTime, default=utc_now)


class TrainingJobRow(Base):
    """One request to train a model set from the review log; the runner process updates it as it goes."""

    __tablename__ = "training_jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    status: Mapped[str] = mapped_column(String(16), index=True)  # queued | running | succeeded | failed | cancelled
    requested_by: Mapped[str] = mapped_column(String(128))
    requested_at: Mapped[datetime] = mapped_column(DateTime, default=utc_now)
    options: Mapped[dict] = mapped_column(JSON)  # preset, output set name, parent set, trainer options
    pid: Mapped[int | None] = mapped_column(Integer, nullable=True)
    host: Mapped[str] = mapped_column(String(128), default="")
    started_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    stage: Mapped[str] = mapped_column(String(64), default="")
    progress: Mapped[float] = mapped_column(Float, default=0.0)  # 0..1
    eta_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    log_path: Mapped[str] = mapped_column(String(512), default="")
    result: Mapped[dict] = mapped_column(JSON, default=dict)  # candidate set, snapshot, gate report
    error: Mapped[str] = mapped_column(Text, default="")


# -- delivery to the plant: the outbox, per-sink cursors per line, each sink's state (migration 0008_delivery) ---


class OutboxRow(Base):
    """One message for the line's systems, written in the same transaction as its verdict or decision. The
    `message_id` never changes: a consumer de-duplicates on it when a sink delivers a message twice."""

    __tablename__ = "delivery_outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)  # the order within a line
    message_id: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # verdict | decision
    line: Mapped[str] = mapped_column(String(64))
    # The verdict's inference (a decision's too): a decision goes to the line its verdict went to.
    inference_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    sinks: Mapped[list] = mapped_column(JSON)  # the sinks configured when it was written: mqtt | webhook | opcua
    payload: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utc_now, index=True)

    __table_args__ = (Index("ix_delivery_outbox_line_id", "line", "id"),)


class DeliveryCursorRow(Base):
    """The last outbox id a sink has delivered on a line: everything after it is that sink's backlog."""

    __tablename__ = "delivery_cursors"

    sink: Mapped[str] = mapped_column(String(32), primary_key=True)
    line: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_id: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utc_now)


class DeliverySinkRow(Base):
    """One row per sink a `steelscan deliver` process serves, rewritten as it goes; the dashboard shows it."""

    __tablename__ = "delivery_sinks"

    sink: Mapped[str] = mapped_column(String(32), primary_key=True)
    target: Mapped[str] = mapped_column(String(256), default="")  # the URL, password hidden
    state: Mapped[str] = mapped_column(String(16), default="starting")  # starting | ok | down | stopped
    delivered: Mapped[int] = mapped_column(Integer, default=0)  # since the process started
    retries: Mapped[int] = mapped_column(Integer, default=0)  # failed attempts since the process started
    last_message_id: Mapped[str] = mapped_column(String(64), default="")
    last_delivered_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    last_error: Mapped[str] = mapped_column(Text, default="")
    last_error_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    started_at: Mapped[datetime] = mapped_column(DateTime, default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utc_now)
