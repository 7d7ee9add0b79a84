"""The threshold what-if in a real browser (headless Chromium at 1366x768, `streamlit run app.py`, the tiny test model
set): an admin moves the pits threshold with the keyboard, sees the counts change, applies it with a reason, and the
Models page's change log shows it."""

from __future__ import annotations

import os
import re

import pytest

from core.accounts.auth import Accounts
from core.modelsets.modelset import read_card
from core.review.store import ReviewLog
from tests.app_pages.test_app_what_if import seed
from tests.helpers.browser import chromium_page, streamlit_server
from tests.helpers.dashboard import MODEL_SET, PASSWORD, dashboard_env, models_dir  # noqa: F401  (fixtures)

playwright_api = pytest.importorskip("playwright.sync_api")
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("dashboard_env")]
SETTINGS = ("STEELSCAN_MODELS_DIR", "STEELSCAN_MODEL_SET", "STEELSCAN_DATABASE_URL", "STEELSCAN_IMAGE_STORE",
            "STEELSCAN_DEVICE", "STEELSCAN_SETTINGS")
REASON = "what-if: the 0.40 sheet was a real pit"


def metric(page, label: str):
    return page.locator('[data-testid="stMetric"]').filter(has_text=label).locator('[data-testid="stMetricValue"]')


def test_move_the_threshold_apply_it_and_find_it_in_the_change_log(tmp_path, models_dir):  # noqa: F811
    settings = {key: os.environ[key] for key in SETTINGS}
    settings["STEELSCAN_SIGN_IN_FIRST_DELAY_SECONDS"] = "0"
    accounts = Accounts(settings["STEELSCAN_DATABASE_URL"])
    accounts.add_user("ann", PASSWORD, "admin", created_by="test")
    accounts.close()
    fingerprint = read_card(models_dir / MODEL_SET).fingerprint
    log = ReviewLog(settings["STEELSCAN_DATABASE_URL"], settings["STEELSCAN_IMAGE_STORE"])
    seed(log, fingerprint)
    expect = playwright_api.expect
    with streamlit_server(settings, tmp_path / "streamlit.log") as url, \
            chromium_page(tmp_path / "chromium-profile", height=768, width=1366) as page:
        page.goto(f"{url}/what_if")
        page.get_by_label("User name").fill("ann")
        page.get_by_role("textbox", name="Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("heading", name="Threshold what-if").wait_for()
        expect(metric(page, "Flagged, last 7 d")).to_have_text("3 of 6")
        expect(metric(page, "Missed confirmed")).to_have_text("1 of 3")
        page.screenshot(path=str(tmp_path / "what_if_1366x768.png"))

        thumb = page.locator('[data-testid="stSlider"]').get_by_role("slider")
        thumb.focus()
        for _ in range(15):  # 0.50 -> 0.35, one 0.01 step a key
            page.keyboard.press("ArrowLeft")
        apply = page.get_by_role("button", name="Apply 0.35 to pits")
        apply.wait_for()
        expect(metric(page, "Flagged, last 7 d")).to_have_text("4 of 6")
        expect(metric(page, "Missed confirmed")).to_have_text("0 of 3")
        assert log.setting_changes().empty  # moving the slider applies nothing

        page.get_by_label("Reason for the change (required)").fill(REASON)
        apply.click()
        page.get_by_text(re.compile(r"In force: 0\.35, set by ann")).wait_for()
        expect(page.get_by_role("button", name=re.compile(r"^Apply "))).to_be_disabled()
        expect(page.get_by_label("Reason for the change (required)")).to_have_value("")  # the next needs its own
        page.screenshot(path=str(tmp_path / "what_if_applied.png"))

        page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name="Models").click()
        page.get_by_role("heading", name="Change log").wait_for()
        # The grid draws on a canvas; its cells' text is in the accessible table inside it (newest change first).
        cells = page.locator('[data-testid="stDataFrame"]').last.locator('td[role="gridcell"]')
        cells.first.wait_for(state="attached")
        newest = cells.all_text_contents()
        for value in ("ann", "threshold", MODEL_SET, "pits", "0.5", "0.35", REASON):
            assert value in newest, newest
        page.screenshot(path=str(tmp_path / "change_log.png"))
    change = log.setting_changes().iloc[-1]
    assert (change["key"], change["class_name"], change["old_value"], change["new_value"], change["changed_by"],
            change["reason"]) == ("threshold", "pits", "0.5", "0.35", "ann", REASON)
    assert log.class_overrides(fingerprint) == {"pits": {"threshold": 0.35}}
    log.close()
