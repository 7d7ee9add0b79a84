"""Each sink's state for the dashboard and `steelscan deliver --status`: backlog, last error, last delivery.

The backlog is counted from the outbox itself, so it is right even when no deliver process runs (then every
configured sink says so, and its backlog grows).
"""

from __future__ import annotations

from sqlalchemy import select

from core.delivery import outbox
from core.review.store.db import Database
from core.review.store.models import DeliverySinkRow, utc_now

STALE_AFTER_S = 30.0  # a deliver process rewrites its rows every few seconds; silence past this = not running


def sink_states(db: Database, settings=None, stale_after_s: float = STALE_AFTER_S) -> list[dict]:
    """One dict per sink that is configured (`settings`) or has run: name, target, state, running, backlog,
    oldest_waiting_s, delivered, last_delivered_at, last_message_id, last_error, last_error_at, updated_at."""
    configured = outbox.Outbox.from_settings(settings) if settings is not None else None
    names = list(configured.sinks) if configured is not None else []

    def work(session) -> list[dict]:
        rows = {r.sink: r for r in session.scalars(select(DeliverySinkRow))}
        now = utc_now()
        states = []
        for name in [*names, *sorted(set(rows) - set(names))]:
            row = rows.get(name)
            running = row is not None and row.state != "stopped" and \
                (now - row.updated_at).total_seconds() < stale_after_s
            oldest = outbox.oldest_waiting(session, name)
            states.append({
                "sink": name, "configured": name in names, "target": row.target if row else "",
                "state": (row.state if running else "not running") if row else "never ran",
                "running": running, "backlog": outbox.backlog(session, name),
                "oldest_waiting_s": None if oldest is None else round((now - oldest).total_seconds(), 1),
                "delivered": row.delivered if row else 0,
                "last_delivered_at": row.last_delivered_at if row else None,
                "last_message_id": row.last_message_id if row else "",
                "last_error": row.last_error if row else "", "last_error_at": row.last_error_at if row else None,
                "updated_at": row.updated_at if row else None})
        return states

    return db._read(work)
