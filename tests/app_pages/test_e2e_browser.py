"""End to end in a real browser: `streamlit run app.py` on a free port, Debian's headless Chromium
driven by Playwright. Sign in, upload a sample strip, accept its verdict, see the statistics change."""

from __future__ import annotations

import os
import re

import pytest

from core.accounts.auth import Accounts
from core.review.store import ReviewLog
from tests.helpers.browser import chromium_page, streamlit_server
from tests.helpers.dashboard import MODEL_SET, PASSWORD, ROOT, dashboard_env, models_dir  # noqa: F401  (fixtures)

SAMPLE = ROOT / "sample_images" / "train_images" / "synth_900011.jpg"
playwright_api = pytest.importorskip("playwright.sync_api")
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("dashboard_env")]
SETTINGS = ("STEELSCAN_MODELS_DIR", "STEELSCAN_MODEL_SET", "STEELSCAN_DATABASE_URL", "STEELSCAN_IMAGE_STORE",
            "STEELSCAN_DEVICE", "STEELSCAN_SETTINGS")


def expect_metric(page, label: str, value: str) -> None:
    """Waits (Playwright retries) until the metric shows the value: reruns land asynchronously."""
    box = page.locator('[data-testid="stMetric"]').filter(has_text=label)
    playwright_api.expect(box.locator('[data-testid="stMetricValue"]')).to_have_text(value, timeout=60_000)


def open_page(page, title: str) -> None:
    page.get_by_role("link", name=title).click()
    page.get_by_role("heading", name=title).wait_for()


def test_sign_in_upload_accept_and_statistics_change_in_chromium(tmp_path):
    settings = {key: os.environ[key] for key in SETTINGS}  # the tmp paths dashboard_env set
    # The growing delay after a failed sign-in is unit-tested (tests/core/accounts/test_throttle.py); here the
    # second attempt follows the wrong one at once.
    settings["STEELSCAN_SIGN_IN_FIRST_DELAY_SECONDS"] = "0"
    assert SAMPLE.is_file(), f"{SAMPLE} is missing: run `python sample_images/make_samples.py`"
    accounts = Accounts(settings["STEELSCAN_DATABASE_URL"])
    accounts.add_user("erin", PASSWORD, "supervisor", created_by="test")
    accounts.close()
    with streamlit_server(settings, tmp_path / "streamlit.log") as url, \
            chromium_page(tmp_path / "chromium-profile") as page:
        page.goto(url)
        page.get_by_role("heading", name="Sign in to SteelScan").wait_for()
        page.get_by_label("User name").fill("erin")
        page.get_by_role("textbox", name="Password").fill("not-her-password")
        page.get_by_role("button", name="Sign in").click()
        page.get_by_text("wrong user name or password").wait_for()
        page.get_by_label("User name").fill("erin")
        page.get_by_role("textbox", name="Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("heading", name="Inspect").wait_for()
        page.get_by_text("Signed in: erin · supervisor").wait_for()
        nav = page.locator('[data-testid="stSidebarNav"]')
        for title in ("Inspect", "Review queue", "Statistics", "Models"):
            nav.get_by_role("link", name=title).wait_for()
        assert nav.get_by_role("link", name="Users").count() == 0  # admins only

        page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(str(SAMPLE))
        accept = page.get_by_role("button", name=re.compile(r"^Accept: "))
        accept.wait_for()
        page.get_by_text(f"Model set {MODEL_SET}").first.wait_for()

        open_page(page, "Statistics")
        expect_metric(page, "Sheets inspected", "1")
        expect_metric(page, "Reviewed", "0")

        open_page(page, "Inspect")
        page.get_by_role("button", name=re.compile(r"^Accept: ")).click()
        page.get_by_text(re.compile(r"Decided: .* · erin · ")).first.wait_for()  # the label now, who decided

        open_page(page, "Statistics")
        expect_metric(page, "Reviewed", "1")
        expect_metric(page, "Override rate", "0%")
        page.locator('[data-testid="stPlotlyChart"]').nth(1).wait_for()  # charts render one by one, after the metrics
        assert page.locator('[data-testid="stPlotlyChart"]').count() >= 2

        page.get_by_role("button", name="Sign out").click()
        page.get_by_role("heading", name="Sign in to SteelScan").wait_for()
    log = ReviewLog(settings["STEELSCAN_DATABASE_URL"], settings["STEELSCAN_IMAGE_STORE"])
    assert log.reviews_frame()["reviewer"].tolist() == ["erin"]  # the signed-in user, never a typed name
    log.close()
