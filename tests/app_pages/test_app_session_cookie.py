"""The sign-in cookie in the real app (AppTest; the browser tests drive a real reload): signing in hands the browser
a one-time ticket for the server's cookie route until it is redeemed, a new browser session with the cookie is
signed in, and a forged, signed-out or disabled one is refused and deleted.

AppTest cannot send cookies, so `ui.auth.browser_cookie` (st.context.cookies) is replaced by the test's value, and
the test redeems the ticket as the browser's POST would (core.accounts.cookies.TICKETS)."""

from __future__ import annotations

import os
import re

import pytest
from streamlit.testing.v1 import AppTest

import ui.auth
from core.accounts.auth import Accounts
from core.accounts.cookies import TICKETS, SessionCookie, load_or_create_secret
from core.accounts.web import ROUTE
from core.contract.settings import load_settings
from tests.helpers.dashboard import PASSWORD, ROOT, dashboard_env, models_dir  # noqa: F401  (fixtures)

TIMEOUT = 180
pytestmark = pytest.mark.usefixtures("dashboard_env")


@pytest.fixture
def accounts():
    accounts = Accounts(os.environ["STEELSCAN_DATABASE_URL"])
    accounts.add_user("ann", PASSWORD, "admin", created_by="test")
    accounts.add_user("ivan", PASSWORD, "inspector", created_by="test")
    yield accounts
    accounts.close()


def browser_with(monkeypatch, cookie: str | None) -> AppTest:
    """A fresh browser session (nothing in its session state) that sends `cookie`."""
    monkeypatch.setattr(ui.auth, "browser_cookie", lambda: cookie)
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()


def cookie_scripts(app: AppTest) -> list[str]:
    return [e.proto.body for e in app.get("html") if ROUTE in e.proto.body]


def redeem(script: str) -> tuple[str, int]:
    """What the browser's POST of the script's ticket gets back: (cookie value, max age)."""
    ticket = re.search(r"body: \"([A-Za-z0-9_-]+)\"", script).group(1)
    found = TICKETS.redeem(ticket)
    assert found is not None, "the ticket is not redeemable"
    return found


def signer() -> SessionCookie:
    return SessionCookie(load_or_create_secret(load_settings().session_secret_path))


def test_signing_in_writes_a_signed_cookie_that_signs_in_the_next_browser_session(accounts, monkeypatch):
    app = browser_with(monkeypatch, None)
    assert [t.value for t in app.title] == ["Sign in to SteelScan"]
    app.text_input(key="sign_in_user").input("ann")
    app.text_input(key="sign_in_password").input(PASSWORD)
    app.button[0].click().run()
    assert [t.value for t in app.title] == ["Inspect"]
    [script] = cookie_scripts(app)
    app.run()  # a rerun before the browser ran the script (an open batch reruns at once): handed over again
    assert cookie_scripts(app) == [script]
    value, max_age = redeem(script)
    token = app.session_state["auth_token"]
    assert signer().token_from(value) == token  # signed by the server's secret, naming this session
    assert 11 * 3600 < max_age <= 12 * 3600  # it expires with the session (12 h)
    assert TICKETS.redeem(re.search(r'body: "([^"]+)"', script).group(1)) is None  # once only
    app.run()
    assert cookie_scripts(app) == []  # redeemed: not handed over again

    reloaded = browser_with(monkeypatch, value)  # a reload: new session, same cookie
    assert [t.value for t in reloaded.title] == ["Inspect"]
    assert reloaded.session_state["auth_token"] == token
    assert any("Signed in: **ann**" in m.value for m in reloaded.sidebar.markdown)
    assert any("Review log:" in c.value for c in reloaded.sidebar.caption)  # admins see where the data lives


def test_inspectors_are_not_shown_the_review_log_path(accounts, monkeypatch):
    _, token = accounts.sign_in("ivan", PASSWORD)
    app = browser_with(monkeypatch, signer().issue(token, accounts.session_expires_at(token)))
    assert [t.value for t in app.title] == ["Inspect"]
    assert not any("Review log:" in c.value or "sqlite" in c.value for c in app.caption)


@pytest.mark.parametrize("ending", ["forged", "signed_out", "disabled", "password_reset", "other_secret"])
def test_a_cookie_whose_session_ended_shows_sign_in_and_is_deleted(accounts, monkeypatch, ending):
    _, token = accounts.sign_in("ivan", PASSWORD)
    value = signer().issue(token, accounts.session_expires_at(token))
    if ending == "forged":
        token_part, expires, signature = value.split(".")
        value = f"{token_part}.{int(expires) + 86_400}.{signature}"
    elif ending == "signed_out":
        accounts.sign_out(token)
    elif ending == "disabled":
        accounts.set_active("ivan", False)
    elif ending == "password_reset":
        accounts.reset_password("ivan", PASSWORD + "-new")
    else:
        value = SessionCookie(b"z" * 32).issue(token, accounts.session_expires_at(token))
    app = browser_with(monkeypatch, value)
    assert [t.value for t in app.title] == ["Sign in to SteelScan"]
    assert not app.session_state["auth_token"]
    [script] = cookie_scripts(app)
    assert redeem(script) == ("", 0)  # the route deletes it


def test_signing_out_ends_the_session_and_deletes_the_cookie(accounts, monkeypatch):
    _, token = accounts.sign_in("ann", PASSWORD)
    app = browser_with(monkeypatch, signer().issue(token, accounts.session_expires_at(token)))
    app.sidebar.button(key="sign_out").click().run()
    assert [t.value for t in app.title] == ["Sign in to SteelScan"]
    assert accounts.user_for(token) is None
    [script] = cookie_scripts(app)
    assert redeem(script) == ("", 0)
    app.run()  # this connection still sends the old cookie: it must not sign anyone back in
    assert [t.value for t in app.title] == ["Sign in to SteelScan"]
