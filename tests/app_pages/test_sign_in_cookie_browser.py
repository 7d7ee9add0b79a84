"""The sign-in cookie in a real browser (headless Chromium at 1366x768, `streamlit run app.py`): signing in while
an open batch reruns the page at once sets the cookie every time (issue 37 item 1), and the server sets it
HttpOnly (issue 34): no script in the page can read it, and sign-out deletes it."""

from __future__ import annotations

import os
import re
import time

import pytest

from core.accounts.auth import Accounts
from core.accounts.cookies import COOKIE_NAME
from tests.helpers.browser import chromium_page, streamlit_server
from tests.helpers.dashboard import PASSWORD, dashboard_env, models_dir, strip_png  # noqa: F401  (fixtures)

playwright_api = pytest.importorskip("playwright.sync_api")
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("dashboard_env")]
SETTINGS = ("STEELSCAN_MODELS_DIR", "STEELSCAN_MODEL_SET", "STEELSCAN_DATABASE_URL", "STEELSCAN_IMAGE_STORE",
            "STEELSCAN_DEVICE", "STEELSCAN_SETTINGS")
WAIT_MS = 120_000
IDLE = ("() => { const app = document.querySelector('[data-testid=\"stApp\"]');"
        " return app && app.getAttribute('data-test-script-state') === 'notRunning'; }")


def sign_in(page, url: str) -> None:
    page.goto(url)
    page.get_by_label("User name").fill("ivan")
    page.get_by_role("textbox", name="Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Inspect").wait_for()


def session_cookie(page, within_s: float = 10.0) -> dict | None:
    """The sign-in cookie once the browser has it, waiting up to `within_s` after the page went idle."""
    deadline = time.monotonic() + within_s
    while True:
        found = [c for c in page.context.cookies() if c["name"].endswith(COOKIE_NAME) and c["value"]]
        if found or time.monotonic() > deadline:
            return found[0] if found else None
        time.sleep(0.2)


def test_signing_in_with_an_open_batch_sets_the_cookie_every_time(tmp_path):
    settings = {key: os.environ[key] for key in SETTINGS}
    settings["STEELSCAN_SIGN_IN_FIRST_DELAY_SECONDS"] = "0"
    accounts = Accounts(settings["STEELSCAN_DATABASE_URL"])
    accounts.add_user("ivan", PASSWORD, "inspector", created_by="test")
    accounts.close()
    files = []
    for seed in range(2):
        files.append(tmp_path / f"strip_{seed}.png")
        files[-1].write_bytes(strip_png(700 + seed))
    with streamlit_server(settings, tmp_path / "streamlit.log") as url, \
            chromium_page(tmp_path / "profile", height=768, width=1366) as page:
        sign_in(page, url)
        page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files([str(f) for f in files])
        page.get_by_text(re.compile(r"\b2 sheets · 0 decided\b")).first.wait_for(timeout=WAIT_MS)
        page.wait_for_function(IDLE, timeout=WAIT_MS)
        cookies = []
        for attempt in range(5):
            page.context.clear_cookies()  # a fresh browser: signed out, the batch still open on the server
            sign_in(page, url)
            page.get_by_text(re.compile(r"\b2 sheets · 0 decided\b")).first.wait_for(timeout=WAIT_MS)
            page.wait_for_function(IDLE, timeout=WAIT_MS)
            cookie = session_cookie(page)
            assert cookie is not None, f"sign-in {attempt + 1} of 5 with an open batch set no session cookie"
            cookies.append(cookie)
            page.reload()
            page.get_by_role("heading", name="Inspect").wait_for()
            page.get_by_text(re.compile(r"\b2 sheets · 0 decided\b")).first.wait_for(timeout=WAIT_MS)
            assert page.get_by_role("heading", name="Sign in to SteelScan").count() == 0
        assert len({c["value"] for c in cookies}) == 5  # five sign-ins, five sessions
        # Set by the server: scripts in the page cannot read it (plain http here: no Secure, no __Host- prefix).
        assert all(c["httpOnly"] and c["sameSite"] == "Strict" and c["path"] == "/" for c in cookies), cookies
        assert COOKIE_NAME not in page.evaluate("document.cookie")

        page.get_by_role("button", name="Sign out").click()
        page.get_by_role("heading", name="Sign in to SteelScan").wait_for()
        deadline = time.monotonic() + 10
        while session_cookie(page, within_s=0) is not None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert session_cookie(page, within_s=0) is None  # deleted by the server too
        page.reload()
        page.get_by_role("heading", name="Sign in to SteelScan").wait_for()
