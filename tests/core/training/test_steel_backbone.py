"""The shipped steel backbone: it loads with its hash checked, it never read a reserved image, and `train` starts
whole-image recipes from it by default and records that in the card."""

import json
import shutil

import pytest

from core.cli.train import build_parser
from core.contract.errors import SteelScanError
from core.datasets import open_dataset
from core.datasets.reserved import is_reserved
from core.modelsets.modelset import read_card
from core.training.pipeline import run
from core.training.pretrain import CARD_FILE, WEIGHTS_FILE, load_backbone
from core.training.start import STEEL_BACKBONE, resolve_start
from tests.conftest import SHARED

NEU_IMAGES = SHARED / "NEU-DET" / "train" / "images"
MAGNETIC_TILE = SHARED / "magnetic-tile"


def test_the_shipped_backbone_loads_with_its_hash_and_fits_in_models():
    card, weights = load_backbone(STEEL_BACKBONE)
    size = (STEEL_BACKBONE / WEIGHTS_FILE).stat().st_size
    assert size <= 30 * 2**20
    assert card["architecture"] == "resnet-slim" and card["input_size"] == [224, 224]
    assert card["command"].startswith("steelscan pretrain") and card["training_minutes"] > 0 and card["cpu"]
    assert any(key.startswith("backbone.layer4.") for key in weights) and any(k.startswith("decoder.") for k in weights)
    assert not any(key.startswith("backbone.fc.") for key in weights)  # the source heads stay behind


@pytest.mark.skipif(not MAGNETIC_TILE.is_dir(), reason="../shared/datasets/magnetic-tile is absent")
def test_pretraining_read_no_reserved_image_of_the_data_figures_are_measured_on():
    card, _ = load_backbone(STEEL_BACKBONE)
    by_name = {source["name"]: source for source in card["sources"]}
    clean_only = by_name["magnetic-tile (clean images only)"]
    dataset = open_dataset(MAGNETIC_TILE)
    clean = [s for s in dataset.samples if not s.labels]
    assert clean_only["images_used"] == sum(not is_reserved(s.image_path) for s in clean)
    assert clean_only["reserved_left_out"] == sum(is_reserved(s.image_path) for s in clean) > 0
    assert clean_only["class_names"] == []  # its defect labels were never used
    # the figures' own datasets lend no label: NEU-DET is not a source, magnetic-tile only its clean images
    assert not any("NEU" in name for name in by_name)


def test_a_changed_backbone_file_is_refused_with_the_file_named(tmp_path):
    copy = tmp_path / "steel-backbone"
    shutil.copytree(STEEL_BACKBONE, copy)
    data = bytearray((copy / WEIGHTS_FILE).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (copy / WEIGHTS_FILE).write_bytes(bytes(data))
    with pytest.raises(SteelScanError, match=WEIGHTS_FILE):
        resolve_start(str(copy), "resnet-slim")
    card = json.loads((copy / CARD_FILE).read_text())
    assert resolve_start("auto", "resnet-slim").sha256 == card["sha256"]


@pytest.mark.slow
@pytest.mark.skipif(not NEU_IMAGES.is_dir(), reason="../shared/datasets/NEU-DET is absent")
def test_train_starts_a_whole_image_recipe_from_the_backbone_and_records_it(tmp_path):
    data = tmp_path / "plain folders"
    for name in ("crazing", "patches", "scratches"):
        (data / name).mkdir(parents=True)
        for image in sorted((NEU_IMAGES / name).glob("*.jpg"))[:8]:
            shutil.copy(image, data / name / image.name)
    out = tmp_path / "model"
    argv = [str(data), "--out", str(out), "--run-dir", str(tmp_path / "run"), "--steps", "4", "--validations", "1",
            "--batch-size", "8", "--val-fraction", "0.25"]
    run(build_parser().parse_args(argv), "test")
    card = read_card(out)
    backbone, _ = load_backbone(STEEL_BACKBONE)
    start = card.training["start"]
    assert start["kind"] == "steel-backbone" and start["sha256"] == backbone["sha256"]
    assert start["loaded"] == ["backbone", "U-Net decoder"]
    assert backbone["sha256"][:16] in card.pretrained
    assert "image labels only" in card.training["recipe_reason"]
    none = tmp_path / "model-none"
    run(build_parser().parse_args([*argv[:2], str(none), *argv[3:], "--pretrained", "none"]), "test")
    assert read_card(none).training["start"]["kind"] == "random" and read_card(none).pretrained is None
