"""Local accounts, roles and expiring sessions, in the review log's database.

Passwords are hashed with Argon2id (argon2-cffi); session tokens are random and only their
SHA-256 is stored, so a copy of the database cannot be used to sign in.
Roles nest: inspector < supervisor < admin.

Sign-in is throttled per account name and per client address (ThrottlePolicy): each failure in a row makes
the next attempt wait longer (1 s, 2 s, 4 s, ... by default), and after `max_failures` the name (or
`client_max_failures` the address) is locked for `lock_minutes` unless an admin unlocks it. Every failure is
logged (sign_in_failures). The Argon2 check runs outside any transaction: only short writes (the failure,
the counters, the new session) take the database's write lock, so sign-in attempts never hold up decisions.
"""

from __future__ import annotations

import hashlib
import math
import re
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from core.accounts.rows import SessionRow, SignInFailureRow, ThrottleRow, UserRow, _Base  # noqa: F401 (_Base: env.py)
from core.contract.errors import SteelScanError
from core.review.store.db import make_engine
from core.review.store.migrate import upgrade
from core.review.store.models import utc_now

ROLES = ("inspector", "supervisor", "admin")
# What each role may do; a page or action names the permission it needs.
PERMISSIONS = {
    "inspect": "inspector",
    "review": "inspector",
    "statistics": "supervisor",
    "models.view": "supervisor",
    "models.edit": "admin",
    "users.manage": "admin",
}
DEFAULT_SESSION_HOURS = 12
MIN_PASSWORD_LENGTH = 10
USERNAME = re.compile(r"^[A-Za-z0-9._-]{2,64}$")
_hasher = PasswordHasher()  # Argon2id with the library's current recommended cost


@dataclass(frozen=True)
class ThrottlePolicy:
    max_failures: int = 5  # failures in a row for one account name before it is locked
    client_max_failures: int = 20  # failures in a row from one client address (all names) before it is locked
    lock_minutes: float = 15.0  # how long a lock lasts; failures older than this are forgotten
    first_delay_s: float = 1.0  # wait after the first failure; doubles with each further one
    max_delay_s: float = 30.0

    def wait_after(self, failures: int, limit: int) -> timedelta:
        if failures >= limit:
            return timedelta(minutes=self.lock_minutes)
        return timedelta(seconds=min(self.first_delay_s * 2 ** (failures - 1), self.max_delay_s))


class AuthError(SteelScanError):
    """A sign-in, account or permission problem; the message never says which half was wrong."""


@dataclass(frozen=True)
class User:
    username: str
    role: str

    def can(self, permission: str) -> bool:
        return role_allows(self.role, permission)


def role_allows(role: str, permission: str) -> bool:
    if permission not in PERMISSIONS:
        raise ValueError(f"unknown permission {permission!r}; known: {', '.join(PERMISSIONS)}")
    return ROLES.index(role) >= ROLES.index(PERMISSIONS[permission])


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Accounts:
    """Users and sessions. Safe to share across threads: every call opens its own session."""

    def __init__(self, database_url: str, session_hours: float = DEFAULT_SESSION_HOURS,
                 throttle: ThrottlePolicy | None = None) -> None:
        self.throttle = throttle or ThrottlePolicy()
        # One writer at a time from this process: a flood of sign-ins queues here, in Python, instead of as a
        # crowd of connections polling SQLite's write lock (whose busy handler is not fair to the reviewers).
        self._write_lock = threading.Lock()
        # Refused attempts (too soon, locked) are logged in batches: one write per second however many arrive.
        self._refusals: list[dict] = []
        self._last_flush = 0.0
        self._flush_timer: threading.Timer | None = None
        self.engine = make_engine(database_url)
        # Writes take SQLite's write lock up front (BEGIN IMMEDIATE): no lock upgrade to deadlock on.
        self._writer = self.engine.execution_options(steelscan_write=True)
        self.session_ttl = timedelta(hours=session_hours)
        upgrade(self.engine)  # the accounts' tables come from the same migrations as the review log's

    def close(self) -> None:
        self.flush_failure_log()
        self.engine.dispose()

    def has_users(self) -> bool:
        with Session(self.engine) as session:
            return session.scalar(select(UserRow.username).limit(1)) is not None

    def list_users(self) -> list[dict]:
        with Session(self.engine) as session:
            rows = session.scalars(select(UserRow).order_by(UserRow.username)).all()
            return [
                {
                    "username": r.username,
                    "role": r.role,
                    "active": r.active,
                    "created_at": r.created_at,
                    "created_by": r.created_by,
                }
                for r in rows
            ]

    def add_user(self, username: str, password: str, role: str, created_by: str) -> User:
        if not USERNAME.match(username or ""):
            raise AuthError(
                f"user {username!r}", "is not a valid user name", "use 2-64 letters, digits, '.', '_' or '-'"
            )
        self._check_role(role)
        self._check_password(password)
        try:
            with Session(self._writer) as session, session.begin():
                session.add(
                    UserRow(username=username, password_hash=_hasher.hash(password), role=role, created_by=created_by)
                )
        except IntegrityError:
            raise AuthError(
                f"user {username!r}", "already exists", "choose another name or reset its password"
            ) from None
        return User(username, role)

    def reset_password(self, username: str, password: str) -> None:
        self._check_password(password)
        with Session(self._writer) as session, session.begin():
            row = self._row(session, username)
            row.password_hash = _hasher.hash(password)
            row.password_changed_at = utc_now()
            # A new password ends every session signed in with the old one.
            for live in session.scalars(select(SessionRow).where(SessionRow.username == username)):
                live.revoked = True

    def set_role(self, username: str, role: str) -> None:
        self._check_role(role)
        with Session(self._writer) as session, session.begin():
            self._row(session, username).role = role

    def set_active(self, username: str, active: bool) -> None:
        with Session(self._writer) as session, session.begin():
            self._row(session, username).active = active

    def sign_in(self, username: str, password: str, client: str = "") -> tuple[User, str]:
        """(user, session token) for the right password; AuthError otherwise (every failure logged).

        `client` is the caller's address (Streamlit's st.context.ip_address), "" when unknown.
        """
        wrong = AuthError("sign-in", "wrong user name or password", "try again, or ask an admin to reset it")
        name, client = (username or "")[:64], (client or "")[:64]
        keys = {f"account:{name}": self.throttle.max_failures}
        if client:
            keys[f"client:{client}"] = self.throttle.client_max_failures
        self._refuse_while_throttled(name, client, keys)
        with Session(self.engine) as session:  # a read: no write lock held while Argon2 runs
            row = session.get(UserRow, name)
            stored_hash = row.password_hash if row is not None else None
        try:
            if stored_hash is None:
                _hasher.hash(password)  # same work as a real check: no timing hint that the name is unknown
                raise VerifyMismatchError
            _hasher.verify(stored_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            self._record_failure(name, client, "unknown_user" if stored_hash is None else "wrong_password", keys)
            raise wrong from None
        rehash = _hasher.hash(password) if _hasher.check_needs_rehash(stored_hash) else None
        token = secrets.token_urlsafe(32)

        def start_session(session: Session) -> User:
            row = session.get(UserRow, name)
            if row is None or row.password_hash != stored_hash:  # deleted or reset while we checked
                raise wrong
            if not row.active:
                raise AuthError("sign-in", f"account {name!r} is disabled", "ask an admin to enable it")
            if rehash:
                row.password_hash = rehash
            session.add(SessionRow(token_sha256=_token_hash(token), username=name,
                                   expires_at=utc_now() + self.session_ttl))
            session.execute(delete(ThrottleRow).where(ThrottleRow.key == f"account:{name}"))
            return User(row.username, row.role)

        try:
            return self._short_write(start_session), token
        except AuthError as exc:
            self._record_failure(name, client, "disabled" if "disabled" in exc.reason else "wrong_password", {})
            raise

    def _refuse_while_throttled(self, name: str, client: str, keys: dict[str, int]) -> None:
        now = utc_now()
        with Session(self.engine) as session:
            rows = session.scalars(select(ThrottleRow).where(ThrottleRow.key.in_(list(keys)))).all()
        for row in sorted(rows, key=lambda r: r.wait_until, reverse=True):
            if row.wait_until <= now:
                continue
            what = f"user name {name!r}" if row.key.startswith("account:") else f"address {client}"
            seconds = max(1, math.ceil((row.wait_until - now).total_seconds()))
            if row.failures >= keys[row.key]:
                self._log_refusal(name, client, "locked")
                raise AuthError("sign-in", f"{row.failures} failed attempts for {what}: locked for "
                                f"{-(-seconds // 60)} more minute(s)",
                                "wait, or ask an admin to unlock it (Users page or `steelscan users unlock NAME`)")
            self._log_refusal(name, client, "delayed")
            raise AuthError("sign-in", f"too soon after a failed attempt for {what}",
                            f"wait {seconds} s and try again")

    def _log_refusal(self, name: str, client: str, reason: str) -> None:
        """An attempt refused without a password check: written at once after a quiet second, otherwise with
        the next write a second later (a flood of refusals costs one write per second, not one each)."""
        with self._write_lock:
            self._refusals.append({"at": utc_now(), "username": name, "client": client, "reason": reason})
            due = time.monotonic() - self._last_flush > 1.0 or len(self._refusals) >= 1000
            if not due and self._flush_timer is None:  # written within a second even if nothing else comes
                self._flush_timer = threading.Timer(1.0, self.flush_failure_log)
                self._flush_timer.daemon = True
                self._flush_timer.start()
        if due:
            self.flush_failure_log()

    def _take_refusals(self) -> list[SignInFailureRow]:
        with self._write_lock:
            taken, self._refusals = self._refusals, []
            self._last_flush = time.monotonic()
            timer, self._flush_timer = self._flush_timer, None
        if timer is not None and timer is not threading.current_thread():
            timer.cancel()
        return [SignInFailureRow(**r) for r in taken]

    def flush_failure_log(self) -> None:
        rows = self._take_refusals()
        if rows:
            self._short_write(lambda session: session.add_all(rows))

    def _record_failure(self, name: str, client: str, reason: str, keys: dict[str, int]) -> None:
        """Log the failure and, for a real password check, count it against each key (growing delay, lock)."""
        earlier = self._take_refusals()

        def work(session: Session) -> None:
            now = utc_now()
            session.add_all(earlier)
            session.add(SignInFailureRow(at=now, username=name, client=client, reason=reason))
            forget_before = now - timedelta(minutes=self.throttle.lock_minutes)
            for key, limit in keys.items():
                row = session.get(ThrottleRow, key, with_for_update=True)
                if row is None:
                    row = ThrottleRow(key=key, failures=0, last_failure_at=now, wait_until=now)
                    session.add(row)
                elif row.last_failure_at < forget_before:
                    row.failures = 0
                row.failures += 1
                row.last_failure_at = now
                row.wait_until = now + self.throttle.wait_after(row.failures, limit)

        try:
            self._short_write(work)
        except IntegrityError:  # two first failures for one key at once (PostgreSQL): count again
            self._short_write(work)

    def _short_write(self, work):
        """One short write transaction (SQLite: BEGIN IMMEDIATE), retried while the database is busy."""
        for attempt in range(5):
            try:
                with self._write_lock, Session(self._writer) as session, session.begin():
                    return work(session)
            except OperationalError as exc:
                if attempt == 4 or "locked" not in str(exc).lower():
                    raise
        raise AssertionError("unreachable")

    def unlock(self, username: str) -> bool:
        """Clear an account's failures and lock (an admin's action); True if it was throttled."""
        with Session(self._writer) as session, session.begin():
            self._row(session, username)
            return session.execute(delete(ThrottleRow).where(ThrottleRow.key == f"account:{username}")).rowcount > 0

    def locked_accounts(self) -> list[dict]:
        """Account names locked now (failures reached max_failures), with until when."""
        now = utc_now()
        with Session(self.engine) as session:
            rows = session.scalars(select(ThrottleRow).where(ThrottleRow.key.like("account:%"))
                                   .where(ThrottleRow.wait_until > now)
                                   .where(ThrottleRow.failures >= self.throttle.max_failures)).all()
            return [{"username": r.key.removeprefix("account:"), "failures": r.failures, "locked_until": r.wait_until}
                    for r in rows]

    def sign_in_failures(self, limit: int = 200) -> list[dict]:
        """The latest failed sign-ins, newest first."""
        self.flush_failure_log()
        with Session(self.engine) as session:
            rows = session.scalars(select(SignInFailureRow).order_by(SignInFailureRow.id.desc()).limit(limit)).all()
            return [{"at": r.at, "username": r.username, "client": r.client, "reason": r.reason} for r in rows]

    def user_for(self, token: str | None) -> User | None:
        """The signed-in user of a live session; None when absent, expired, revoked or disabled."""
        if not token:
            return None
        with Session(self.engine) as session:
            found = session.execute(
                select(SessionRow, UserRow)
                .join(UserRow, SessionRow.username == UserRow.username)
                .where(SessionRow.token_sha256 == _token_hash(token))
            ).first()
            if found is None:
                return None
            live, user = found
            if live.revoked or live.expires_at <= utc_now() or not user.active:
                return None
            return User(user.username, user.role)

    def session_expires_at(self, token: str) -> datetime | None:
        """When a live session ends (UTC, naive as stored); None when it is not live. The sign-in cookie's expiry."""
        if self.user_for(token) is None:
            return None
        with Session(self.engine) as session:
            live = session.get(SessionRow, _token_hash(token))
            return live.expires_at if live is not None else None

    def sign_out(self, token: str) -> None:
        with Session(self._writer) as session, session.begin():
            live = session.get(SessionRow, _token_hash(token))
            if live is not None:
                live.revoked = True

    @staticmethod
    def _row(session: Session, username: str) -> UserRow:
        row = session.get(UserRow, username)
        if row is None:
            raise AuthError(f"user {username!r}", "does not exist", "list users with `python -m core.users list`")
        return row

    @staticmethod
    def _check_role(role: str) -> None:
        if role not in ROLES:
            raise AuthError(f"role {role!r}", "is unknown", f"use one of {', '.join(ROLES)}")

    @staticmethod
    def _check_password(password: str) -> None:
        if len(password or "") < MIN_PASSWORD_LENGTH:
            raise AuthError("password", f"is shorter than {MIN_PASSWORD_LENGTH} characters", "choose a longer one")
