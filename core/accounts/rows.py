"""The accounts' tables: users, sessions, and the sign-in failure log and throttle state.

Separate metadata (_Base) from the review log's tables; both are made by the same Alembic migrations
(core/review/store/migrations).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from core.review.store.models import utc_now


class _Base(DeclarativeBase):
    """The accounts' metadata."""


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


class SignInFailureRow(_Base):
    """Every failed sign-in: the name typed (not necessarily an account), the client address, why."""

    __tablename__ = "sign_in_failures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=utc_now, index=True)
    username: Mapped[str] = mapped_column(String(64), index=True)
    client: Mapped[str] = mapped_column(String(64), default="", index=True)
    reason: Mapped[str] = mapped_column(String(32))  # wrong_password | disabled | delayed | locked


class ThrottleRow(_Base):
    """Failures in a row for one key ("account:NAME" or "client:ADDRESS"), and until when it must wait."""

    __tablename__ = "sign_in_throttle"

    key: Mapped[str] = mapped_column(String(160), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime] = mapped_column(DateTime, default=utc_now)
    wait_until: Mapped[datetime] = mapped_column(DateTime, default=utc_now)  # growing delay, or the lock's end
