"""The sign-in cookie: a session token, its expiry, and an HMAC over both with a server secret.

The browser keeps it so a reload, a bookmark or a pasted link stays signed in. The cookie alone is never enough:
the token is looked up in the server's session table on every use (core.accounts.auth.Accounts.user_for), so
sign-out, an admin's reset or a disabled account ends it at once. The signature lets the server refuse a forged or
stretched cookie without a database read, and the expiry in it ends the cookie with the session.

The secret is made once (32 random bytes) in a file readable only by the server's user (0600), outside the
repository: settings `session_secret_file`, by default `session.key` beside the image store.

The server sets the cookie itself (HttpOnly: no script in the page can read it). A sign-in happens over
Streamlit's WebSocket, which cannot set cookies, so the page is handed a one-time ticket (CookieTickets) that the
browser redeems with one POST to the server's cookie route (core.accounts.web); the answer's Set-Cookie header
carries the cookie. Over https it is `__Host-steelscan_session` (Secure, Path=/, no Domain: only this host, only
https); over plain http browsers refuse Secure and `__Host-` cookies, so it is `steelscan_session` without Secure.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import stat
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from core.contract.errors import SteelScanError

COOKIE_NAME = "steelscan_session"
SECURE_COOKIE_NAME = f"__Host-{COOKIE_NAME}"  # over https
SECRET_BYTES = 32
TICKET_SECONDS = 120  # a ticket not redeemed by then is void (the page asks for a new one)


class CookieSecretError(SteelScanError):
    """The cookie-signing secret cannot be read or made safely."""


def load_or_create_secret(path: str | Path) -> bytes:
    """The server's signing secret: read it, or make it once (atomically: processes starting together agree)."""
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(descriptor, secrets.token_bytes(SECRET_BYTES))
        finally:
            os.close(descriptor)
        try:
            os.link(draft, path)  # fails if another process made it first: then theirs is the secret
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise CookieSecretError(path, f"is readable by other users (mode {stat.filemode(mode)})",
                                f"run `chmod 600 {path}`")
    secret = path.read_bytes()
    if len(secret) < SECRET_BYTES:
        raise CookieSecretError(path, f"holds {len(secret)} bytes, not a {SECRET_BYTES}-byte secret",
                                "delete it (everyone signs in again) and restart the app")
    return secret


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class SessionCookie:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _signature(self, token: str, expires: int) -> str:
        return _b64(hmac.new(self._secret, f"{token}.{expires}".encode(), hashlib.sha256).digest())

    def issue(self, token: str, expires_at: datetime) -> str:
        """The cookie value for a session token; `expires_at` is the session's (UTC, naive as stored, or aware)."""
        if "." in token:
            raise ValueError("session tokens are URL-safe base64 and never contain '.'")
        expires = int(_aware(expires_at).timestamp())
        return f"{token}.{expires}.{self._signature(token, expires)}"

    def token_from(self, value: str | None, now: datetime | None = None) -> str | None:
        """The session token in a cookie signed by this server and not past its expiry; None otherwise."""
        parts = (value or "").split(".")
        if len(parts) != 3 or not parts[1].isdigit():
            return None
        token, expires, signature = parts[0], int(parts[1]), parts[2]
        if not hmac.compare_digest(signature, self._signature(token, expires)):
            return None
        if expires <= _aware(now or datetime.now(UTC)).timestamp():
            return None
        return token


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def set_cookie_headers(value: str, max_age_s: int, https: bool) -> list[str]:
    """Set-Cookie header values: the sign-in cookie (or, for value "", its deletion under both names)."""
    if not value:
        gone = "=; Max-Age=0; Path=/; HttpOnly; SameSite=Strict"
        return [f"{COOKIE_NAME}{gone}"] + ([f"{SECURE_COOKIE_NAME}{gone}; Secure"] if https else [])
    name, secure = (SECURE_COOKIE_NAME, "; Secure") if https else (COOKIE_NAME, "")
    return [f"{name}={value}; Max-Age={max(0, int(max_age_s))}; Path=/; HttpOnly; SameSite=Strict{secure}"]


def cookie_from(cookies: dict[str, str]) -> str | None:
    """The sign-in cookie among a request's cookies: the https one first."""
    return cookies.get(SECURE_COOKIE_NAME) or cookies.get(COOKIE_NAME)


@dataclass
class _Ticket:
    value: str
    max_age_s: int
    expires: float  # time.monotonic()
    redeemed: bool = False


class CookieTickets:
    """One-time tickets for the cookie route, in this server process (the page and the route share it).

    A ticket is random, redeemable once, within TICKET_SECONDS. The page keeps handing its ticket to the browser
    on every run until the route has redeemed it: that redemption is the browser's acknowledgement.
    """

    def __init__(self, limit: int = 10_000) -> None:
        self._tickets: dict[str, _Ticket] = {}
        self._lock = threading.Lock()
        self._limit = limit

    def issue(self, value: str, max_age_s: int) -> str:
        """A ticket for this cookie value ("" deletes the cookie)."""
        ticket = secrets.token_urlsafe(24)
        now = time.monotonic()
        with self._lock:
            for key in [k for k, t in self._tickets.items() if t.expires <= now]:
                del self._tickets[key]
            while len(self._tickets) >= self._limit:  # a flood of sign-ins: the oldest tickets go first
                del self._tickets[next(iter(self._tickets))]
            self._tickets[ticket] = _Ticket(value, max_age_s, now + TICKET_SECONDS)
        return ticket

    def redeem(self, ticket: str) -> tuple[str, int] | None:
        """(cookie value, max age) once per ticket; None for an unknown, used or expired one."""
        with self._lock:
            found = self._tickets.get(ticket)
            if found is None or found.redeemed or found.expires <= time.monotonic():
                return None
            found.redeemed = True
            return found.value, found.max_age_s

    def status(self, ticket: str) -> str:
        """"pending" (still to hand to the browser), "redeemed", or "void" (unknown or expired)."""
        with self._lock:
            found = self._tickets.get(ticket)
            if found is None:
                return "void"
            if found.redeemed:
                return "redeemed"
            return "pending" if found.expires > time.monotonic() else "void"


TICKETS = CookieTickets()  # this process's: the Streamlit pages issue, the cookie route redeems
