"""The decision area stays on screen at 1366x768 (issue 37, item 5): Accept and Override inside the viewport after a
second upload with the upload panel opened again, under upload errors, in the Review queue with square and tall
images, and the override form's class toggles and quick reasons too."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.accounts.auth import Accounts
from tests.app_pages.test_shift_browser import SETTINGS, idle, sign_in, upload
from tests.helpers.browser import chromium_page, streamlit_server
from tests.helpers.dashboard import KNOWN_SET, PASSWORD, dashboard_env, models_dir, strip_png  # noqa: F401

playwright_api = pytest.importorskip("playwright.sync_api")
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("dashboard_env")]
WIDTH, HEIGHT = 1366, 768
WAIT_MS = 120_000

TO_TOP = """() => { for (const e of document.querySelectorAll('*')) { if (e.scrollTop) e.scrollTop = 0; }
                    window.scrollTo(0, 0); }"""


QUEUE_SHOWN = ("(() => { const box = document.querySelector('[class*=\"st-key-queue-sheet-pick-\"]');"
               " const input = box && box.querySelector('input');"
               " return box ? box.textContent + ' ' + (input ? input.value : '') : ''; })()")


def picture(path: Path, width: int, height: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    pixels = (rng.normal(128, 20, (height, width, 3))).clip(0, 255).astype(np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def on_screen(page, locator, what: str, shots: Path) -> None:
    """`locator`'s box lies inside the 1366x768 viewport with the page scrolled to its top."""
    page.evaluate(TO_TOP)
    locator.wait_for(timeout=WAIT_MS)
    box = locator.bounding_box()
    inside = box is not None and box["x"] >= 0 and box["y"] >= 0 and box["x"] + box["width"] <= WIDTH \
        and box["y"] + box["height"] <= HEIGHT
    if not inside:
        page.screenshot(path=str(shots / f"off-screen-{re.sub(r'[^a-z0-9]+', '-', what.lower())}.png"))
    assert inside, f"{what}: {box} is not inside {WIDTH}x{HEIGHT} (screenshot in {shots})"


def decision_row_on_screen(page, what: str, shots: Path) -> None:
    on_screen(page, page.get_by_role("button", name=re.compile(r"^Accept")), f"Accept, {what}", shots)
    on_screen(page, page.get_by_role("button", name=re.compile(r"^Override")), f"Override, {what}", shots)


@pytest.fixture
def server(tmp_path):
    settings = {key: os.environ[key] for key in SETTINGS}
    settings["STEELSCAN_SIGN_IN_FIRST_DELAY_SECONDS"] = "0"
    settings["STEELSCAN_MODEL_SET"] = KNOWN_SET  # every sheet "pits" at 0.9: defective, so flagged and queued
    accounts = Accounts(settings["STEELSCAN_DATABASE_URL"])
    accounts.add_user("ivan", PASSWORD, "inspector", created_by="test")
    accounts.close()
    with streamlit_server(settings, tmp_path / "streamlit.log") as url:
        yield url


def test_the_decision_area_stays_on_screen_at_1366x768(server, tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    strips = []
    for seed in range(2):
        strips.append(folder / f"strip_{seed}.png")
        strips[-1].write_bytes(strip_png(900 + seed))
    square = picture(folder / "square.png", 320, 320, 1)
    tall = picture(folder / "tall.png", 160, 640, 2)
    broken = [folder / f"broken_{i}.png" for i in range(3)]
    for path in broken:
        path.write_bytes(b"not an image at all" * 10)
    with chromium_page(tmp_path / "ivan", height=HEIGHT, width=WIDTH) as page:
        sign_in(page, server, "ivan")
        upload(page, strips)
        page.get_by_text(re.compile(r"\b2 sheets · 0 decided\b")).first.wait_for(timeout=WAIT_MS)
        idle(page)
        decision_row_on_screen(page, "first upload", tmp_path)

        # A second upload through the panel opened again, with files the decoder refuses among them.
        page.get_by_text("Add images: upload or open a folder").click()
        upload(page, [square, tall, *broken])
        page.get_by_text(re.compile(r"\b4 sheets · 0 decided\b")).first.wait_for(timeout=WAIT_MS)
        page.locator("[data-testid='stAlert']").filter(has_text="broken_0.png").first.wait_for(timeout=WAIT_MS)
        idle(page)
        decision_row_on_screen(page, "second upload with errors", tmp_path)

        # The override form: every class toggle and quick reason on screen.
        page.keyboard.press("o")
        page.get_by_role("button", name=re.compile(r"wrong class")).wait_for(timeout=WAIT_MS)
        idle(page)
        for name in ("pits", "patches", "false alarm", "unsure: needs a second look"):
            on_screen(page, page.get_by_role("button", name=re.compile(rf"\b{re.escape(name)}\b")).first,
                      f"override form: {name}", tmp_path)
        page.keyboard.press("Escape")

        # The Review queue, a square and a tall picture among the sheets it serves.
        page.get_by_role("link", name=re.compile("Review queue")).click()
        page.get_by_role("heading", name="Review queue").wait_for()
        seen = set()
        for _ in range(4):
            page.get_by_role("button", name=re.compile(r"^Accept")).wait_for(timeout=WAIT_MS)
            page.wait_for_function("() => document.querySelector('[data-testid=\"stApp\"]')"
                                   ".getAttribute('data-test-script-state') === 'notRunning'", timeout=WAIT_MS)
            name = re.search(r"(strip_\d|square|tall)\.png", page.evaluate(f"() => {QUEUE_SHOWN}")).group(1)
            seen.add(name)
            decision_row_on_screen(page, f"review queue, {name}", tmp_path)
            if name in ("square", "tall"):
                page.keyboard.press("o")
                page.get_by_role("button", name=re.compile(r"wrong class")).wait_for(timeout=WAIT_MS)
                for label in ("pits", "patches", "unsure: needs a second look"):
                    on_screen(page, page.get_by_role("button", name=re.compile(rf"\b{re.escape(label)}\b")).first,
                              f"review queue override form ({name}): {label}", tmp_path)
                page.keyboard.press("Escape")
                page.get_by_role("button", name=re.compile(r"wrong class")).wait_for(state="detached")
            before = name
            page.keyboard.press("a")
            page.wait_for_function(f"b => !({QUEUE_SHOWN}).includes(b)", arg=f"{before}.png", timeout=WAIT_MS)
        assert {"square", "tall"} <= seen
