"""The out-of-distribution score: the statistics alone, a fitted tiny model set, and the shipped
synthetic set on real Severstal strips (it must flag them, and not its own kind of strip)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from core.contract.errors import ModelSetError
from core.contract.verdict import Verdict
from core.datasets import open_dataset
from core.datasets.synthetic import make_strip
from core.engine.domain import calibrate, fit_domain
from core.engine.inference import Inspector
from core.modelsets.modelset import read_card
from tests.conftest import PROJECT, make_tiny_model_set
from tests.core.datasets.test_yolo import write_yolo

SYNTHETIC_SET = PROJECT / "models" / "severstal-synthetic"


def test_calibrated_scores_separate_shifted_features():
    rng = np.random.default_rng(0)
    basis = rng.standard_normal((8, 64))
    train = rng.standard_normal((300, 8)) @ basis + 0.1 * rng.standard_normal((300, 64))
    fresh = rng.standard_normal((200, 8)) @ basis + 0.1 * rng.standard_normal((200, 64))
    unlike = fresh + rng.standard_normal((200, 64))  # off the training subspace
    model, training_scores = calibrate(train, percentile=99.0)
    assert np.mean(training_scores > 1) == pytest.approx(0.01, abs=0.01)
    assert np.mean(model.scores(fresh) > 1) < 0.05
    assert np.mean(model.scores(unlike) > 1) == 1.0


def write_strips(root: Path, seeds) -> None:
    """Small synthetic strips as a YOLO folder (clean labels: the domain needs only the images)."""
    import cv2

    write_yolo(root, {"train": {f"s{seed}": "" for seed in seeds}}, "train: images/train\nnames: [x]\n")
    for seed in seeds:
        strip = make_strip(seed, classes=(), height=64, width=320)
        cv2.imwrite(str(root / "images" / "train" / f"s{seed}.png"), strip.pixels)


@pytest.fixture(scope="module")
def fitted(tmp_path_factory) -> Path:
    folder = make_tiny_model_set(tmp_path_factory.mktemp("domain") / "tiny")
    data = tmp_path_factory.mktemp("strips") / "yolo"
    write_strips(data, range(30))
    before = read_card(folder)
    card = fit_domain(folder, open_dataset(data), device="cpu")
    assert card.fingerprint == before.fingerprint and card.sha256 == before.sha256
    return folder


def test_fit_domain_records_the_training_domain_in_the_card(fitted):
    domain = json.loads((fitted / "card.json").read_text())["domain"]
    assert domain["images"] == 30 and domain["class_counts"] == {"x": 0, "clean": 30}
    assert domain["image_size"] == {"width": [320, 320], "height": [64, 64]}
    assert domain["data_fingerprint"].startswith("sha256:") and (fitted / domain["stats_file"]).is_file()


def test_verdicts_carry_the_score_and_unlike_images_are_out_of_domain(fitted):
    inspector = Inspector.load(fitted, "cpu", batch_size=4)
    familiar = [make_strip(seed, classes=(), height=64, width=320).pixels for seed in range(100, 108)]
    rng = np.random.default_rng(1)
    unlike = [rng.integers(0, 255, (64, 320, 3), dtype=np.uint8) for _ in range(4)]  # sensor noise, no steel
    squares = (np.indices((64, 320)).sum(0) // 8 % 2 * 255).astype(np.uint8)
    unlike.append(np.repeat(squares[:, :, None], 3, axis=2))  # a calibration chart, not a strip
    seen = list(inspector.inspect_many(familiar))
    odd = list(inspector.inspect_many(unlike))
    assert all(v.ood_score is not None for v in seen + odd)
    assert sum(v.out_of_domain for v in seen) <= 1 and all(v.out_of_domain for v in odd)
    assert max(v.ood_score for v in seen) < min(v.ood_score for v in odd)
    back = Verdict.from_dict(json.loads(json.dumps(odd[0].to_dict())))
    assert back.out_of_domain and back.ood_score == pytest.approx(odd[0].ood_score)


def test_a_changed_statistics_file_is_refused(fitted, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(fitted, copy)
    stats = copy / "domain.safetensors"
    stats.write_bytes(stats.read_bytes()[:-8] + b"\0" * 8)
    with pytest.raises(ModelSetError, match="domain.safetensors.*does not match"):
        Inspector.load(copy, "cpu")
    stats.unlink()
    with pytest.raises(ModelSetError, match="domain.safetensors.*is missing"):
        Inspector.load(copy, "cpu")
    # Re-fitting replaces the broken domain instead of tripping over it.
    data = tmp_path / "again"
    write_strips(data, range(8))
    assert fit_domain(copy, open_dataset(data), device="cpu").domain["images"] == 8
    assert Inspector.load(copy, "cpu").domain is not None


def test_an_export_carries_its_own_domain_used_only_when_it_runs(exported_set, tmp_path):
    """INT8 features are not fp32's (their scores run higher), so an export can have a domain fitted on its own
    features; the set's domain stays for torch. Shown with the ONNX export (an INT8 one takes minutes to make)."""
    import shutil

    copy = tmp_path / "exported"
    shutil.copytree(exported_set, copy)
    data = tmp_path / "strips"
    write_strips(data, range(12))
    set_domain = fit_domain(copy, open_dataset(data), device="cpu").domain
    updated = fit_domain(copy, open_dataset(data), device="cpu", backend="onnx")
    own = updated.exports["onnx-fp32"]["domain"]
    assert own["stats_file"] == "exports/onnx-fp32/domain.safetensors" and own["images"] == 12
    assert updated.domain == set_domain  # the set's own domain is untouched
    torch_run, onnx_run = Inspector.load(copy, "cpu", backend="torch"), Inspector.load(copy, "cpu", backend="onnx")
    assert torch_run.domain.threshold == pytest.approx(updated.domain["threshold_raw"])
    assert onnx_run.domain.threshold == pytest.approx(own["threshold_raw"])
    # ONNX fp32 features equal torch's to ~1e-6 on some CPUs, so the two thresholds may agree: that the ONNX run
    # reads its own statistics is shown by breaking them (below), not by the thresholds differing.
    stats = copy / own["stats_file"]
    stats.write_bytes(stats.read_bytes()[:-8] + b"\0" * 8)
    with pytest.raises(ModelSetError, match="onnx-fp32/domain.safetensors.*does not match"):
        Inspector.load(copy, "cpu", backend="onnx")


def test_verdicts_stored_before_the_score_still_load(tiny_inspector):
    verdict = tiny_inspector.inspect(make_strip(3, height=64, width=320).pixels)
    old = {k: v for k, v in verdict.to_dict().items() if k not in ("ood_score", "out_of_domain")}
    back = Verdict.from_dict(old)
    assert back.ood_score is None and not back.out_of_domain


@pytest.mark.parametrize("backend", ["torch", "auto"])  # auto on a CPU: the shipped OpenVINO INT8 export
def test_the_synthetic_set_flags_real_severstal_strips_not_synthetic_ones(severstal_dir, backend):
    if not read_card(SYNTHETIC_SET).domain:
        pytest.fail("models/severstal-synthetic has no domain: run `steelscan fit-domain models/severstal-synthetic`")
    inspector = Inspector.load(SYNTHETIC_SET, "cpu", batch_size=2, backend=backend)
    real = sorted((severstal_dir / "train_images").glob("*.jpg"))
    synthetic = [make_strip(seed).pixels for seed in range(5000, 5004)]  # seeds training never drew
    real_scores = [v.ood_score for v in inspector.inspect_many(real)]
    synthetic_scores = [v.ood_score for v in inspector.inspect_many(synthetic)]
    assert all(s > 1 for s in real_scores), real_scores
    assert not any(s > 1 for s in synthetic_scores), synthetic_scores
    assert min(real_scores) > max(synthetic_scores)
