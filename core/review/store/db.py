"""The review log's database: engine set-up, SQLite's pragmas, and write transactions that survive lock contention.

SQLite by default (WAL, so readers never block the writer; busy_timeout plus a retry so two
processes writing at once both succeed), any SQLAlchemy URL by setting. Writes on SQLite begin
IMMEDIATE: a transaction takes the write lock up front instead of failing to upgrade half way.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from core.contract.errors import SteelScanError
from core.review.store.migrate import upgrade

T = TypeVar("T")
BUSY_TIMEOUT_S = 30
WRITE_ATTEMPTS = 8
# A write waits at most this long for another writer's lock, over all its attempts, then says "busy": an
# inspector's decision must not hang for minutes (8 attempts x 30 s) before it says anything.
WRITE_DEADLINE_S = 15.0
_busy_wait = threading.local()  # this thread's remaining lock wait, for the BEGIN hook below


class StoreError(SteelScanError):
    """The review log cannot be opened or written."""


class DatabaseBusy(StoreError):
    """Another writer held the lock past WRITE_DEADLINE_S: nothing was written; the same write may succeed later."""


class DatabaseFull(StoreError):
    """No room for the write (disk or database full, or under min_free_disk_mb): nothing was written."""


def not_recorded_because(exc: BaseException) -> str | None:
    """'busy' or 'full' when `exc` says the database could not take a write just now (trying again later may
    succeed, and nothing was written), else None."""
    if isinstance(exc, DatabaseBusy):
        return "busy"
    if isinstance(exc, DatabaseFull):
        return "full"
    if isinstance(exc, OperationalError):
        return "full" if _is_full_error(exc) else "busy" if _is_lock_error(exc) else None
    return None


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
        if immediate:  # wait for a lock no longer than this write has left
            wait_ms = getattr(_busy_wait, "ms", BUSY_TIMEOUT_S * 1000)
            connection.exec_driver_sql(f"PRAGMA busy_timeout={max(1, int(wait_ms))}")
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _is_lock_error(exc: OperationalError) -> bool:
    text = str(exc.orig).lower() if exc.orig is not None else str(exc).lower()
    return "locked" in text or "busy" in text


def _is_full_error(exc: OperationalError) -> bool:
    text = str(exc.orig).lower() if exc.orig is not None else str(exc).lower()
    return "full" in text or "no space left" in text


class Database:
    """One database URL: the engine, a write path that retries on lock contention, a read path."""

    def __init__(self, database_url: str) -> None:
        self.url = database_url
        self.engine = make_engine(database_url)
        self._writer = self.engine.execution_options(steelscan_write=True)
        try:
            upgrade(self.engine)  # Alembic, under a lock: safe when several processes start together
        except OperationalError as exc:
            raise StoreError(self.display_url, f"cannot be opened ({exc.orig})",
                             "check database_url in steelscan.toml or STEELSCAN_DATABASE_URL") from None

    @property
    def display_url(self) -> str:
        return make_url(self.url).render_as_string(hide_password=True)

    def close(self) -> None:
        self.engine.dispose()

    def _write(self, work: Callable[[Session], T]) -> T:
        """Run `work` in one write transaction, retried from the start if the database stays locked, for at most
        WRITE_DEADLINE_S; then DatabaseBusy. A full disk or database raises DatabaseFull."""
        deadline = time.monotonic() + WRITE_DEADLINE_S
        for attempt in range(WRITE_ATTEMPTS):
            _busy_wait.ms = max(0.0, deadline - time.monotonic()) * 1000
            try:
                with Session(self._writer, expire_on_commit=False) as session, session.begin():
                    return work(session)
            except OperationalError as exc:
                if _is_full_error(exc):
                    raise DatabaseFull(self.display_url, f"is full ({exc.orig})",
                                       "free space on its disk (or move it); nothing was written") from None
                if not _is_lock_error(exc):
                    raise
                if attempt == WRITE_ATTEMPTS - 1 or time.monotonic() >= deadline:
                    raise DatabaseBusy(self.display_url, f"is busy: another writer held its lock for "
                                       f"{WRITE_DEADLINE_S:g} s", "nothing was written: try again in a moment; "
                                       "if it stays busy, close the program holding a long write") from None
                time.sleep(min(2.0, 0.05 * 2**attempt, max(0.0, deadline - time.monotonic()))
                           * random.uniform(0.5, 1.5))
            finally:
                _busy_wait.ms = BUSY_TIMEOUT_S * 1000
        raise AssertionError("unreachable")

    def _read(self, work: Callable[[Session], T]) -> T:
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            return work(session)
