"""The Coils page in a real browser at 1366x768 (headless Chromium, `streamlit run app.py`): a coil the watcher
recorded from synthetic strips named with their coil and position, some sheets corrected by inspectors; the grade,
the counts and the defect map are on screen, and a click on a marker opens that sheet.

STEELSCAN_SCREENS=1 writes the screenshot to docs/screens/coils.png (the README's picture); otherwise to tmp.
"""

from __future__ import annotations

import os
import re

import pytest

from core.accounts.auth import Accounts
from core.review.store import Decision
from tests.app_pages.test_app import open_log
from tests.app_pages.test_app_coils import feed_the_watcher
from tests.app_pages.test_shift_browser import SETTINGS, sign_in
from tests.helpers.browser import chromium_page, streamlit_server
from tests.helpers.dashboard import KNOWN_SET, PASSWORD, ROOT, dashboard_env, models_dir  # noqa: F401  (fixtures)

playwright_api = pytest.importorskip("playwright.sync_api")
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("dashboard_env")]
WIDTH, HEIGHT = 1366, 768
WAIT_MS = 120_000
COIL = "H24A017"
# Along a 230 m coil: what the inspectors said each sheet shows (the model called every one "pits").
CORRECTED = {0: (), 10: (), 20: ("scratches",), 30: (), 40: (), 60: ("patches",), 70: (), 80: (), 90: (),
             110: ("crazing",), 120: (), 130: ("scratches",), 140: (), 150: (), 170: (), 180: ("scratches",),
             190: (), 200: (), 220: ("crazing", "scratches"), 230: ()}
POSITIONS = sorted({*CORRECTED, 50, 100, 160, 210})


@pytest.fixture
def server(tmp_path, monkeypatch):
    monkeypatch.setenv("STEELSCAN_MODEL_SET", KNOWN_SET)  # every sheet "pits" at 0.9
    monkeypatch.setenv("STEELSCAN_COIL_MINOR_CLASSES", "crazing")
    monkeypatch.setenv("STEELSCAN_COIL_GRADE_RULE", "A: 0 defects; B: 0 major and <= 2 minor; C: otherwise")
    feed_the_watcher(tmp_path / "cam" / "earlier", ["C0991_0m.png", "C0991_30m.png"])
    feed_the_watcher(tmp_path / "cam" / "now", [f"{COIL}_{m}m.png" for m in POSITIONS], seed0=700)
    log = open_log()
    for sheet in log.coil_sheets(COIL):
        if sheet.position in CORRECTED:
            log.add_review(sheet.inference_id, "ivan", Decision.override(
                log.verdict(sheet.inference_id), CORRECTED[int(sheet.position)], "checked at the line"))
    settings = {key: os.environ[key] for key in SETTINGS}
    settings.update({key: os.environ[key] for key in ("STEELSCAN_COIL_MINOR_CLASSES", "STEELSCAN_COIL_GRADE_RULE")},
                    STEELSCAN_SIGN_IN_FIRST_DELAY_SECONDS="0")
    accounts = Accounts(settings["STEELSCAN_DATABASE_URL"])
    accounts.add_user("sam", PASSWORD, "supervisor", created_by="test")
    accounts.close()
    with streamlit_server(settings, tmp_path / "streamlit.log") as url:
        yield url


def test_the_coil_page_at_1366x768_draws_the_coil_and_a_click_opens_a_sheet(server, tmp_path):
    screens = ROOT / "docs" / "screens" if os.environ.get("STEELSCAN_SCREENS") == "1" else tmp_path
    screens.mkdir(parents=True, exist_ok=True)
    with chromium_page(tmp_path / "sam", height=HEIGHT, width=WIDTH) as page:
        sign_in(page, server, "sam")
        page.get_by_role("link", name=re.compile("Coils")).click()
        page.get_by_role("heading", name="Coils").wait_for(timeout=WAIT_MS)
        chart = page.locator(".js-plotly-plot").first
        chart.wait_for(timeout=WAIT_MS)
        page.wait_for_function("() => document.querySelector('[data-testid=\"stApp\"]')"
                               ".getAttribute('data-test-script-state') === 'notRunning'", timeout=WAIT_MS)
        page.screenshot(path=str(screens / "coils.png"))

        def metric(label: str) -> str:
            box = page.locator("[data-testid='stMetric']").filter(
                has=page.locator("[data-testid='stMetricLabel']", has_text=re.compile(f"^{label}$")))
            return box.locator("[data-testid='stMetricValue']").inner_text().strip()

        assert metric("Grade") == "C"  # 4 sheets with pits, a major class
        assert (metric("pits"), metric("crazing"), metric("scratches"), metric("patches")) == ("4", "2", "4", "1")
        # One row per class and one of every sheet; markers where sheets have the class.
        assert chart.locator(".scatterlayer .trace").count() == 5
        assert chart.locator(".scatterlayer .trace").nth(0).locator("path.point").count() == 4  # pits
        box = chart.bounding_box()
        assert box is not None and box["y"] + box["height"] <= HEIGHT, f"the map leaves the screen: {box}"

        # Where a person clicks: Plotly's drag layer takes the click and finds the marker under it (pits at 50 m).
        point = chart.locator(".scatterlayer .trace").nth(0).locator("path.point").first.bounding_box()
        page.mouse.click(point["x"] + point["width"] / 2, point["y"] + point["height"] / 2)
        page.get_by_text(re.compile(r"50 m from the head end")).wait_for(timeout=WAIT_MS)
        assert page.get_by_text(re.compile(r"Label: pits \(the model's verdict\)")).count() == 1
