"""Local accounts, roles and expiring sessions, in the review log's database.

Passwords are hashed with Argon2id (argon2-cffi); session tokens are random and only their
SHA-256 is stored, so a copy of the database cannot be used to sign in.
Roles nest: inspector < supervisor < admin.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Boolean, DateTime, ForeignKey, String, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from core.contract.errors import SteelScanError
from core.review.store.db import make_engine
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


class AuthError(SteelScanError):
    """A sign-in, account or permission problem; the message never says which half was wrong."""


class _Base(DeclarativeBase):
    """Separate metadata from the review log's tables: accounts are created by `Accounts` alone."""


class UserRow(_Base):
    __tablename__ = "users"

    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utc_now)
    created_by: Mapped[str] = mapped_column(String(64))
    password_changed_at: Mapped[datetime] = mapped_column(DateTime, default=utc_now)


class SessionRow(_Base):
    __tablename__ = "user_sessions"

    token_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str] = mapped_column(ForeignKey("users.username"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utc_now)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


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

    def __init__(self, database_url: str, session_hours: float = DEFAULT_SESSION_HOURS) -> None:
        self.engine = make_engine(database_url)
        # Writes take SQLite's write lock up front (BEGIN IMMEDIATE): no lock upgrade to deadlock on.
        self._writer = self.engine.execution_options(steelscan_write=True)
        self.session_ttl = timedelta(hours=session_hours)
        _Base.metadata.create_all(self.engine)

    def close(self) -> None:
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

    def sign_in(self, username: str, password: str) -> tuple[User, str]:
        """(user, session token) for the right password; AuthError otherwise."""
        wrong = AuthError("sign-in", "wrong user name or password", "try again, or ask an admin to reset it")
        with Session(self._writer) as session, session.begin():
            row = session.get(UserRow, username)
            if row is None:
                _hasher.hash(password)  # same work as a real check: no timing hint that the name is unknown
                raise wrong
            try:
                _hasher.verify(row.password_hash, password)
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                raise wrong from None
            if not row.active:
                raise AuthError("sign-in", f"account {username!r} is disabled", "ask an admin to enable it")
            if _hasher.check_needs_rehash(row.password_hash):
                row.password_hash = _hasher.hash(password)
            token = secrets.token_urlsafe(32)
            session.add(
                SessionRow(token_sha256=_token_hash(token), username=username, expires_at=utc_now() + self.session_ttl)
            )
            return User(row.username, row.role), token

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
