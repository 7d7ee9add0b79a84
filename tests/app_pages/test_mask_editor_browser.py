"""Issue 12's "done when" for painted masks, in a real browser: on a sheet whose model mask for a class is empty,
an inspector paints that class (a brush stroke and a box, mouse drags on the canvas), overrides the verdict to
add it, and the export's train.csv holds the painted mask at the strip's full resolution."""

from __future__ import annotations

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


def choose(page, testid: str, label: str, option: str) -> None:
    page.locator(f'[data-testid="{testid}"]').filter(has_text=label).click()
    page.get_by_role("option", name=option, exact=True).click()


def drag(page, canvas, start: tuple[int, int], end: tuple[int, int]) -> tuple[tuple[int, int], tuple[int, int]]:
    """Drag between two image pixels; returns them, for checking the exported mask."""
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
    return start, end


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
        page.get_by_role("button", name="Accept: Defective: pits").wait_for()

        page.get_by_text("Edit masks").click()
        choose(page, "stSelectbox", "Class to paint", PAINTED)
        page.get_by_text(f"{PAINTED}: 0 px marked").wait_for()  # starts from the model's (empty) mask
        canvas = page.get_by_test_id("mask-editor-canvas")
        canvas.wait_for()
        stroke = drag(page, canvas, (300, 128), (420, 128))  # the brush: a horizontal scratch
        page.get_by_role("button", name="Box", exact=True).click()
        box = drag(page, canvas, (1000, 40), (1100, 90))  # the box tool: a filled rectangle
        status = page.get_by_text(re.compile(rf"^{PAINTED}: [\d,]+ px marked$"))
        marked = re.search(r"([\d,]+) px", status.inner_text()).group(1)
        assert marked != "0"
        page.get_by_text(f"Painted: {PAINTED} ({marked} px)").wait_for()  # Python has the last stroke
        editor = page.locator('[data-testid="stExpander"]').filter(has_text="Edit masks")
        editor.scroll_into_view_if_needed()
        editor.screenshot(path=tmp_path / "mask_editor.png")
        page.screenshot(path=tmp_path / "mask_editor_page.png")

        choose(page, "stMultiSelect", "Classes actually present", PAINTED)
        page.keyboard.press("Escape")
        page.get_by_label("Reason (required)").fill("scratch the model missed")
        page.get_by_role("button", name="Override with these classes").click()
        page.get_by_text("Reviewed:").wait_for()

    log = ReviewLog(settings["STEELSCAN_DATABASE_URL"], settings["STEELSCAN_IMAGE_STORE"])
    (review,) = log.reviews_of(log.reviews_frame()["image_sha256"].iloc[0])
    assert review.mask_sources == {"pits": "model", PAINTED: "inspector"}
    summary = export_training_set(log, tmp_path / "export")
    log.close()
    assert (summary.images, summary.needs_masks) == (1, 0)
    (sample,) = read_severstal(tmp_path / "export").samples
    mask = rle_decode(sample.rles[CLASS_NAMES.index(PAINTED)], SEVERSTAL_SHAPE)
    (x0, y0), (x1, y1) = box
    assert mask[y0:y1 + 1, x0:x1 + 1].all()  # the whole rectangle, at full resolution
    (sx0, sy), (sx1, _) = stroke
    assert mask[sy, sx0:sx1 + 1].all()  # the stroke's path, unbroken
    outside = np.ones(SEVERSTAL_SHAPE, dtype=bool)
    outside[sy - 12:sy + 13, sx0 - 12:sx1 + 13] = False
    outside[y0:y1 + 1, x0:x1 + 1] = False
    assert not mask[outside].any()  # nothing painted anywhere else
    assert (tmp_path / "mask_editor.png").stat().st_size > 0
