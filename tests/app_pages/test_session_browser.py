"""Sessions in a real browser (headless Chromium, `streamlit run app.py`): a deep link while signed out shows
sign-in, then that page; a reload and a pasted link stay signed in; sign-out then reload shows sign-in."""

from __future__ import annotations

import os
import time

import pytest

from core.accounts.auth import Accounts
from core.accounts.cookies import COOKIE_NAME
from tests.helpers.browser import chromium_page, streamlit_server
from tests.helpers.dashboard import PASSWORD, dashboard_env, models_dir  # noqa: F401  (fixtures)

playwright_api = pytest.importorskip("playwright.sync_api")
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("dashboard_env")]
SETTINGS = ("STEELSCAN_MODELS_DIR", "STEELSCAN_MODEL_SET", "STEELSCAN_DATABASE_URL", "STEELSCAN_IMAGE_STORE",
            "STEELSCAN_DEVICE", "STEELSCAN_SETTINGS")


def heading(page, name: str) -> None:
    page.get_by_role("heading", name=name).wait_for()


def session_cookies(page) -> list[dict]:
    return [c for c in page.context.cookies() if c["name"] == COOKIE_NAME and c["value"]]


def until(condition, seconds: float = 20.0) -> None:
    """The cookie is HttpOnly (set by the server): watched from the browser context, not document.cookie."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the sign-in cookie did not change in time"
        time.sleep(0.2)


def test_reload_deep_link_and_sign_out_in_chromium(tmp_path):
    settings = {key: os.environ[key] for key in SETTINGS}
    accounts = Accounts(settings["STEELSCAN_DATABASE_URL"])
    accounts.add_user("erin", PASSWORD, "supervisor", created_by="test")
    with streamlit_server(settings, tmp_path / "streamlit.log") as url, \
            chromium_page(tmp_path / "chromium-profile", height=768, width=1366) as page:
        page.goto(f"{url}/statistics")  # a bookmark, signed out
        heading(page, "Sign in to SteelScan")
        assert page.get_by_text("Page not found").count() == 0
        page.get_by_label("User name").fill("erin")
        page.get_by_role("textbox", name="Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        heading(page, "Statistics")  # the bookmarked page, not the default one
        page.get_by_text("Signed in: erin · supervisor").wait_for()
        playwright_api.expect(page).to_have_url(f"{url}/statistics")
        until(lambda: session_cookies(page))
        [cookie] = session_cookies(page)
        assert cookie["sameSite"] == "Strict" and cookie["httpOnly"]

        page.reload()
        heading(page, "Statistics")
        page.get_by_text("Signed in: erin · supervisor").wait_for()

        page.goto(f"{url}/review_queue")  # a pasted link, signed in
        heading(page, "Review queue")
        page.get_by_text("Signed in: erin · supervisor").wait_for()
        page.screenshot(path=str(tmp_path / "review_queue_after_deep_link.png"))

        page.get_by_role("button", name="Sign out").click()
        heading(page, "Sign in to SteelScan")
        until(lambda: not session_cookies(page))
        page.reload()
        heading(page, "Sign in to SteelScan")
        page.goto(f"{url}/review_queue")
        heading(page, "Sign in to SteelScan")
        assert page.get_by_role("heading", name="Review queue").count() == 0
    live = [u for u in accounts.list_users() if u["username"] == "erin"]
    assert live and accounts.sign_in_failures() == []
    accounts.close()
