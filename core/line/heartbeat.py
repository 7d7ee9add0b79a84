"""The folder watcher's heartbeat row: written by the watcher, read by the dashboard (no torch here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select

from core.review.store.db import Database
from core.review.store.models import WatcherHeartbeatRow, utc_now


@dataclass
class Beat:
    name: str
    folders: list[str]
    started_at: datetime = field(default_factory=utc_now)
    inspected: int = 0
    skipped: int = 0
    errors: int = 0
    backlog: int = 0
    rate_per_s: float = 0.0
    last_image: str = ""
    last_image_at: datetime | None = None
    last_error: str = ""


def write_beat(db: Database, beat: Beat) -> None:
    def work(session) -> None:
        row = session.get(WatcherHeartbeatRow, beat.name, with_for_update=True)
        if row is None:
            row = WatcherHeartbeatRow(name=beat.name)
            session.add(row)
        for key, value in vars(beat).items():
            setattr(row, key, value)
        row.updated_at = utc_now()

    db._write(work)


def heartbeats(db: Database, stale_after_s: float = 30.0) -> list[dict]:
    """Every watcher that ever beat, newest first, with `alive` (beat within `stale_after_s`)."""
    rows = db._read(lambda s: list(s.scalars(select(WatcherHeartbeatRow).order_by(
        WatcherHeartbeatRow.updated_at.desc()))))
    now = utc_now()
    return [{"name": r.name, "alive": (now - r.updated_at).total_seconds() < stale_after_s,
             "updated_at": r.updated_at, "folders": ", ".join(r.folders), "inspected": r.inspected,
             "skipped": r.skipped, "errors": r.errors, "backlog": r.backlog, "rate_per_s": round(r.rate_per_s, 2),
             "last_image": r.last_image, "last_image_at": r.last_image_at, "last_error": r.last_error}
            for r in rows]
