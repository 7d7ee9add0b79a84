"""The review log's database: engine set-up, SQLite's pragmas, and write transactions that survive lock contention.

SQLite by default (WAL, so readers never block the writer; busy_timeout plus a retry so two
processes writing at once both succeed), any SQLAlchemy URL by setting. Writes on SQLite begin
IMMEDIATE: a transaction takes the write lock up front instead of failing to upgrade half way.
"""

from __future__ import annotations

import random
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
