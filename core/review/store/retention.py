"""Retention: the tables that only grow (the API call log, sign-in failures and throttles, sign-in sessions) are
pruned to the settings' days; the audit (reviews, inferences, setting_changes) is never touched.

`steelscan db prune` runs it; with prune_on_start every ReviewLog.from_settings (API, watcher, CLI) and the
dashboard's start do too. A throttle row is deleted only once its wait is over and its last failure is older than
retain_sign_in_days, so an address lock or a `known:` marker (an address that signed in as a name, KNOWN_DAYS) is
kept as long as it has effect, whatever the setting.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, and_, delete, or_
from sqlalchemy.orm import Session

from core.accounts.rows import SessionRow, SignInFailureRow, ThrottleRow
from core.review.store.models import ApiCallRow, utc_now

# Never pruned, whatever the settings: the audit trail (append-only in the database, migration 0009).
AUDIT_TABLES = ("reviews", "inferences", "setting_changes")


@dataclass(frozen=True)
class Retention:
    """Days to keep each kind of row; 0 keeps it forever."""

    api_calls_days: int = 90
    sign_in_days: int = 30
    sessions_days: int = 30

    @classmethod
    def from_settings(cls, settings) -> Retention:
        return cls(settings.retain_api_calls_days, settings.retain_sign_in_days, settings.retain_sessions_days)


def prune(engine: Engine, retention: Retention, now: datetime | None = None) -> dict[str, int]:
    """Delete what `retention` no longer keeps, in one write transaction; returns rows deleted per table."""
    now = now or utc_now()
    statements = {}
    if retention.api_calls_days:
        statements["api_calls"] = delete(ApiCallRow).where(
            ApiCallRow.called_at < now - timedelta(days=retention.api_calls_days))
    if retention.sign_in_days:
        before = now - timedelta(days=retention.sign_in_days)
        statements["sign_in_failures"] = delete(SignInFailureRow).where(SignInFailureRow.at < before)
        statements["sign_in_throttle"] = delete(ThrottleRow).where(
            and_(ThrottleRow.last_failure_at < before, ThrottleRow.wait_until <= now))
    if retention.sessions_days:
        # Signed out (revoked) or expired sessions only; a live session is never cut short by retention.
        before = now - timedelta(days=retention.sessions_days)
        statements["user_sessions"] = delete(SessionRow).where(or_(
            SessionRow.expires_at < before, and_(SessionRow.revoked.is_(True), SessionRow.created_at < before)))
    writer = engine.execution_options(steelscan_write=True)  # SQLite: BEGIN IMMEDIATE, like every other write
    with Session(writer) as session, session.begin():
        return {table: session.execute(statement).rowcount for table, statement in statements.items()}
