"""Joint training: the schedule scales with the data, crops find defects and clean surface, the pixel
loss alone trains the backbone, and learning-curve subsets keep validation and hold-out fixed."""

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from core.cli.train import build_parser
from core.contract.errors import SteelScanError
from core.datasets import open_dataset
from core.datasets.synthetic import write_dataset
from core.modelsets.modelset import build_networks, new_card
from core.modelsets.preprocess import Normaliser
from core.training.data import CropDataset, ImageCache, make_sampler, pad_to, split_dataset
from core.training.joint import MAX_STEPS, MIN_STEPS, WHOLE_MAX_STEPS, schedule_steps, train_joint
from core.training.pipeline import limit_defective
from core.training.recipe import Recipe, has_pixel_masks, is_strip, pick_recipe, whole_image_size
from tests.core.training.test_pipeline import write_mask_folder, write_neu


def test_schedule_grows_with_the_data_within_bounds():
    assert schedule_steps(30) == MIN_STEPS
    assert schedule_steps(1000) == 2000
    assert schedule_steps(10_000) == MAX_STEPS
    assert schedule_steps(30) <= schedule_steps(300) <= schedule_steps(3000) <= schedule_steps(30_000)
    assert schedule_steps(10_000, steps=123) == 123  # an explicit --steps wins
    assert schedule_steps(635, most=WHOLE_MAX_STEPS) == 1270 and schedule_steps(1000, most=WHOLE_MAX_STEPS) == 1500


def _recipe(data, *options):
    dataset = open_dataset(data)
    args = build_parser().parse_args([str(data), "--out", "unused", *options])
    return pick_recipe(args, dataset, ImageCache(dataset), tuple(range(len(dataset.samples))))


def _without_why(recipe: Recipe) -> Recipe:
    return replace(recipe, why="")


def test_auto_recipe_follows_the_annotations_and_the_image_shape(tmp_path):
    masks, boxes = write_mask_folder(tmp_path / "masks"), write_neu(tmp_path / "neu")
    assert has_pixel_masks(open_dataset(masks)) and not has_pixel_masks(open_dataset(boxes))
    # photographs outlined by masks: whole images, the slim network, per-image normalisation
    assert _without_why(_recipe(masks)) == Recipe("joint", "whole", (224, 224), "resnet-slim", "per-image", "peak",
                                                  5e-4, True, 1.0, "image", "head+mask", 1.0, "")
    # box-only NEU-style patches: the staged ResNet50 of the shipped neu-det set
    assert _without_why(_recipe(boxes)) == Recipe("staged", "patch", None, "resnet50", "fixed", "avg", 0.05, False,
                                                  0.0, "batch", "head", 1.0, "")
    # long strips (Severstal, 1600 x 256) stay at native scale, staged
    write_dataset(tmp_path / "strips", [0, 1, 2, 3])
    assert _without_why(_recipe(tmp_path / "strips")) == Recipe("staged", "strip", None, "resnet50", "fixed", "peak",
                                                                0.05, False, 0.0, "batch", "head", 1.0, "")
    # what the user names is kept
    assert _recipe(masks, "--trainer", "staged").geometry == "patch"
    native = _recipe(masks, "--trainer", "joint", "--input-size", "native", "--arch", "resnet18")
    assert (native.geometry, native.input_size, native.arch, native.normalisation) == ("tile", None, "resnet18",
                                                                                       "fixed")
    named = _recipe(masks, "--input-size", "96x160", "--weight-decay", "0.01")
    assert (named.input_size, named.arch, named.weight_decay) == ((96, 160), "resnet-slim", 0.01)
    # test-time flips follow the flips training used; named, they are kept
    assert not _recipe(masks, "--no-augment").test_time_flips
    assert not _recipe(masks, "--test-time-flips", "off").test_time_flips
    assert _recipe(masks, "--image-weight", "0").image_weight == 0.0
    assert _recipe(masks, "--trainer", "joint", "--input-size", "native").image_weight == 0.0
    assert _recipe(boxes, "--test-time-flips", "on").test_time_flips
    # soft Dice per image for whole images; native joint crops keep the batch Dice; what is named is kept
    assert _recipe(masks, "--trainer", "joint", "--input-size", "native").seg_dice == "batch"
    assert _recipe(masks, "--seg-dice", "batch").seg_dice == "batch"
    assert _recipe(masks, "--trainer", "joint", "--input-size", "native", "--seg-dice", "image").seg_dice == "image"
    # the masks take part in the decision for whole images; native joint crops keep the head's
    assert _recipe(masks, "--trainer", "joint", "--input-size", "native").class_scores == "head"
    assert _recipe(masks, "--class-scores", "head").class_scores == "head"
    with pytest.raises(SteelScanError, match="has boxes but no pixel masks"):
        _recipe(boxes, "--trainer", "joint")
    with pytest.raises(SteelScanError, match="needs the joint trainer"):
        _recipe(masks, "--trainer", "staged", "--input-size", "224")


def test_whole_image_size_keeps_the_aspect_in_multiples_of_32():
    assert whole_image_size(1.0) == whole_image_size(0.8) == (224, 224)
    assert whole_image_size(2.5) == (128, 352)  # 500 x 1250 photographs
    assert whole_image_size(0.4) == (352, 128)
    assert all(side % 32 == 0 for aspect in (0.3, 0.6, 1.5, 3.9) for side in whole_image_size(aspect))
    assert is_strip(6.25) and is_strip(1 / 6.25) and not is_strip(2.5)


def test_small_images_are_padded_to_the_crop():
    pixels = np.full((40, 50, 3), 7, np.uint8)
    masks = np.ones((2, 40, 50), np.uint8)
    padded, padded_masks = pad_to(pixels, masks, (64, 64))
    assert padded.shape == (64, 64, 3) and padded_masks.shape == (2, 64, 64)
    assert padded_masks.sum() == masks.sum()  # padding is background


def _crop_labels(dataset, indices, defect_bias: float, draws: int = 60) -> np.ndarray:
    cache = ImageCache(dataset)
    crops = CropDataset(cache, indices, "tile", (32, 32), dataset.task, Normaliser.from_card(new_card("t", ("a",))),
                        augment=False, defect_bias=defect_bias, seed=1)
    return np.stack([crops[i % len(indices)][1].numpy() for i in range(draws)])


def write_small_defects(root: Path, count: int = 6) -> Path:
    """128 px grey images, each with one 6 px bright spot (mask class 1)."""
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    (root / "classes.txt").write_text("spot\n")
    rng = np.random.default_rng(0)
    for n in range(count):
        image = rng.normal(120, 5, (128, 128)).clip(0, 255).astype(np.uint8)
        ids = np.zeros((128, 128), np.uint8)
        y, x = rng.integers(0, 122, size=2)
        image[y : y + 6, x : x + 6], ids[y : y + 6, x : x + 6] = 230, 1
        cv2.imwrite(str(root / "images" / f"s{n}.png"), image)
        cv2.imwrite(str(root / "masks" / f"s{n}.png"), ids)
    return root


def test_tile_crops_centre_on_defects_or_show_clean_surface(tmp_path):
    dataset = open_dataset(write_small_defects(tmp_path / "data"))
    indices = tuple(range(len(dataset.samples)))
    # a 6 px spot in a 128 px image, 32 px crops: centred crops always hold it, random ones rarely
    centred = _crop_labels(dataset, indices, 1.0).any(1).mean()
    anywhere = _crop_labels(dataset, indices, 0.0).any(1).mean()
    assert centred == 1.0 and anywhere < 0.4


def test_clean_share_draws_clean_images_that_often_and_defects_class_balanced(tmp_path):
    dataset = open_dataset(write_mask_folder(tmp_path / "data"))  # 4 blob, 4 stripes, 4 clean
    indices = tuple(range(len(dataset.samples)))
    drawn = [dataset.samples[indices[i]] for i in make_sampler(dataset, indices, 6000, True, 0, clean_share=0.7)]
    clean = np.mean([not s.labels for s in drawn])
    blob = sum(s.labels == (0,) for s in drawn)
    stripes = sum(s.labels == (1,) for s in drawn)
    assert abs(clean - 0.7) < 0.03, clean
    assert abs(blob - stripes) < 0.15 * (blob + stripes), (blob, stripes)
    # without it, clean is one class among three: a third of the draws
    default = [dataset.samples[indices[i]] for i in make_sampler(dataset, indices, 6000, True, 0)]
    assert abs(np.mean([not s.labels for s in default]) - 1 / 3) < 0.03


def test_photometric_strength_zero_keeps_the_grey_levels(tmp_path):
    """Strength 0 flips crops but never changes a grey level: faint defects keep their contrast."""
    dataset = open_dataset(write_small_defects(tmp_path / "data"))
    cache = ImageCache(dataset)
    indices = tuple(range(len(dataset.samples)))
    identity = Normaliser("fixed", (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))  # x / 255
    levels = [np.sort(cache.pixels(i).ravel() / 255.0) for i in indices]

    def unchanged(strength: float) -> list[bool]:
        crops = CropDataset(cache, indices, "tile", (128, 128), dataset.task, identity, augment=True, seed=0,
                            photometric=strength)
        return [np.allclose(np.sort(crops[n % len(indices)][0].numpy().ravel()), levels[n % len(indices)], atol=1e-6)
                for n in range(24)]

    assert all(unchanged(0.0))
    assert sum(unchanged(1.0)) <= 12  # brightness/contrast alone acts on 70% of the crops


def test_learning_curve_subset_keeps_validation_and_holdout(tmp_path):
    dataset = open_dataset(write_mask_folder(tmp_path / "data"))
    split = split_dataset(dataset, 0.25, 0.25, seed=0)
    small = limit_defective(dataset, split, 2, seed=0)
    assert small.val == split.val and small.holdout == split.holdout
    assert sum(bool(dataset.samples[i].labels) for i in small.train) == 2
    clean = {i for i in split.train if not dataset.samples[i].labels}
    assert clean <= set(small.train) and set(small.train) <= set(split.train)
    assert limit_defective(dataset, split, None, 0) == split


@pytest.mark.slow
def test_pixel_loss_alone_trains_the_shared_backbone(tmp_path):
    """With the classification loss off, the backbone still learns (from the masks), the decoder
    runs on the classifier's own features, and the segmentation loss falls."""
    dataset = open_dataset(write_mask_folder(tmp_path / "data"))
    torch.manual_seed(0)
    card = new_card("t", dataset.class_names, classifier_architecture="resnet18", segmenter_encoder="resnet18",
                    classifier_pooling="peak", decoder_channels=(32, 16, 8, 8, 8))
    classifier, segmenter = build_networks(card)
    # one backbone: the U-Net's encoder holds the classifier's weights (same storage)
    assert segmenter.encoder.layer1[0].conv1.weight.data_ptr() == classifier.layer1[0].conv1.weight.data_ptr()
    before = classifier.layer1[0].conv1.weight.detach().clone()
    indices = tuple(range(len(dataset.samples)))
    crops = CropDataset(ImageCache(dataset), indices, "tile", (64, 64), dataset.task, Normaliser.from_card(card),
                        augment=False, defect_bias=0.8, seed=0)
    loader = DataLoader(crops, batch_size=6, sampler=make_sampler(dataset, indices, 6 * 24, True, 0))
    validations = []

    def validate(model):
        validations.append(model.training)
        return {"score": float(len(validations))}

    history, seg_history = train_joint(classifier, segmenter, loader, dataset.task, 24, 3e-3, 1e-4,
                                       torch.device("cpu"), validate, "score", amp=False, cls_weight=0.0,
                                       validations=3)
    assert len(seg_history.losses) == 24 and len(history.epochs) == 3 and history.best_epoch == 24
    assert np.mean(seg_history.losses[-4:]) < np.mean(seg_history.losses[:4]), seg_history.losses
    assert not torch.equal(before, classifier.layer1[0].conv1.weight.detach())


def test_converter_refuses_to_write_into_the_repository(tmp_path):
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[3]
    result = subprocess.run([sys.executable, str(root / "scripts" / "magnetic_tile_to_mask_folder.py"),
                             str(tmp_path), str(root / "data" / "mt")], capture_output=True, text=True)
    assert result.returncode != 0 and "inside the repository" in result.stderr + result.stdout
    assert not (root / "data" / "mt").exists()


@pytest.mark.slow
def test_synthetic_strips_train_jointly_into_a_set_the_engine_runs(tmp_path):
    """`--synthetic N --trainer joint` (multi-label Severstal-style strips, RLE masks) trains jointly."""
    from core.cli.train import build_parser
    from core.engine.inference import Inspector
    from core.modelsets.modelset import read_card
    from core.training.pipeline import run

    out = tmp_path / "model"
    argv = ["--synthetic", "8", "--out", str(out), "--run-dir", str(tmp_path / "run"), "--arch", "resnet18",
            "--crop", "64x128", "--batch-size", "4", "--steps", "6", "--validations", "2", "--val-fraction", "0.25",
            "--no-augment", "--trainer", "joint"]
    result = run(build_parser().parse_args(argv), "test")
    card = read_card(out)
    assert card.training["trainer"] == "joint" and card.training["steps"] == 6 and card.task == "multi-label"
    assert card.classifier_pooling == "peak" and card.training["geometry"] == "strip"
    assert len(result["segmenter_losses"]) == 6
    strip = next((tmp_path / "run").glob("synthetic-*/train_images/*.jpg"))
    verdict = Inspector.load(out, "cpu").inspect(strip)
    assert verdict.masks.shape == (len(card.classes), verdict.height, verdict.width)


def test_a_warm_backbone_learns_at_a_share_of_the_heads_rate():
    """Discriminative rates: every trainable tensor in exactly one group; the backbone's group at lr * scale, the
    class head, the decoder and the mask head at lr."""
    from core.training.joint import joint_parameter_groups, joint_parameters

    card = new_card("t", ["a", "b"], "multi-label", classifier_architecture="resnet-slim",
                    segmenter_encoder="resnet-slim", decoder_channels=(64, 32, 16, 8, 4))
    classifier, segmenter = build_networks(card)
    groups = joint_parameter_groups(classifier, segmenter, 2e-3, 0.1)
    assert [g["lr"] for g in groups] == pytest.approx([2e-4, 2e-3])
    backbone, rest = ({id(p) for p in g["params"]} for g in groups)
    assert not backbone & rest and backbone | rest == {id(p) for p in joint_parameters(classifier, segmenter)}
    assert {id(p) for p in classifier.fc.parameters()} <= rest
    assert {id(p) for p in segmenter.decoder.parameters()} <= rest
    assert id(classifier.conv1.weight) in backbone and id(classifier.layer4[0].conv1.weight) in backbone
