"""Masks painted by inspectors (issue 12): checked against the sheet, stored append-only with who drew each
mask, shown in the history, exported in train.csv; only sheets still lacking a mask go to needs_masks.csv.
Full-size Severstal strips (1600x256) where the shape matters."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest
from PIL import Image

from core.datasets.severstal import read_severstal
from core.datasets.synthetic import CLASS_NAMES, make_strip
from core.imaging.rle import SEVERSTAL_SHAPE, rle_area, rle_decode, rle_encode
from core.review.store import Decision, DecisionError, ReviewLog, export_training_set, painted_masks
from core.review.tables import history_table
from tests.helpers.dashboard import make_verdict, strip_png

HEIGHT, WIDTH = SEVERSTAL_SHAPE


@pytest.fixture
def log(tmp_path) -> ReviewLog:
    review_log = ReviewLog(f"sqlite:///{tmp_path / 'log.db'}", tmp_path / "images")
    yield review_log
    review_log.close()


def full_strip_png(seed: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(make_strip(seed, (0,)).pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def painted(shape=SEVERSTAL_SHAPE, box=(1500, 200, 1599, 255)) -> np.ndarray:
    """A rectangle touching the strip's right and bottom edges: the last column-major runs."""
    mask = np.zeros(shape, dtype=np.uint8)
    x0, y0, x1, y1 = box
    mask[y0:y1 + 1, x0:x1 + 1] = 1
    return mask


def test_painted_masks_are_checked_against_the_sheet_and_re_encoded():
    mask = painted()
    rle = rle_encode(mask)
    checked = painted_masks({"scratches": rle}, CLASS_NAMES, ("pits", "scratches"), SEVERSTAL_SHAPE)
    assert checked == {"scratches": rle}
    assert np.array_equal(rle_decode(checked["scratches"], SEVERSTAL_SHAPE), mask)
    # Adjacent runs (as a browser may send them) come back as the one canonical run.
    assert painted_masks({"pits": "1 3 4 2"}, CLASS_NAMES, ("pits",), SEVERSTAL_SHAPE) == {"pits": "1 5"}
    assert painted_masks(None, CLASS_NAMES, ("pits",), SEVERSTAL_SHAPE) is None
    assert painted_masks({}, CLASS_NAMES, ("pits",), SEVERSTAL_SHAPE) is None
    failures = {
        "unknown classes": ({"rust": rle}, ("pits",), SEVERSTAL_SHAPE),
        "says is absent": ({"crazing": rle}, ("pits",), SEVERSTAL_SHAPE),
        "does not fit the 256x64 image": ({"pits": rle}, ("pits",), (64, 256)),  # a strip's mask on a crop
        "odd count": ({"pits": "1 2 3"}, ("pits",), SEVERSTAL_SHAPE),
        "is empty": ({"pits": ""}, ("pits",), SEVERSTAL_SHAPE),
    }
    for reason, (masks, classes, shape) in failures.items():
        with pytest.raises(DecisionError, match=reason):
            painted_masks(masks, CLASS_NAMES, classes, shape)


def test_decisions_carry_painted_masks_only_for_classes_they_keep():
    data = full_strip_png(1)
    verdict = make_verdict(data, "strip.png", (0.9, 0.1, 0.1, 0.1))  # pits only
    rle = rle_encode(painted())
    override = Decision.override(verdict, ("pits", "scratches"), "scratch at the edge", {"scratches": rle})
    assert (override.classes, override.masks_rle) == (("pits", "scratches"), {"scratches": rle})
    assert Decision.accept(verdict, {"pits": rle}).masks_rle == {"pits": rle}  # the model's class, redrawn
    assert Decision.accept(verdict).masks_rle is None
    with pytest.raises(DecisionError, match="says is absent"):
        Decision.accept(verdict, {"scratches": rle})
    with pytest.raises(DecisionError, match="says is absent"):  # painted, then called clean: refused, not dropped
        Decision.defect_free(verdict, "no defect after all", {"scratches": rle})
    with pytest.raises(DecisionError, match="does not fit"):
        Decision.accept(make_verdict(strip_png(2), "crop.png", (0.9, 0.1, 0.1, 0.1)), {"pits": rle})


def test_the_log_stores_painted_and_model_masks_append_only_and_the_history_says_which(log):
    data = full_strip_png(2)
    verdict = make_verdict(data, "strip.png", (0.9, 0.1, 0.1, 0.1))
    assert verdict.mask_rles().get("scratches", "") == ""  # the model drew nothing for scratches
    inference_id = log.record_inference(verdict, data)
    first_id = log.add_review(inference_id, "ann", Decision.accept(verdict))
    mask = painted()
    second_id = log.add_review(inference_id, "bob", Decision.change(verdict, ("pits", "scratches"), "scratch missed",
                                                                    first_id, {"scratches": rle_encode(mask)}))
    first, second = log.reviews_of(verdict.image_sha256)
    assert first.masks_rle == {"pits": verdict.mask_rles()["pits"]} and first.mask_sources == {"pits": "model"}
    assert second.masks_rle["pits"] == verdict.mask_rles()["pits"]
    assert np.array_equal(rle_decode(second.masks_rle["scratches"], SEVERSTAL_SHAPE), mask)
    assert second.mask_sources == {"pits": "model", "scratches": "inspector"}
    history = history_table([first, second])
    assert history["masks"].tolist() == ["pits: model", f"pits: model, scratches: painted ({int(mask.sum())} px)"]
    assert int(mask.sum()) == rle_area(second.masks_rle["scratches"]) == 100 * 56
    # The store checks again, whoever built the Decision: a mask of another size never lands in the log.
    wider_mask = rle_encode(painted((HEIGHT, WIDTH + 100), (WIDTH + 50, 0, WIDTH + 60, 10)))
    forged = Decision("override", ("pits", "scratches"), "forged", second_id, {"scratches": wider_mask})
    with pytest.raises(DecisionError, match="does not fit the 1600x256 image"):
        log.add_review(inference_id, "eve", forged)
    assert len(log.reviews_of(verdict.image_sha256)) == 2


def test_export_uses_painted_masks_and_lists_only_unmasked_sheets_as_needing_masks(log, tmp_path):
    mask = painted(box=(10, 0, 40, 30))
    sheets = {}
    for seed, name in enumerate(("painted", "unpainted", "redrawn")):
        data = full_strip_png(10 + seed)
        verdict = make_verdict(data, f"{name}.png", (0.9, 0.1, 0.1, 0.1))
        sheets[name] = (verdict, log.record_inference(verdict, data))
    verdict, inference_id = sheets["painted"]
    first_id = log.add_review(inference_id, "ann", Decision.override(verdict, ("pits", "patches"), "patch missed"))
    log.add_review(inference_id, "bob", Decision.change(verdict, ("pits", "patches"), "painted it", first_id,
                                                        {"patches": rle_encode(mask)}))
    verdict, inference_id = sheets["unpainted"]
    log.add_review(inference_id, "ann", Decision.override(verdict, ("pits", "crazing"), "crazing missed"))
    verdict, inference_id = sheets["redrawn"]
    log.add_review(inference_id, "ann", Decision.accept(verdict, {"pits": rle_encode(mask)}))

    summary = export_training_set(log, tmp_path / "export")
    assert (summary.images, summary.needs_masks) == (2, 1)
    labels = {s.image_path.name: s.rles for s in read_severstal(tmp_path / "export").samples}
    painted_id = f"{sheets['painted'][0].image_sha256[:16]}.png"
    redrawn_id = f"{sheets['redrawn'][0].image_sha256[:16]}.png"
    assert labels[painted_id] == {0: sheets["painted"][0].mask_rles()["pits"], 3: rle_encode(mask)}
    assert labels[redrawn_id] == {0: rle_encode(mask)}  # the inspector's mask replaces the model's
    assert np.array_equal(rle_decode(labels[painted_id][3], SEVERSTAL_SHAPE), mask)
    with (tmp_path / "export" / "needs_masks.csv").open(newline="") as handle:
        (missing,) = list(csv.DictReader(handle))
    assert (missing["original_name"], missing["classes_without_mask"]) == ("unpainted.png", "crazing")
    with (tmp_path / "export" / "decisions.csv").open(newline="") as handle:
        painted_column = [(d["original_name"], d["masks_painted"]) for d in csv.DictReader(handle)]
    assert painted_column == [("painted.png", ""), ("painted.png", "patches"), ("unpainted.png", ""),
                              ("redrawn.png", "pits")]
