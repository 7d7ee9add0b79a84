"""The decision screen's keys and the batch overview in a real browser (issue 37, items 6 and 7): `?` opens an
overlay listing every shortcut, the arrows move between sheets, Enter with nothing to do says so; the overview shows
a decision at once, numbered as the sheet list."""

from __future__ import annotations

import os
import re

import pytest

from core.accounts.auth import Accounts
from tests.app_pages.test_layout_browser import WAIT_MS
from tests.app_pages.test_shift_browser import SETTINGS, SHOWN, idle, shown, sign_in, upload
from tests.helpers.browser import chromium_page, streamlit_server
from tests.helpers.dashboard import KNOWN_SET, PASSWORD, dashboard_env, models_dir, strip_png  # noqa: F401

playwright_api = pytest.importorskip("playwright.sync_api")
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("dashboard_env")]


@pytest.fixture
def server(tmp_path):
    settings = {key: os.environ[key] for key in SETTINGS}
    settings["STEELSCAN_SIGN_IN_FIRST_DELAY_SECONDS"] = "0"
    settings["STEELSCAN_MODEL_SET"] = KNOWN_SET  # fast: every sheet "pits"
    accounts = Accounts(settings["STEELSCAN_DATABASE_URL"])
    accounts.add_user("ivan", PASSWORD, "inspector", created_by="test")
    accounts.close()
    with streamlit_server(settings, tmp_path / "streamlit.log") as url:
        yield url


def number_shown(page) -> int:
    return int(re.search(r"(\d+)\. [•✓] ", shown(page)).group(1))


def test_question_mark_arrows_enter_and_an_overview_that_follows_decisions(server, tmp_path):
    files = []
    for seed in range(3):
        files.append(tmp_path / f"strip_{seed}.png")
        files[-1].write_bytes(strip_png(300 + seed))
    with chromium_page(tmp_path / "ivan", height=768, width=1366) as page:
        sign_in(page, server, "ivan")
        upload(page, files)
        page.get_by_text(re.compile(r"\b3 sheets · 0 decided\b")).first.wait_for(timeout=WAIT_MS)
        idle(page)

        page.keyboard.press("?")
        overlay = page.get_by_role("dialog", name="Keyboard shortcuts")
        overlay.wait_for(timeout=5_000)
        listed = overlay.text_content()
        for words in ("accept the model's verdict", "defect-free", "override", "skip", "next sheet",
                      "previous sheet", "toggle class", "false alarm", "missed defect", "wrong class", "unsure",
                      "reason box", "close the form"):
            assert words in listed, f"{words!r} missing from the shortcuts overlay: {listed}"
        page.keyboard.press("?")
        overlay.wait_for(state="detached", timeout=5_000)

        assert number_shown(page) == 1
        page.keyboard.press("ArrowRight")
        page.wait_for_function("() => /\\b2\\. [•✓] /.test(" + SHOWN_JS + ")", timeout=WAIT_MS)
        idle(page)
        page.keyboard.press("ArrowLeft")
        page.wait_for_function("() => /\\b1\\. [•✓] /.test(" + SHOWN_JS + ")", timeout=WAIT_MS)
        idle(page)

        page.keyboard.press("Enter")
        page.get_by_text(re.compile("Enter alone changes nothing")).first.wait_for(timeout=WAIT_MS)

        # The overview, open below: a decision shows there at once, in the sheet list's numbering.
        page.get_by_text(re.compile(r"^Batch overview")).click()
        cards = page.locator("[class*='st-key-overview-sheet-']")
        cards.nth(2).wait_for(timeout=WAIT_MS)
        titles = [re.match(r"\s*(\d+\. \S+\.png)", cards.nth(i).text_content()).group(1) for i in range(3)]
        assert titles == ["1. strip_0.png", "2. strip_1.png", "3. strip_2.png"], titles
        assert "undecided" in cards.nth(0).text_content()
        page.keyboard.press("a")
        page.get_by_text(re.compile(r"\b3 sheets · 1 decided\b")).first.wait_for(timeout=WAIT_MS)
        page.wait_for_function("() => { const c = document.querySelector(\"[class*='st-key-overview-sheet-']\");"
                               " return c && c.textContent.includes('✓ pits · ivan'); }", timeout=WAIT_MS)


SHOWN_JS = "(" + SHOWN + ")"
