"""The sign-in cookie: signed with the server's secret, expiring with the session, refused when touched."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime, timedelta

import pytest

from core.accounts.cookies import CookieSecretError, SessionCookie, load_or_create_secret

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
TOKEN = "Qm9vdHN0cmFwLXRva2VuLWZvci10aGUtdGVzdHMtMTIzNDU2Nzg5MA"


def test_the_secret_is_made_once_readable_by_the_owner_only(tmp_path):
    path = tmp_path / "var" / "session.key"
    first = load_or_create_secret(path)
    assert len(first) == 32 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_secret(path) == first  # kept: cookies survive a restart
    assert [p.name for p in path.parent.iterdir()] == ["session.key"]  # no draft left behind
    assert load_or_create_secret(tmp_path / "other.key") != first
    os.chmod(path, 0o644)
    with pytest.raises(CookieSecretError, match="readable by other users.*chmod 600"):
        load_or_create_secret(path)
    short = tmp_path / "short.key"
    short.write_bytes(b"x" * 5)
    short.chmod(0o600)
    with pytest.raises(CookieSecretError, match="holds 5 bytes"):
        load_or_create_secret(short)


def test_a_cookie_names_its_token_until_the_session_expires():
    cookie = SessionCookie(b"s" * 32)
    value = cookie.issue(TOKEN, (NOW + timedelta(hours=12)).replace(tzinfo=None))  # naive UTC, as stored
    assert value.startswith(TOKEN + ".")
    assert cookie.token_from(value, NOW) == TOKEN
    assert cookie.token_from(value, NOW + timedelta(hours=11, minutes=59)) == TOKEN
    assert cookie.token_from(value, NOW + timedelta(hours=12)) is None  # expired with the session


def test_a_forged_stretched_or_foreign_cookie_is_refused():
    cookie = SessionCookie(b"s" * 32)
    value = cookie.issue(TOKEN, NOW + timedelta(hours=1))
    token, expires, signature = value.split(".")
    later = str(int(expires) + 86_400)
    assert cookie.token_from(f"{token}.{later}.{signature}", NOW) is None  # expiry stretched
    assert cookie.token_from(f"X{token[1:]}.{expires}.{signature}", NOW) is None  # another token
    assert cookie.token_from(f"{token}.{expires}.{signature[:-1]}A", NOW) is None  # signature touched
    assert SessionCookie(b"t" * 32).token_from(value, NOW) is None  # another server's secret
    for junk in (None, "", "abc", "a.b.c", f"{token}.{expires}", f"{token}.-5.{signature}"):
        assert cookie.token_from(junk, NOW) is None
    with pytest.raises(ValueError):
        cookie.issue("has.dot", NOW)


def test_the_cookie_expires_with_the_live_session_only(tmp_path):
    from core.accounts.auth import Accounts
    from core.review.store.models import utc_now

    accounts = Accounts(f"sqlite:///{tmp_path / 'log.db'}", session_hours=2)
    accounts.add_user("ann", "a-long-password-1", "inspector", created_by="test")
    _, token = accounts.sign_in("ann", "a-long-password-1")
    expires = accounts.session_expires_at(token)
    assert timedelta(hours=1, minutes=59) < expires - utc_now() <= timedelta(hours=2)
    cookie = SessionCookie(b"s" * 32)
    assert cookie.token_from(cookie.issue(token, expires)) == token
    accounts.sign_out(token)
    assert accounts.session_expires_at(token) is None and accounts.session_expires_at("unknown") is None
    accounts.close()
