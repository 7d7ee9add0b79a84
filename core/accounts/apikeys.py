"""API keys for line systems (MES, PLC gateways): made by admins, shown once, stored as SHA-256, scoped, revocable.

Scopes: `score` (inspect without recording), `record` (inspect and record in the review log; implies score),
`read` (sheets, the queue, metrics). Keys are 32 random bytes, so a plain SHA-256 is enough (no password hash
needed: nothing to guess); the `ssk_` prefix makes a leaked key easy to find in logs and repositories.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.accounts.auth import USERNAME, AuthError
from core.review.store.db import Database
from core.review.store.models import ApiCallRow, ApiKeyRow, utc_now

SCOPES = ("score", "record", "read")
KEY_PREFIX = "ssk_"


@dataclass(frozen=True)
class ApiKey:
    id: int
    name: str
    scopes: tuple[str, ...]

    def allows(self, scope: str) -> bool:
        return scope in self.scopes or (scope == "score" and "record" in self.scopes)


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class ApiKeys:
    """Keys and the call log, in the review log's database."""

    def __init__(self, database: Database) -> None:
        self.db = database

    def add(self, name: str, scopes: list[str] | tuple[str, ...], created_by: str) -> str:
        """Make a key and return it: the only time it is ever shown."""
        if not USERNAME.match(name or ""):
            raise AuthError(f"key name {name!r}", "is not valid", "use 2-64 letters, digits, '.', '_' or '-'")
        unknown = sorted(set(scopes) - set(SCOPES))
        if unknown or not scopes:
            raise AuthError(f"scopes {list(scopes)}", "are not valid", f"give one or more of {', '.join(SCOPES)}")
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        row = ApiKeyRow(name=name, key_sha256=_hash(key), scopes=sorted(set(scopes), key=SCOPES.index),
                        created_by=created_by)
        try:
            self.db._write(lambda session: session.add(row))
        except IntegrityError:
            raise AuthError(f"key name {name!r}", "is taken", "choose another name, or revoke the old key") from None
        return key

    def revoke(self, name: str, revoked_by: str) -> None:
        def work(session: Session) -> None:
            row = session.scalar(select(ApiKeyRow).where(ApiKeyRow.name == name))
            if row is None:
                raise AuthError(f"key {name!r}", "does not exist", "list keys with `steelscan keys list`")
            if row.revoked_at is None:
                row.revoked_at, row.revoked_by = utc_now(), revoked_by

        self.db._write(work)

    def check(self, key: str | None) -> ApiKey | None:
        """The live key for this secret; None when unknown or revoked."""
        if not key:
            return None
        row = self.db._read(lambda s: s.scalar(select(ApiKeyRow).where(ApiKeyRow.key_sha256 == _hash(key))))
        if row is None or row.revoked_at is not None:
            return None
        return ApiKey(row.id, row.name, tuple(row.scopes))

    def list(self) -> list[dict]:
        rows = self.db._read(lambda s: list(s.scalars(select(ApiKeyRow).order_by(ApiKeyRow.name))))
        return [{"name": r.name, "scopes": ",".join(r.scopes), "created_by": r.created_by, "created_at": r.created_at,
                 "revoked_at": r.revoked_at, "revoked_by": r.revoked_by} for r in rows]

    def log_call(self, key: ApiKey, method: str, path: str, status: int, latency_ms: float,
                 inference_id: int | None = None, at: datetime | None = None) -> None:
        self.db._write(lambda s: s.add(ApiCallRow(key_id=key.id, method=method, path=path[:256], status=status,
                                                  inference_id=inference_id, latency_ms=latency_ms,
                                                  called_at=at or utc_now())))

    def calls(self, name: str | None = None) -> list[dict]:
        query = select(ApiCallRow, ApiKeyRow.name).join(ApiKeyRow, ApiCallRow.key_id == ApiKeyRow.id)
        if name:
            query = query.where(ApiKeyRow.name == name)
        rows = self.db._read(lambda s: s.execute(query.order_by(ApiCallRow.id)).all())
        return [{"key": key_name, "method": c.method, "path": c.path, "status": c.status,
                 "inference_id": c.inference_id, "latency_ms": c.latency_ms, "called_at": c.called_at}
                for c, key_name in rows]
