"""The mask editor's two halves agree on masks: the browser's RLE (ui/components/mask_editor/editor.js, run in
Chromium) is core.imaging.rle's, bit for bit, on full 1600x256 strips; and what the browser sends is folded into
the painted masks only for the sheet and class it was painted on."""

from __future__ import annotations

import base64

import numpy as np
import pytest

from core.imaging.rle import SEVERSTAL_SHAPE, rle_decode, rle_encode
from tests.helpers.browser import chromium_page
from ui.mask_editor import FRONTEND, take_stroke

HEIGHT, WIDTH = SEVERSTAL_SHAPE


def masks_with_edges() -> dict[str, np.ndarray]:
    """Masks whose runs touch every place an off-by-one would show: first/last pixel, column wraps, full, empty."""
    rng = np.random.default_rng(7)
    corners = np.zeros(SEVERSTAL_SHAPE, dtype=np.uint8)
    corners[0, 0] = corners[-1, -1] = corners[-1, 0] = corners[0, -1] = 1
    wrap = np.zeros(SEVERSTAL_SHAPE, dtype=np.uint8)
    wrap[200:, 10] = wrap[:50, 11] = 1  # one run crossing from column 10 into 11 (column-major order)
    blobs = (rng.random(SEVERSTAL_SHAPE) < 0.3).astype(np.uint8)
    return {"empty": np.zeros(SEVERSTAL_SHAPE, np.uint8), "full": np.ones(SEVERSTAL_SHAPE, np.uint8),
            "corners": corners, "wrap": wrap, "noise": blobs}


def test_take_stroke_keeps_only_this_sheet_and_class_and_drops_a_return_to_the_model():
    model = np.zeros(SEVERSTAL_SHAPE, np.uint8)
    model[100:120, 500:700] = 1
    model_rle, painted = rle_encode(model), {}
    grown = model.copy()
    grown[100:140, 500:900] = 1
    take_stroke({"token": "other-sheet", "rle": rle_encode(grown)}, "t", "pits", model_rle, SEVERSTAL_SHAPE, painted)
    assert painted == {}
    split = rle_encode(grown).split()
    as_pieces = " ".join([split[0], "1", str(int(split[0]) + 1), str(int(split[1]) - 1)] + split[2:])
    take_stroke({"token": "t", "rle": as_pieces}, "t", "pits", model_rle, SEVERSTAL_SHAPE, painted)
    assert painted == {"pits": rle_encode(grown)}  # canonical runs, whatever the browser sent
    take_stroke({"token": "t", "rle": model_rle}, "t", "pits", model_rle, SEVERSTAL_SHAPE, painted)
    assert painted == {}  # reset to the model: nothing of the inspector's left
    take_stroke({"token": "t", "rle": ""}, "t", "pits", model_rle, SEVERSTAL_SHAPE, painted)
    assert painted == {"pits": ""}  # erased all the model drew: kept, so the decision can refuse it
    with pytest.raises(ValueError, match="outside"):
        take_stroke({"token": "t", "rle": f"{HEIGHT * WIDTH} 2"}, "t", "pits", model_rle, SEVERSTAL_SHAPE, painted)


@pytest.mark.slow
def test_the_browser_encodes_and_decodes_rle_exactly_as_core_does(tmp_path):
    script = (FRONTEND / "editor.js").read_text() + "\nwindow.rle = { rleEncode, rleDecode };\n"
    with chromium_page(tmp_path / "profile") as page:
        page.set_content("<html><body></body></html>")
        page.add_script_tag(content=script, type="module")
        page.wait_for_function("() => window.rle !== undefined")
        for name, mask in masks_with_edges().items():
            rle = rle_encode(mask)
            bits = base64.b64encode(mask.tobytes()).decode()  # row-major bytes, as the editor holds them
            encoded, decoded_again = page.evaluate(
                """([bits, rle, w, h]) => {
                    const mask = Uint8Array.from(atob(bits), (c) => c.charCodeAt(0));
                    return [window.rle.rleEncode(mask, w, h),
                            window.rle.rleEncode(window.rle.rleDecode(rle, w, h), w, h)];
                }""", [bits, rle, WIDTH, HEIGHT])
            assert encoded == rle, name
            assert decoded_again == rle, name
            assert np.array_equal(rle_decode(encoded, SEVERSTAL_SHAPE), mask), name
