"""The deliver loop: one thread per sink reads the outbox in order per line, sends, and moves its cursor.

A sink that fails keeps its place: the loop records the error (the dashboard shows it), waits with exponential
back-off and jitter, reconnects and sends again from its cursor. Sinks never wait on each other. Messages every
configured sink has delivered are pruned after `keep_days`.
"""

from __future__ import annotations

import random
import socket
import threading
import time
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete

from core.delivery import outbox
from core.delivery.sinks import SinkError
from core.review.store.db import Database
from core.review.store.models import DeliverySinkRow, OutboxRow, utc_now


@dataclass(frozen=True)
class DeliverOptions:
    batch_size: int = 100  # messages per read and per send
    poll_s: float = 0.1  # how often an idle sink looks for new messages
    backoff_first_s: float = 0.5  # the first wait after a failure, doubled on each failure after it ...
    backoff_max_s: float = 10.0  # ... up to this: a sink back after an outage waits at most this long
    beat_s: float = 5.0  # how often an idle sink rewrites its state row and the line's retained status
    keep_days: float = 7.0  # delivered messages are kept this long (0: pruned at once)


def _beat(db: Database, sink, **changes) -> None:
    def work(session) -> None:
        row = session.get(DeliverySinkRow, sink.name, with_for_update=True)
        if row is None:
            row = DeliverySinkRow(sink=sink.name, target=sink.target, started_at=utc_now(), delivered=0, retries=0,
                                  last_message_id="", last_error="", state="starting")
            session.add(row)
        for key, value in changes.items():
            setattr(row, key, value)
        row.updated_at = utc_now()

    db._write(work)


class SinkWorker:
    """Delivers one sink's messages until `stop` is set."""

    def __init__(self, db: Database, sink, options: DeliverOptions) -> None:
        self.db, self.sink, self.options = db, sink, options
        self.delivered = 0
        self.retries = 0
        self.last_error = ""
        self._open = False

    def run(self, stop: threading.Event) -> None:
        _beat(self.db, self.sink, target=self.sink.target, state="starting", started_at=utc_now(), delivered=0,
              retries=0)
        wait = self.options.backoff_first_s
        last_beat = 0.0
        try:
            while not stop.is_set():
                try:
                    if not self._open:
                        self.sink.open()
                        self._open = True
                        self._status("online")
                        _beat(self.db, self.sink, state="ok")
                    moved = self.step()
                    wait = self.options.backoff_first_s
                    now = time.monotonic()
                    if now - last_beat >= self.options.beat_s:
                        last_beat = now
                        self._status("online")
                        _beat(self.db, self.sink, state="ok")
                    if not moved:
                        stop.wait(self.options.poll_s)
                except SinkError as exc:
                    self._failed(str(exc))
                    stop.wait(wait * random.uniform(0.8, 1.2))
                    wait = min(self.options.backoff_max_s, wait * 2)
        finally:
            if self._open:
                try:
                    self._status("offline")
                except SinkError:
                    pass
                self.sink.close()
            _beat(self.db, self.sink, state="stopped")

    def _status(self, state: str) -> None:
        for line in self.db._read(outbox.lines) or [getattr(self.sink, "line", "")]:
            if line:
                self.sink.status(line, {"state": state, "at": outbox.iso(utc_now())})

    def _failed(self, reason: str) -> None:
        self.retries += 1
        self.last_error = reason
        if self._open:
            self.sink.close()
            self._open = False
        _beat(self.db, self.sink, state="down", last_error=reason, last_error_at=utc_now(), retries=self.retries)

    def step(self) -> int:
        """Send what waits on every line (one batch each); returns how many messages went out."""
        sent = 0
        for line in self.db._read(outbox.lines):
            before = self.db._read(lambda s, line=line: outbox.cursor(s, self.sink.name, line))
            rows, last = self.db._read(lambda s, line=line: outbox.pending(s, self.sink.name, line,
                                                                            self.options.batch_size))
            if last == before:
                continue
            try:
                if rows:
                    self.sink.send(rows)
            except SinkError as exc:
                if exc.done:
                    self._mark(line, rows[exc.done - 1].id, rows[: exc.done])
                raise
            self._mark(line, last, rows)
            sent += len(rows)
        return sent

    def _mark(self, line: str, last_id: int, rows: list[OutboxRow]) -> None:
        self.delivered += len(rows)

        def work(session) -> None:
            outbox.advance(session, self.sink.name, line, last_id)
            row = session.get(DeliverySinkRow, self.sink.name, with_for_update=True)
            if row is not None and rows:
                row.delivered, row.last_message_id = self.delivered, rows[-1].message_id
                row.last_delivered_at = row.updated_at = utc_now()
                row.state = "ok"

        self.db._write(work)


def prune(db: Database, sinks: list[str], keep_days: float) -> int:
    """Delete messages older than `keep_days` that every one of `sinks` has delivered; returns how many."""
    if not sinks:
        return 0
    before = utc_now() - timedelta(days=keep_days)

    def work(session) -> int:
        removed = 0
        for line in outbox.lines(session):
            done = min(outbox.cursor(session, sink, line) for sink in sinks)
            removed += session.execute(delete(OutboxRow).where(
                OutboxRow.line == line, OutboxRow.id <= done, OutboxRow.created_at < before)).rowcount or 0
        return removed

    return db._write(work)


class Deliverer:
    """Runs one SinkWorker thread per sink and prunes delivered messages; `run()` returns when `stop` is set."""

    def __init__(self, db: Database, sinks: list, options: DeliverOptions | None = None) -> None:
        self.db, self.sinks, self.options = db, sinks, options or DeliverOptions()
        self.workers = [SinkWorker(db, sink, self.options) for sink in sinks]

    def run(self, stop: threading.Event) -> None:
        threads = [threading.Thread(target=w.run, args=(stop,), name=f"deliver-{w.sink.name}", daemon=True)
                   for w in self.workers]
        for thread in threads:
            thread.start()
        try:
            while not stop.is_set():
                prune(self.db, [s.name for s in self.sinks], self.options.keep_days)
                stop.wait(3600)
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=30)


def client_id(line: str) -> str:
    return f"steelscan-deliver-{line}-{socket.gethostname()}"[:64]
