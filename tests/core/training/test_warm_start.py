"""Warm starts: a run started from a trained model set begins where that set ended (its first loss is below a cold
start's on the same images), loads its heads when the classes match, and an untrained set falls back to `auto`."""

import pytest

from core.cli.train import build_parser
from core.modelsets.modelset import create_untrained, read_card
from core.training.pipeline import run
from core.training.start import resolve_start
from tests.core.training.test_pipeline import write_mask_folder

OPTIONS = ["--input-size", "64", "--batch-size", "8", "--validations", "1", "--val-fraction", "0.25",
           "--no-augment", "--lr", "2e-3"]


def train(data, out, tmp_path, *extra) -> dict:
    argv = [str(data), "--out", str(out), "--run-dir", str(tmp_path / f"run-{out.name}"), *OPTIONS, *extra]
    return run(build_parser().parse_args(argv), "test")


@pytest.mark.slow
def test_a_warm_start_begins_where_the_active_set_ended(tmp_path):
    data = write_mask_folder(tmp_path / "data")
    first = tmp_path / "first"
    train(data, first, tmp_path, "--steps", "40", "--pretrained", "none")
    warm = train(data, tmp_path / "warm", tmp_path, "--steps", "2", "--pretrained", str(first))
    cold = train(data, tmp_path / "cold", tmp_path, "--steps", "2", "--pretrained", "none")
    assert warm["classifier_losses"][0] < cold["classifier_losses"][0]
    start = read_card(tmp_path / "warm").training["start"]
    assert start["kind"] == "model-set" and start["path"] == str(first)
    assert start["sha256"] == read_card(first).fingerprint
    assert start["loaded"] == ["backbone", "head", "U-Net decoder", "mask head"]


def test_an_untrained_or_other_network_set_falls_back_to_auto_and_says_why(tmp_path):
    untrained = tmp_path / "untrained"
    create_untrained(untrained, "untrained", ("blob", "stripes"), classifier_architecture="resnet-slim",
                     segmenter_encoder="resnet-slim", decoder_channels=(64, 32, 16, 8, 4))
    start = resolve_start(str(untrained), "resnet-slim")
    assert start.kind in ("steel-backbone", "random") and "untrained" in start.reason
    other = resolve_start(str(untrained), "resnet50")
    assert other.kind == "random" and "untrained" in other.reason
