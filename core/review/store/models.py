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

    __table_args__ = (Index("ix_reviews_image_id", "image_sha256", "id"),)

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
# (migrations/versions/0001 and 0002). The ORM guard below covers every backend.


class AppendOnlyError(RuntimeError):
    """Raised when code tries to change or delete a stored review."""


@event.listens_for(Session, "before_flush")
def _refuse_review_rewrites(session: Session, flush_context, instances) -> None:
    for row in (*session.dirty, *session.deleted):
        if isinstance(row, ReviewRow) and (row in session.deleted or session.is_modified(row)):
            raise AppendOnlyError(f"review {row.id} is append-only: record a new review instead")


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
