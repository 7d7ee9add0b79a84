"""The steel backbone's parts on real data: the reserved images, pasted defects, the pool's tiles and what is known
in them, and a tiny pre-training run whose hash-checked backbone a training run starts from."""

import hashlib
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from core.contract.errors import SteelScanError
from core.datasets import open_dataset
from core.datasets.base import Sample
from core.datasets.reserved import is_reserved
from core.modelsets.networks import build_classifier, build_segmenter, decoder_channels_for
from core.training.data import split_dataset
from core.training.pasted_defects import blob_mask, paste_defect, scratch_mask
from core.training.pretrain import CARD_FILE, WEIGHTS_FILE, PretrainConfig, load_backbone, pretrain
from core.training.pretrain_data import Pool, sample_tiles
from core.training.start import apply_start, resolve_start


@pytest.fixture(scope="module")
def neu(neu_dir):
    return open_dataset(neu_dir)


@pytest.fixture(scope="module")
def surfaces(neu_dir) -> tuple[np.ndarray, np.ndarray]:
    first, second = sorted((neu_dir / "images" / "patches").glob("*.jpg"))[:2]
    return cv2.imread(str(first), cv2.IMREAD_GRAYSCALE), cv2.imread(str(second), cv2.IMREAD_GRAYSCALE)


def test_about_a_fifth_of_neu_det_is_reserved_by_file_name_alone(neu):
    names = [s.image_path.name for s in neu.samples]
    assert len(names) == 1440
    share = np.mean([is_reserved(name) for name in names])
    assert 0.15 <= share <= 0.25
    assert all(is_reserved(Path("elsewhere/deeper") / name) == is_reserved(name) for name in names[:50])


def test_reserved_holdout_is_exactly_the_reserved_images_while_validation_follows_the_seed(neu):
    reserved = {i for i, s in enumerate(neu.samples) if is_reserved(s.image_path)}
    splits = [split_dataset(neu, 0.15, seed=seed, reserved_holdout=True) for seed in (0, 1)]
    for split in splits:
        assert set(split.holdout) == reserved
        assert not set(split.train) & reserved and not set(split.val) & reserved
        assert set(split.train) | set(split.val) | reserved == set(range(len(neu.samples)))
    assert splits[0].val != splits[1].val


@pytest.mark.parametrize("seed", range(12))  # all three kinds: texture, blob and scratch
def test_pasted_defect_changes_the_image_only_in_and_just_around_its_mask(surfaces, seed):
    image, donor = surfaces
    before = image.copy()
    out, mask = paste_defect(image, donor, np.random.default_rng(seed))
    np.testing.assert_array_equal(image, before)
    again, same_mask = paste_defect(image, donor, np.random.default_rng(seed))
    np.testing.assert_array_equal(out, again)
    np.testing.assert_array_equal(mask, same_mask)
    assert out.shape == image.shape and out.dtype == np.uint8 and set(np.unique(mask)) == {0, 1}
    assert 20 <= mask.sum() <= 0.06 * mask.size
    change = np.abs(out.astype(int) - image.astype(int))
    # the mask's edge is blurred (sigma 0.8, a 7 x 7 kernel): nothing changes further out, little past 2 px
    assert not change[cv2.dilate(mask, np.ones((7, 7), np.uint8)) == 0].any()
    assert change[cv2.dilate(mask, np.ones((5, 5), np.uint8)) == 0].max(initial=0) <= 3
    assert (change[mask == 1] > 0).mean() >= 0.5 and change[mask == 1].mean() >= 5


def test_blobs_are_one_region_and_scratches_are_thin():
    for seed in range(5):
        blob = blob_mask(np.random.default_rng(seed), 200, 300)
        assert cv2.connectedComponents(blob, connectivity=8)[0] == 2 and blob.sum() <= 0.06 * blob.size
        scratch = scratch_mask(np.random.default_rng(seed), 200, 300)
        assert scratch.any() and not cv2.erode(scratch, np.ones((7, 7), np.uint8)).any()


def test_a_severstal_strip_is_cut_into_six_square_tiles_with_its_masks(severstal_dir):
    dataset = open_dataset(severstal_dir)
    sample = next(s for s in dataset.samples if s.rles)
    tiles = sample_tiles(sample, len(dataset.class_names))
    grey = np.asarray(Image.open(sample.image_path).convert("L"))
    masks = sample.masks(256, 1600, len(dataset.class_names))
    assert len(tiles) == 6 and all(t[0].shape == (256, 256) and t[1].shape == (4, 256, 256) for t in tiles)
    for tile, end in ((tiles[0], slice(0, 256)), (tiles[-1], slice(1600 - 256, 1600))):  # tiles reach both ends
        np.testing.assert_array_equal(tile[0], grey[:, end])
        np.testing.assert_array_equal(tile[1], masks[:, :, end])
    assert all(t[2].all() for t in tiles)  # RLE masks: every pixel is known


def test_box_labels_leave_the_pixels_inside_their_boxes_unknown(neu):
    sample = next(s for s in neu.samples if s.boxes)
    [(grey, masks, known)] = sample_tiles(sample, len(neu.class_names))
    boxes = sample.masks(*grey.shape, len(neu.class_names)).max(0)
    assert boxes.any() and not known[boxes == 1].any() and known[boxes == 0].all()
    assert not masks.any()  # a box says a defect is in there, not which pixels


def test_an_image_label_alone_leaves_no_pixel_of_a_defective_image_known(neu):
    path = neu.samples[0].image_path
    [(_, masks, known)] = sample_tiles(Sample(image_path=path, labels=(2,)), 6)
    assert not known.any() and not masks.any()
    [(_, _, clean_known)] = sample_tiles(Sample(image_path=path, labels=()), 6)
    assert clean_known.all()  # a clean image's label does say where: nowhere


def test_a_clean_only_source_adds_its_unreserved_clean_images_without_labels(severstal_dir):
    dataset = open_dataset(severstal_dir)
    clean = [s for s in dataset.samples if not s.labels and not is_reserved(s.image_path)]
    pool = Pool()
    pool.add_dataset(dataset, clean_only=True)
    assert clean and len(pool) == 6 * len(clean) and pool.sources[0].class_names == ()
    assert all(label.shape == (0,) for label in pool.labels)
    assert not any(d.any() for d in pool.defects) and all(k.all() for k in pool.known)


@pytest.fixture(scope="module")
def backbone(severstal_dir, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("pretrain")
    config = PretrainConfig(sources=(severstal_dir,), out=folder / "steel-backbone", synthetic=4, steps=3,
                            batch_size=4, run_dir=folder / "run", device="cpu")
    card = pretrain(config)
    assert card["steps"] == 3 and card["architecture"] == "resnet-slim"
    return config.out


@pytest.mark.slow
def test_pretraining_writes_a_backbone_whose_card_holds_its_hash(backbone):
    card = json.loads((backbone / CARD_FILE).read_text())
    assert card["sha256"] == hashlib.sha256((backbone / WEIGHTS_FILE).read_bytes()).hexdigest()
    loaded_card, weights = load_backbone(backbone)
    assert loaded_card == card and "backbone.conv1.weight" in weights
    assert any(k.startswith("decoder.") for k in weights) and not any(k.startswith("backbone.fc.") for k in weights)


@pytest.mark.slow
def test_a_changed_byte_in_the_weights_is_refused_naming_the_file(backbone, tmp_path):
    copy = shutil.copytree(backbone, tmp_path / "copy")
    data = bytearray((copy / WEIGHTS_FILE).read_bytes())
    data[-1] ^= 0x01
    (copy / WEIGHTS_FILE).write_bytes(bytes(data))
    with pytest.raises(SteelScanError, match="backbone.safetensors: has sha256"):
        load_backbone(copy)
    with pytest.raises(SteelScanError, match="backbone.safetensors"):
        resolve_start("auto", "resnet-slim", steel_backbone=copy)


@pytest.mark.slow
def test_auto_starts_only_the_backbones_own_network_from_it(backbone, tmp_path):
    card, _ = load_backbone(backbone)
    start = resolve_start("auto", "resnet-slim", steel_backbone=backbone)
    assert (start.kind, start.path, start.sha256) == ("steel-backbone", str(backbone), card["sha256"])
    other = resolve_start("auto", "resnet50", steel_backbone=backbone)
    assert other.kind == "random" and "resnet-slim" in other.reason and "resnet50" in other.reason
    assert resolve_start("none", "resnet-slim", steel_backbone=backbone).kind == "random"
    missing = resolve_start("auto", "resnet-slim", steel_backbone=tmp_path / "nothing")
    assert missing.kind == "random" and "no steel backbone" in missing.reason
    with pytest.raises(SteelScanError, match="is a resnet-slim backbone"):
        resolve_start(str(backbone), "resnet50")


@pytest.mark.slow
def test_apply_start_loads_the_backbone_and_decoder_weights_from_the_file(backbone):
    _, weights = load_backbone(backbone)
    classifier = build_classifier("resnet-slim", 3, "peak")
    segmenter = build_segmenter("resnet-slim", 3, decoder_channels_for("resnet-slim"))
    assert not torch.equal(classifier.conv1.weight, weights["backbone.conv1.weight"])
    start = resolve_start("auto", "resnet-slim", steel_backbone=backbone)
    assert apply_start(start, classifier, segmenter) == ["backbone", "U-Net decoder"]
    assert torch.equal(classifier.conv1.weight, weights["backbone.conv1.weight"])
    name = next(k for k in weights if k.startswith("decoder.") and k.endswith("weight"))
    assert torch.equal(segmenter.decoder.state_dict()[name.removeprefix("decoder.")], weights[name])
    assert classifier.fc.out_features == 3  # the head stays the data's own
