"""Local accounts, roles and expiring sessions, in the review log's database.

Passwords are hashed with Argon2id (argon2-cffi); session tokens are random and only their
SHA-256 is stored, so a copy of the database cannot be used to sign in.
Roles nest: inspector < supervisor < admin.

Sign-in is throttled (ThrottlePolicy, docs/security.md) with growing delays, never a lock on a name, so nobody can
lock a named inspector or admin out from elsewhere:
- per user name and client address: `free_failures` failures, then each attempt waits longer (1, 2, 4 ... s);
- per user name from all addresses: past `max_failures`, attempts from addresses that never signed in as that
  name wait likewise (a guesser rotating addresses), while the name's own terminals are not held up;
- per client address, all names: `client_max_failures` failures lock the address for `lock_minutes`, until an
  admin clears it (unlock_address).
Each attempt is reserved before its password is checked: one short write counts it as a failure in advance, so
parallel guesses cannot all pass the throttle; a right password gives the reservation back. At most
HASHING_SLOTS Argon2 computations run at once in this process (64 MiB and a core each), and a name that has no
account costs a sleep instead of a hash. The Argon2 check runs outside any transaction: only short writes take
the database's write lock, so sign-in attempts never hold up decisions. Every failure is logged.
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
from sqlalchemy import delete, or_, select
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
    "coils": "supervisor",
    "models.view": "supervisor",
    "models.edit": "admin",
    "users.manage": "admin",
}
DEFAULT_SESSION_HOURS = 12
MIN_PASSWORD_LENGTH = 10
USERNAME = re.compile(r"^[A-Za-z0-9._-]{2,64}$")
_hasher = PasswordHasher()  # Argon2id with the library's current recommended cost
HASHING_SLOTS = 2  # Argon2 computations at once in this process, all sessions together
HASHING_QUEUE = 8  # attempts from new addresses waiting for a slot; more are refused as "busy" at once
HASHING_WAIT_S = 20.0  # an attempt that cannot start its check this soon is refused as "busy" (not a failure)


class _HashingSlots:
    """At most `slots` Argon2 computations at once. Attempts from an address that signed in as that name before
    (and account changes) are served first; at most `queue` others wait, the rest are refused at once: a flood
    of guesses from new addresses never queues a plant's own users behind it."""

    def __init__(self, slots: int, queue: int) -> None:
        self._ready = threading.Condition()
        self._free, self._queue = slots, queue
        self._waiting = {True: 0, False: 0}

    def acquire(self, first: bool, timeout: float) -> bool:
        with self._ready:
            if not first and self._waiting[False] >= self._queue:
                return False
            self._waiting[first] += 1
            deadline = time.monotonic() + timeout
            try:
                while not (self._free > 0 and (first or self._waiting[True] == 0)):
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return False
                    self._ready.wait(left)
                self._free -= 1
                return True
            finally:
                self._waiting[first] -= 1

    def release(self) -> None:
        with self._ready:
            self._free += 1
            self._ready.notify_all()


_hashing = _HashingSlots(HASHING_SLOTS, HASHING_QUEUE)
KNOWN_DAYS = 30  # an address that signed in as a name skips the name's delay this long (then it must again)


@dataclass(frozen=True)
class ThrottlePolicy:
    max_failures: int = 5  # failures of one name (all addresses) before new addresses must wait for that name
    client_max_failures: int = 20  # failures in a row from one client address (all names) before it is locked
    lock_minutes: float = 15.0  # how long an address lock lasts; failures older than this are forgotten
    first_delay_s: float = 1.0  # the first delay; doubles with each further failure
    max_delay_s: float = 60.0
    free_failures: int = 3  # failures of one name from one address before the next attempt must wait

    def delay(self, failures: int, free: int) -> timedelta:
        """The wait after `failures` failures: none before the `free`-th, then first_delay_s, doubling."""
        if failures < max(free, 1) or self.first_delay_s <= 0:
            return timedelta(0)
        return timedelta(seconds=min(self.first_delay_s * 2 ** (failures - max(free, 1)), self.max_delay_s))


NO_WAIT = datetime(1970, 1, 1)  # a throttle row's wait_until when no wait is due


@dataclass
class _Reservation:
    """An attempt counted as a failure in advance (see Accounts._reserve); a right password gives it back."""

    keys: dict[str, str]  # kind ("pair", "account", "client") -> throttle key
    before: dict[str, tuple[int, datetime, datetime]]  # key -> (failures, last failure, wait until) before it
    pair_failures: int  # failures of this name from this address, this attempt included
    next_wait: timedelta  # what this attempt's failure makes the next one wait
    known: bool  # the address signed in as this name before (KNOWN_DAYS): its check is served first


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


def _hash(password: str) -> str:
    """An Argon2 hash in one of the process's hashing slots (account changes wait their turn)."""
    _hashing.acquire(first=True, timeout=float("inf"))
    try:
        return _hasher.hash(password)
    finally:
        _hashing.release()


def _known_key(name: str, client: str) -> str:
    """The throttle row that marks `client` as an address that signed in as `name` (until its wait_until)."""
    return f"known:{name}@{client or '-'}"


def _like_literal(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


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
        self._verify_s = 0.3  # how long an Argon2 check takes here, learnt as checks run: an unknown name sleeps it
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
        hashed = _hash(password)  # before the transaction: no write lock held while Argon2 runs
        try:
            with Session(self._writer) as session, session.begin():
                session.add(UserRow(username=username, password_hash=hashed, role=role, created_by=created_by))
        except IntegrityError:
            raise AuthError(
                f"user {username!r}", "already exists", "choose another name or reset its password"
            ) from None
        return User(username, role)

    def reset_password(self, username: str, password: str) -> None:
        self._check_password(password)
        hashed = _hash(password)
        with Session(self._writer) as session, session.begin():
            row = self._row(session, username)
            row.password_hash = hashed
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

        `client` is the caller's address (core.accounts.clients.client_address), "" when unknown.
        """
        name, client = (username or "")[:64], (client or "")[:64]
        reservation = self._reserve(name, client)
        with Session(self.engine) as session:  # a read: no write lock held while Argon2 runs
            row = session.get(UserRow, name)
            stored_hash = row.password_hash if row is not None else None
        try:
            checked = self._check_password_hash(stored_hash, password, reservation.known)
        except AuthError:  # busy: the attempt was never checked, so it does not count
            self._give_back(reservation)
            raise
        if not checked:
            self._record_failure(name, client, "unknown_user" if stored_hash is None else "wrong_password")
            raise self._wrong(reservation)
        rehash = _hash(password) if _hasher.check_needs_rehash(stored_hash) else None
        token = secrets.token_urlsafe(32)

        def start_session(session: Session) -> User:
            row = session.get(UserRow, name)
            if row is None or row.password_hash != stored_hash:  # deleted or reset while we checked
                raise self._wrong(reservation)
            if not row.active:
                raise AuthError("sign-in", f"account {name!r} is disabled", "ask an admin to enable it")
            if rehash:
                row.password_hash = rehash
            session.add(SessionRow(token_sha256=_token_hash(token), username=name,
                                   expires_at=utc_now() + self.session_ttl))
            self._give_back_in(session, reservation)
            session.execute(delete(ThrottleRow).where(ThrottleRow.key == reservation.keys["pair"]))
            known = _known_key(name, client)
            until = utc_now() + timedelta(days=KNOWN_DAYS)
            marker = session.get(ThrottleRow, known, with_for_update=True)
            if marker is None:
                session.add(ThrottleRow(key=known, failures=0, last_failure_at=utc_now(), wait_until=until))
            else:
                marker.last_failure_at, marker.wait_until = utc_now(), until
            return User(row.username, row.role)

        try:
            return self._short_write(start_session), token
        except AuthError as exc:
            self._record_failure(name, client, "disabled" if "disabled" in exc.reason else "wrong_password")
            raise

    def _check_password_hash(self, stored_hash: str | None, password: str, known: bool) -> bool:
        """Argon2 in one of the process's HASHING_SLOTS; a name with no account sleeps as long instead (no CPU,
        no memory: a guesser rotating made-up names costs nothing). AuthError when no slot frees in time."""
        if stored_hash is None:
            time.sleep(self._verify_s)
            return False
        if not _hashing.acquire(first=known, timeout=HASHING_WAIT_S):
            raise AuthError("sign-in", "SteelScan is busy checking other sign-ins", "try again in a few seconds")
        began = time.perf_counter()
        try:
            _hasher.verify(stored_hash, password)
            return True
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
        finally:
            _hashing.release()
            self._verify_s = 0.8 * self._verify_s + 0.2 * (time.perf_counter() - began)

    def _wrong(self, reservation: _Reservation) -> AuthError:
        """The failure message: registered, and how many attempts remain before a delay (never which half)."""
        left = self.throttle.free_failures - reservation.pair_failures
        if left > 0:
            fix = f"{left} more attempt{'s' if left > 1 else ''} before SteelScan makes you wait"
        elif reservation.next_wait:
            fix = f"wait {math.ceil(reservation.next_wait.total_seconds())} s before the next attempt"
        else:
            fix = "try again"
        return AuthError("sign-in", f"wrong user name or password (attempt {reservation.pair_failures} "
                         "registered)", f"{fix}; an admin can reset a forgotten password")

    def _reserve(self, name: str, client: str) -> _Reservation:
        """Refuse the attempt while it must wait, or count it as a failure now, in one write transaction.

        Parallel guesses queue on that write: each sees the ones before it, so at most the free attempts pass.
        A read comes first: an attempt refused there costs no write (a flood of refusals is logged in batches).
        """
        keys = {"pair": f"pair:{name}@{client or '-'}", "account": f"account:{name}"}
        if client:
            keys["client"] = f"client:{client}"
        policy = self.throttle

        def work(session: Session, reserve: bool = True) -> _Reservation | tuple[str, str] | None:
            now = utc_now()
            forget_before = now - timedelta(minutes=policy.lock_minutes)
            rows = {kind: session.get(ThrottleRow, key, with_for_update=reserve) for kind, key in keys.items()}
            known = session.get(ThrottleRow, _known_key(name, client))
            known = known is not None and known.wait_until > now
            for row in rows.values():
                if row is not None and row.last_failure_at < forget_before and row.wait_until <= now:
                    row.failures = 0
            client_row = rows.get("client")
            if client_row is not None and client_row.wait_until > now and \
                    client_row.failures >= policy.client_max_failures:
                minutes = math.ceil((client_row.wait_until - now).total_seconds() / 60)
                return "locked", (f"{client_row.failures} failed attempts from address {client}: locked for "
                                  f"{minutes} more minute(s)|wait, or ask an admin to clear the address "
                                  f"(Users page, or `steelscan users unlock-address {client}`)")
            pair = rows["pair"]
            if pair is not None and pair.wait_until > now:
                seconds = max(1, math.ceil((pair.wait_until - now).total_seconds()))
                return "delayed", (f"too soon after a failed attempt for user name {name!r} from this address"
                                   f"|wait {seconds} s and try again")
            account = rows["account"]
            if account is not None and account.wait_until > now and not known:
                seconds = max(1, math.ceil((account.wait_until - now).total_seconds()))
                return "delayed", (f"user name {name!r} had {account.failures} failed attempts from other "
                                   f"addresses, so a new address must wait|wait {seconds} s and try again, or "
                                   "sign in from a terminal that signed in as this user before")
            if not reserve:
                return None
            before, limits = {}, {"pair": policy.free_failures, "account": policy.max_failures,
                                  "client": policy.client_max_failures}
            for kind, key in keys.items():
                row = rows[kind]
                if row is None:
                    row = rows[kind] = ThrottleRow(key=key, failures=0, last_failure_at=now, wait_until=NO_WAIT)
                    session.add(row)
                before[key] = (row.failures, row.last_failure_at, row.wait_until)
                row.failures += 1
                row.last_failure_at = now
                if kind == "client":
                    wait = (timedelta(minutes=policy.lock_minutes) if row.failures >= policy.client_max_failures
                            else timedelta(0))
                else:
                    wait = policy.delay(row.failures, limits[kind])
                if wait > timedelta(0):
                    # Only a real wait moves wait_until: "now" here is later than the "now" a parallel attempt
                    # read with, so wait_until = now would refuse it as "too soon" without any delay due.
                    row.wait_until = max(row.wait_until, now + wait)
            tried = rows["pair"].failures
            return _Reservation(keys, before, tried, policy.delay(tried, policy.free_failures), known)

        with Session(self.engine) as session:
            outcome = work(session, reserve=False)
        if outcome is None:
            try:
                outcome = self._short_write(work)
            except IntegrityError:  # two first attempts for one key at once (PostgreSQL): the row exists now
                outcome = self._short_write(work)
        if isinstance(outcome, _Reservation):
            return outcome
        reason, text = outcome
        self._log_refusal(name, client, reason)
        message, fix = text.split("|")
        raise AuthError("sign-in", message, fix)

    def _give_back(self, reservation: _Reservation) -> None:
        self._short_write(lambda session: self._give_back_in(session, reservation))

    @staticmethod
    def _give_back_in(session: Session, reservation: _Reservation) -> None:
        """Undo a reservation: one failure fewer, and its wait gone unless a later attempt set another."""
        for key, (failures, last, wait_until) in reservation.before.items():
            row = session.get(ThrottleRow, key, with_for_update=True)
            if row is None:
                continue
            row.failures = max(0, row.failures - 1)
            if row.failures == failures:  # nobody counted since: the row is as it was
                row.last_failure_at, row.wait_until = last, wait_until

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

    def _record_failure(self, name: str, client: str, reason: str) -> None:
        """Log a checked failure (already counted by its reservation), with any refusals waiting to be written."""
        earlier = self._take_refusals()

        def work(session: Session) -> None:
            session.add_all(earlier)
            session.add(SignInFailureRow(at=utc_now(), username=name, client=client, reason=reason))

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
        """Clear a name's failures and delays from every address (an admin's action); True if it had any."""
        with Session(self._writer) as session, session.begin():
            self._row(session, username)
            return session.execute(delete(ThrottleRow).where(or_(
                ThrottleRow.key == f"account:{username}",
                ThrottleRow.key.like(f"pair:{_like_literal(username)}@%", escape="\\")))).rowcount > 0

    def unlock_address(self, address: str) -> bool:
        """Clear a client address's failures and lock (an admin's action); True if it had any."""
        with Session(self._writer) as session, session.begin():
            return session.execute(delete(ThrottleRow).where(ThrottleRow.key == f"client:{address}")).rowcount > 0

    def locked_addresses(self) -> list[dict]:
        """Client addresses locked now (client_max_failures reached), with until when."""
        now = utc_now()
        with Session(self.engine) as session:
            rows = session.scalars(select(ThrottleRow).where(ThrottleRow.key.like("client:%"))
                                   .where(ThrottleRow.wait_until > now)
                                   .where(ThrottleRow.failures >= self.throttle.client_max_failures)).all()
            return [{"address": r.key.removeprefix("client:"), "failures": r.failures, "locked_until": r.wait_until}
                    for r in rows]

    def locked_accounts(self) -> list[dict]:
        """Always empty: a name is never locked (only delayed for new addresses); kept for older callers."""
        return []

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
