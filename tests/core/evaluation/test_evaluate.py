"""core.evaluation.evaluate end to end on a tiny set whose metrics are worked out by hand.

The model set is built so its outputs are known exactly: the classifier's last layer has zero
weights and biases giving p(a) = 0.9, p(b) = 0.1 for every image; the U-Net head has zero weights
and biases +20 / -20, so class a's mask covers the whole image and b's is empty. Every image is
therefore called "a" with a full-image mask, whatever it shows."""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.cli.evaluate import main
from tests.helpers.constant_model import write_constant_model

SIDE = 64
# image -> {class id (1 = a, 2 = b): (x0, y0, x1, y1) inclusive box}
BOXES = {
    "img0": {1: (0, 0, 15, 15)},  # a: 256 px
    "img1": {1: (0, 0, 31, 31), 2: (40, 40, 47, 47)},  # a: 1024 px, b: 64 px
    "img2": {},  # clean
    "img3": {2: (10, 10, 25, 25)},  # b: 256 px
}


def write_data(root: Path) -> Path:
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    (root / "classes.txt").write_text("a\nb\n")
    rng = np.random.default_rng(0)
    for name, boxes in BOXES.items():
        cv2.imwrite(str(root / "images" / f"{name}.png"), rng.integers(60, 200, (SIDE, SIDE), dtype=np.uint8))
        if boxes:
            ids = np.zeros((SIDE, SIDE), np.uint8)
            for class_id, (x0, y0, x1, y1) in boxes.items():
                ids[y0 : y1 + 1, x0 : x1 + 1] = class_id
            cv2.imwrite(str(root / "masks" / f"{name}.png"), ids)
    return root


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("evaluate")
    data, model, out = write_data(root / "data"), write_constant_model(root / "model"), root / "report"
    assert main(["--model-set", str(model), "--data", str(data), "--out", str(out), "--device", "cpu"]) == 0
    assert (out / "report.html").is_file() and (out / "confusion.png").stat().st_size > 1000
    return json.loads((out / "metrics.json").read_text()), out


def test_classification_metrics_by_hand(report):
    metrics, _ = report
    cls = metrics["classification"]
    a, b = cls["per_class"]["a"], cls["per_class"]["b"]
    # a called on all 4 images, true on img0 and img1: TP 2, FP 2, FN 0
    assert (a["precision"], a["recall"], a["f1"]) == pytest.approx((0.5, 1.0, 2 / 3))
    # b never called, true on img1 and img3: TP 0, FN 2
    assert (b["precision"], b["recall"], b["f1"]) == (0.0, 0.0, 0.0)
    assert cls["macro"]["f1"] == pytest.approx(1 / 3)
    assert cls["accuracy"] == 0.25  # only img0's call {a} is exactly right
    assert cls["defective_accuracy"] == 0.75  # all called defective; img2 is clean
    assert cls["confusion_matrix"] == [[0, 1], [0, 3]]
    assert cls["per_class_confusion"]["a"] == [[0, 2], [0, 2]]
    # constant scores rank nothing: ROC-AUC 0.5, average precision = prevalence (2 of 4)
    assert a["roc_auc"] == 0.5 and b["roc_auc"] == 0.5
    assert a["pr_auc"] == 0.5 and b["pr_auc"] == 0.5


def test_mask_metrics_by_hand(report):
    seg = report[0]["segmentation"]["per_class"]
    full = SIDE * SIDE
    dice_a = [2 * 256 / (full + 256), 2 * 1024 / (full + 1024), 0.0, 0.0]  # full-image mask against each truth
    assert seg["a"]["dice"] == pytest.approx(np.mean(dice_a))
    assert seg["a"]["dice_positive"] == pytest.approx(np.mean(dice_a[:2]))
    assert seg["a"]["iou"] == pytest.approx(np.mean([256 / full, 1024 / full, 0, 0]))
    # b: empty prediction; empty truth on img0/img2 scores 1, missed b on img1/img3 scores 0
    assert seg["b"]["dice"] == 0.5 and seg["b"]["dice_positive"] == 0.0


def test_glare_check_and_gallery(report):
    metrics, out = report
    glare = metrics["glare_robustness"]
    assert set(glare) == {"brightened", "darkened", "glare_spot", "reference"}
    # this model ignores its input, so no condition may change any metric
    assert all(v == 0 for name in ("brightened", "darkened", "glare_spot") for v in glare[name]["drop"].values())
    mistakes = metrics["confident_mistakes"]
    assert {Path(m["image"]).stem for m in mistakes} == {"img1", "img2", "img3"}
    assert all(m["confidence"] == pytest.approx(0.4, abs=1e-3) for m in mistakes)  # |0.9 - 0.5| or |0.1 - 0.5|
    assert len(list((out / "mistakes").glob("*.png"))) == 3


def test_unreadable_dataset_exits_non_zero_with_a_message(tmp_path, capsys):
    model = write_constant_model(tmp_path / "model")
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "train.csv").write_text("not,a,severstal,header\n")
    (tmp_path / "junk" / "train_images").mkdir()
    assert main(["--model-set", str(model), "--data", str(tmp_path / "junk"), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "train.csv" in err and "neither Severstal format" in err


def test_class_count_mismatch_is_refused(tmp_path, capsys):
    model = write_constant_model(tmp_path / "model")
    data = write_data(tmp_path / "data")
    (data / "classes.txt").write_text("a\nb\nc\n")
    assert main(["--model-set", str(model), "--data", str(data), "--device", "cpu", "--no-glare"]) == 2
    assert "3 classes, the model set 2" in capsys.readouterr().err
