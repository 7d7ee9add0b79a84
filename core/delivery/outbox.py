"""The outbox: one message per verdict and per inspector decision, written in the transaction that records it.

The review log calls `Outbox.verdict()` / `Outbox.decision()` inside its own write transaction, so a message
exists exactly when its verdict or decision does. `steelscan deliver` reads it in id order per line and moves a
cursor per sink and line once the sink has taken a message; a message goes out at least once, always with the
`message_id` it was written with, so consumers de-duplicate on that id. No sink configured: no Outbox, no rows.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from core.review.store.models import DeliveryCursorRow, OutboxRow, utc_now

SINKS = ("mqtt", "webhook", "opcua")
OUTBOX_LOCK_KEY = 0x53_74_65_65_6C_4F_62  # "SteelOb": serialises outbox writes on PostgreSQL
SCHEMA = "steelscan.delivery/1"  # bumped when a field changes meaning; new fields keep it


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat(timespec="milliseconds") + "Z"


@dataclass(frozen=True)
class Outbox:
    """What the review log writes messages for: this process's line and the sinks configured now."""

    line: str
    sinks: tuple[str, ...]

    def __post_init__(self) -> None:
        unknown = sorted(set(self.sinks) - set(SINKS))
        if unknown or not self.sinks:
            raise ValueError(f"outbox sinks {list(self.sinks)}: valid are {', '.join(SINKS)}, at least one")

    @classmethod
    def from_settings(cls, settings) -> Outbox | None:
        """None when no sink is set: then nothing is written and nothing accumulates."""
        sinks = tuple(name for name, url in (("mqtt", settings.mqtt_url), ("webhook", settings.webhook_url),
                                             ("opcua", settings.opcua_endpoint)) if url)
        return cls(settings.line_name, sinks) if sinks else None

    def _add(self, session: Session, kind: str, line: str | None, inference_id: int, payload: dict) -> str:
        if session.get_bind().dialect.name == "postgresql":
            # Ids come from a sequence there, taken before commit: without this, a transaction that took id 10
            # could commit after one that took 11 was delivered, and the cursor would pass 10 by. Held to commit,
            # taken last (no other lock is waited for while holding it), so it cannot deadlock.
            session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": OUTBOX_LOCK_KEY})
        message_id = str(uuid.uuid4())
        line = line or self.line
        session.add(OutboxRow(message_id=message_id, kind=kind, line=line, inference_id=inference_id,
                              sinks=list(self.sinks),
                              payload={"schema": SCHEMA, "message_id": message_id, "kind": kind, "line": line,
                                       **payload}))
        return message_id

    def verdict(self, session: Session, inference_id: int, verdict: dict, source: str, recorded_at: datetime,
                line: str | None = None, coil: str | None = None, position_m: float | None = None) -> str:
        """Queue one verdict (`verdict` is Verdict.to_dict(), as stored); returns its message id."""
        names = verdict["class_names"]
        return self._add(session, "verdict", line, inference_id, {
            "inference_id": inference_id,
            "source": source,
            "image": {"name": verdict["image"], "sha256": verdict["sha256"], "width": verdict["size"][0],
                      "height": verdict["size"][1]},
            "verdict": "NG" if verdict["defective"] else "OK",
            "classes": list(verdict["classes"]),
            "probabilities": dict(zip(names, verdict["probabilities"], strict=True)),
            "thresholds": dict(zip(names, verdict["thresholds"], strict=True)),
            "regions": [{"class": r["class"], "area_px": r["area_px"], "bbox": r["bbox"]}
                        for r in verdict["regions"]],
            "out_of_domain": bool(verdict.get("out_of_domain", False)),
            "coil": coil,
            "position_m": position_m,
            "model_set": {"name": verdict["model_set"], "version": verdict["model_version"],
                          "fingerprint": verdict["model_fingerprint"], "backend": verdict.get("backend", ""),
                          "precision": verdict.get("precision", "")},
            "times": {"inferred_at": verdict.get("created_at") or None, "recorded_at": iso(recorded_at),
                      "timings_ms": verdict.get("timings_ms", {})},
        })

    def decision(self, session: Session, review_id: int, inference_id: int, image: dict, model_set: str,
                 model_classes: list[str], kind: str, classes: list[str], reviewer: str, reason: str,
                 replaces: int | None, decided_at: datetime, line: str | None = None) -> str:
        """Queue one inspector decision on the line its verdict went to; `image` is {name, sha256}."""
        verdict_message = session.execute(
            select(OutboxRow.message_id, OutboxRow.line).where(OutboxRow.inference_id == inference_id,
                                                               OutboxRow.kind == "verdict")
            .order_by(OutboxRow.id).limit(1)).first()
        if verdict_message is not None and line is None:
            line = verdict_message.line
        return self._add(session, "decision", line, inference_id, {
            "review_id": review_id,
            "inference_id": inference_id,
            "verdict_message_id": verdict_message.message_id if verdict_message is not None else None,
            "replaces_review_id": replaces,
            "image": image,
            "decision": kind,
            "verdict": "NG" if classes else "OK",
            "classes": list(classes),
            "model_classes": list(model_classes),
            "reviewer": reviewer,
            "reason": reason,
            "model_set": {"name": model_set},
            "times": {"decided_at": iso(decided_at)},
        })


# -- reading it (the deliver process, the dashboard) ----------------------------------------------------------


def lines(session: Session) -> list[str]:
    return list(session.scalars(select(OutboxRow.line).distinct().order_by(OutboxRow.line)))


def cursor(session: Session, sink: str, line: str) -> int:
    row = session.get(DeliveryCursorRow, (sink, line))
    return row.last_id if row is not None else 0


def pending(session: Session, sink: str, line: str, limit: int) -> tuple[list[OutboxRow], int]:
    """(the next messages for `sink` on `line`, oldest first, at most `limit`; the id the cursor may move to
    once they are delivered). Rows written before `sink` was configured are passed over, not sent."""
    after = cursor(session, sink, line)
    rows = list(session.scalars(select(OutboxRow).where(OutboxRow.line == line, OutboxRow.id > after)
                                .order_by(OutboxRow.id).limit(limit)))
    last = rows[-1].id if rows else after
    return [r for r in rows if sink in r.sinks], last


def advance(session: Session, sink: str, line: str, last_id: int) -> None:
    """Move the cursor forward (never back: two deliver processes by mistake cannot rewind each other)."""
    row = session.get(DeliveryCursorRow, (sink, line), with_for_update=True)
    if row is None:
        session.add(DeliveryCursorRow(sink=sink, line=line, last_id=last_id, updated_at=utc_now()))
    elif last_id > row.last_id:
        row.last_id, row.updated_at = last_id, utc_now()


def backlog(session: Session, sink: str) -> int:
    """Messages for `sink` written but not yet delivered, over all lines."""
    total = 0
    for line in lines(session):
        after = cursor(session, sink, line)
        rows = session.scalars(select(OutboxRow.sinks).where(OutboxRow.line == line, OutboxRow.id > after))
        total += sum(1 for sinks in rows if sink in sinks)
    return total


def oldest_waiting(session: Session, sink: str) -> datetime | None:
    """When the oldest message `sink` has not delivered was written (None: nothing waits)."""
    oldest = None
    for line in lines(session):
        after = cursor(session, sink, line)
        for created_at, sinks in session.execute(
                select(OutboxRow.created_at, OutboxRow.sinks).where(OutboxRow.line == line, OutboxRow.id > after)
                .order_by(OutboxRow.id)):
            if sink in sinks:
                oldest = created_at if oldest is None else min(oldest, created_at)
                break
    return oldest


def count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(OutboxRow)) or 0)
