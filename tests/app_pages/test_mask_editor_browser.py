"""Issue 12's "done when" for painted masks, in a real browser: on a sheet whose model mask for a class is empty,
an inspector paints that class (a brush stroke and a box, mouse drags on the canvas), overrides the verdict to
add it, and the export's train.csv holds the painted mask at the strip's full resolution."""

from __future__ import annotations

import math
import os
import re

import numpy as np
import pytest

from core.accounts.auth import Accounts
from core.datasets.severstal import read_severstal
from core.datasets.synthetic import CLASS_NAMES
from core.imaging.rle import SEVERSTAL_SHAPE, rle_decode
from core.review.store import ReviewLog, export_training_set
from tests.helpers.browser import chromium_page, streamlit_server
from tests.helpers.dashboard import KNOWN_SET, PASSWORD, ROOT, dashboard_env, models_dir  # noqa: F401  (fixtures)

SAMPLE = ROOT / "sample_images" / "train_images" / "synth_900011.jpg"  # a 1600x256 strip
playwright_api = pytest.importorskip("playwright.sync_api")
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("dashboard_env")]
SETTINGS = ("STEELSCAN_MODELS_DIR", "STEELSCAN_DATABASE_URL", "STEELSCAN_IMAGE_STORE", "STEELSCAN_DEVICE",
            "STEELSCAN_SETTINGS")
PAINTED = "scratches"  # the constant model set's mask for it is empty (tests/helpers/constant_model.py)


IDLE = """() => { const app = document.querySelector('[data-testid="stApp"]');
    return !!app && app.getAttribute("data-test-script-state") === "notRunning"; }"""


def choose(page, label: str, option: str) -> None:
    """Open the select box once the run that drew it has finished (the rest of that run redraws the box and closes
    an open list): first the box on screen, then the page idle."""
    box = page.locator('[data-testid="stSelectbox"]').filter(has_text=label)
    box.wait_for()
    page.wait_for_function(IDLE, timeout=120_000)
    box.click()
    page.get_by_role("option", name=option, exact=True).click()


def drag(page, canvas, start: tuple[int, int], end: tuple[int, int]) -> int:
    """Drag between two image pixels at the editor's Fit zoom; returns how many image pixels one screen pixel
    spans (the mouse lands on whole screen pixels, so that is how closely the mask can follow the drag)."""
    canvas.scroll_into_view_if_needed()  # the mouse reaches only what the 1366x768 window shows
    box = canvas.bounding_box()
    scale = box["width"] / SEVERSTAL_SHAPE[1]
    to_screen = [(box["x"] + (x + 0.5) * scale, box["y"] + (y + 0.5) * scale) for x, y in (start, end)]
    page.mouse.move(*to_screen[0])
    page.mouse.down()
    for step in range(1, 11):
        page.mouse.move(to_screen[0][0] + (to_screen[1][0] - to_screen[0][0]) * step / 10,
                        to_screen[0][1] + (to_screen[1][1] - to_screen[0][1]) * step / 10)
    page.mouse.up()
    return math.ceil(1 / scale)


def test_paint_a_mask_on_an_empty_class_decide_and_find_it_in_the_export(tmp_path):
    settings = {key: os.environ[key] for key in SETTINGS} | {"STEELSCAN_MODEL_SET": KNOWN_SET}
    accounts = Accounts(settings["STEELSCAN_DATABASE_URL"])
    accounts.add_user("ivan", PASSWORD, "inspector", created_by="test")
    accounts.close()
    with streamlit_server(settings, tmp_path / "streamlit.log") as url, \
            chromium_page(tmp_path / "chromium-profile", height=768, width=1366) as page:
        page.goto(url)
        page.get_by_label("User name").fill("ivan")
        page.get_by_role("textbox", name="Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("heading", name="Inspect").wait_for()
        page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(str(SAMPLE))
        page.get_by_role("heading", name="Inspect").click()  # focus off the uploader, so keys reach the page
        page.get_by_role("button", name=re.compile(r"^Accept: pits")).wait_for()

        page.get_by_text("Edit masks").click()
        choose(page, "Class to paint", PAINTED)
        page.get_by_text(f"{PAINTED}: 0 px marked").wait_for()  # starts from the model's (empty) mask
        canvas = page.get_by_test_id("mask-editor-canvas")
        canvas.wait_for()
        (sx0, sy), (sx1, _) = stroke = (300, 128), (420, 128)
        slack = drag(page, canvas, *stroke)  # the brush (12 px wide): a horizontal scratch
        page.get_by_role("button", name="Box", exact=True).click()
        (x0, y0), (x1, y1) = box = (1000, 40), (1100, 90)
        drag(page, canvas, *box)  # the box tool: a filled rectangle
        status = page.get_by_text(re.compile(rf"^{PAINTED}: [\d,]+ px marked$"))
        marked = re.search(r"([\d,]+) px", status.inner_text()).group(1)
        assert marked != "0"
        page.get_by_text(f"Painted: {PAINTED} ({marked} px)").wait_for()  # Python has the last stroke
        editor = page.locator('[data-testid="stExpander"]').filter(has_text="Edit masks")
        editor.scroll_into_view_if_needed()
        editor.screenshot(path=tmp_path / "mask_editor.png")
        page.screenshot(path=tmp_path / "mask_editor_page.png")

        page.get_by_role("button", name=re.compile(r"^Override")).click()
        page.get_by_role("button", name=re.compile(rf"^{PAINTED}")).click()  # mark the class present
        page.get_by_text(re.compile(rf"Will record: pits, {PAINTED}")).wait_for()
        page.get_by_role("button", name=re.compile(r"^missed defect")).click()  # a quick reason records it
        page.get_by_text(re.compile(r"Decided: pits, " + PAINTED)).wait_for()

    log = ReviewLog(settings["STEELSCAN_DATABASE_URL"], settings["STEELSCAN_IMAGE_STORE"])
    (review,) = log.reviews_of(log.reviews_frame()["image_sha256"].iloc[0])
    assert review.mask_sources == {"pits": "model", PAINTED: "inspector"}
    summary = export_training_set(log, tmp_path / "export")
    log.close()
    assert (summary.images, summary.needs_masks) == (1, 0)
    (sample,) = read_severstal(tmp_path / "export").samples
    mask = rle_decode(sample.rles[CLASS_NAMES.index(PAINTED)], SEVERSTAL_SHAPE)
    assert slack <= 2  # Fit zoom on a 1366-wide window: a screen pixel spans at most 2 strip pixels
    assert mask[y0 + slack:y1 - slack + 1, x0 + slack:x1 - slack + 1].all()  # the rectangle, filled
    assert mask[sy, sx0 + slack:sx1 - slack + 1].all()  # the stroke's path, unbroken
    outside = np.ones(SEVERSTAL_SHAPE, dtype=bool)
    reach = 6 + slack  # the brush's radius, plus where the mouse could land
    outside[sy - reach:sy + reach + 1, sx0 - reach:sx1 + reach + 1] = False
    outside[y0 - slack:y1 + slack + 1, x0 - slack:x1 + slack + 1] = False
    assert not mask[outside].any()  # nothing painted anywhere else
    assert mask.sum() > 0.9 * ((x1 - x0 + 1) * (y1 - y0 + 1) + (sx1 - sx0 + 1) * 11)
    assert (tmp_path / "mask_editor.png").stat().st_size > 0
