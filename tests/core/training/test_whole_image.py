"""Whole-image model sets (card `input_size`, the `resnet-slim` network): every image is resized to one size
for the networks, and what comes back (masks, Grad-CAM) is the image's own size again."""

import argparse
from dataclasses import replace

import numpy as np
import pytest
import torch

from core.cli.train import build_parser, input_size
from core.contract.errors import ModelSetError
from core.datasets import open_dataset
from core.engine.explain import explain
from core.engine.inference import Inspector
from core.engine.postprocess import class_scores, mask_peaks
from core.modelsets.modelset import ModelCard, ModelSet, create_untrained, read_card
from core.modelsets.networks import backbone_features, build_classifier, build_segmenter, decode_masks, share_encoder
from core.modelsets.preprocess import Normaliser
from core.training.data import ImageCache, WholeImageDataset
from core.training.loops import whole_image_outputs
from core.training.pipeline import run
from tests.core.training.test_pipeline import write_mask_folder


def test_normaliser_resizes_to_the_input_size_and_maps_back():
    normaliser = Normaliser("per-image", (0.5,) * 3, (0.25,) * 3, (64, 96))
    rng = np.random.default_rng(0)
    pixels = torch.from_numpy(rng.normal(120, 20, (2, 3, 100, 300))).float()
    x = normaliser(pixels.clone())
    assert x.shape == (2, 3, 64, 96)
    # per-image statistics are the image's own (taken before resizing): a lamp's gain and offset change nothing
    np.testing.assert_allclose(normaliser(pixels.clone() * 1.5 + 20).numpy(), x.numpy(), atol=1e-4)
    back = normaliser.to_image(torch.zeros(2, 4, 64, 96), (100, 300))
    assert back.shape == (2, 4, 100, 300)
    native = Normaliser("fixed", (0.5,) * 3, (0.25,) * 3)
    assert native(pixels.clone()).shape == (2, 3, 100, 300)


def test_input_size_is_checked_on_the_command_line_and_in_the_card():
    assert input_size("native") == "native" and input_size("224") == "224" and input_size("256x512") == "256x512"
    for bad in ("100", "0", "224x", "big", "8192"):
        with pytest.raises(argparse.ArgumentTypeError, match="multiples of 32"):
            input_size(bad)
    card = {"schema_version": 2, "name": "s", "version": "1", "task": "multi-label",
            "classes": [{"name": "a", "color": "#112233"}], "input_size": [100, 224]}
    with pytest.raises(ModelSetError, match="input_size .*multiple of 32"):
        ModelCard.from_dict(card)
    card["input_size"] = [224, 224]
    assert ModelCard.from_dict(card).input_size == (224, 224)


def test_slim_network_shares_its_backbone_with_the_unet():
    classifier = build_classifier("resnet-slim", 3, "peak")
    segmenter = build_segmenter("resnet-slim", 3, (64, 32, 16, 8, 4))
    share_encoder(classifier, segmenter)
    assert segmenter.encoder.conv1.weight.data_ptr() == classifier.conv1.weight.data_ptr()
    assert sum(p.numel() for p in classifier.parameters()) < 2_000_000
    classifier.eval()
    segmenter.eval()
    x = torch.randn(1, 3, 96, 128)
    with torch.no_grad():
        shared = decode_masks(segmenter, backbone_features(classifier, x))
        np.testing.assert_allclose(shared.numpy(), segmenter(x).numpy(), atol=1e-5)  # one backbone, same masks
        assert classifier(x).shape == (1, 3)


def test_engine_returns_masks_and_heatmaps_at_the_image_size(tmp_path):
    create_untrained(tmp_path / "slim", "slim", ("pits", "scratches"), classifier_architecture="resnet-slim",
                     segmenter_encoder="resnet-slim", decoder_channels=(64, 32, 16, 8, 4), input_size=(96, 96),
                     normalisation="per-image")
    inspector = Inspector.load(tmp_path / "slim", "cpu", backend="torch")
    card = inspector.card
    assert read_card(tmp_path / "slim").input_size == (96, 96)
    image = np.random.default_rng(1).integers(0, 255, (70, 150, 3), dtype=np.uint8)
    # every class called, so the segmenter runs and its masks come back at the image's 70 x 150
    forced = replace(card, classes=tuple(replace(c, threshold=0.0) for c in card.classes))
    verdict = Inspector(ModelSet(forced, inspector.model_set.folder, inspector.model_set.classifier,
                                 inspector.model_set.segmenter), backend="torch").inspect(image)
    assert verdict.segmenter_ran and verdict.masks.shape == (2, 70, 150)
    assert explain(inspector, image, "pits").heatmap.shape == (70, 150)


def test_test_time_flips_average_the_image_and_its_mirror_images(tmp_path):
    create_untrained(tmp_path / "flips", "flips", ("pits", "scratches"), classifier_architecture="resnet-slim",
                     segmenter_encoder="resnet-slim", decoder_channels=(64, 32, 16, 8, 4), input_size=(64, 96),
                     normalisation="per-image", test_time_flips=True)
    flipping = Inspector.load(tmp_path / "flips", "cpu", backend="torch")
    card = replace(flipping.card, classes=tuple(replace(c, threshold=0.0) for c in flipping.card.classes))
    flipping = Inspector(replace(flipping.model_set, card=card), backend="torch")
    plain = Inspector(replace(flipping.model_set, card=replace(card, test_time_flips=False)), backend="torch")
    rng = np.random.default_rng(2)
    images = [rng.integers(0, 255, (48, 80, 3), dtype=np.uint8) for _ in range(3)]
    views = [[image, image[:, ::-1], image[::-1], image[::-1, ::-1]] for image in images]
    by_view = [[plain.inspect(np.ascontiguousarray(v)) for v in four] for four in views]
    flipped = list(flipping.inspect_many(images))  # one batch of three: the rows of each view must line up
    for verdict, four in zip(flipped, by_view, strict=True):
        np.testing.assert_allclose(verdict.probabilities, np.mean([v.probabilities for v in four], 0), atol=1e-5)
        assert verdict.segmenter_ran and verdict.masks.shape == (2, 48, 80)
    # threshold tuning sees the same; pixel logits of the mirror images are flipped back onto the image, averaged
    args = (flipping.model_set.classifier, flipping.model_set.segmenter, True, images[0], flipping.normaliser,
            torch.device("cpu"), card.task, False)
    probs, pixels = whole_image_outputs(*args, flips=True)
    np.testing.assert_allclose(probs, flipped[0].probabilities, atol=1e-5)
    looks = [whole_image_outputs(*args[:3], np.ascontiguousarray(v), *args[4:])[1] for v in views[0]]
    unflipped = [looks[0], looks[1][:, :, ::-1], looks[2][:, ::-1], looks[3][:, ::-1, ::-1]]
    logits = np.log(np.stack(unflipped)) - np.log1p(-np.stack(unflipped))
    np.testing.assert_allclose(pixels, 1 / (1 + np.exp(-logits.mean(0))), atol=1e-4)  # the views' logits averaged
    assert np.abs(pixels - looks[0]).max() > 0.05  # and the views do differ: the average is not one look


def test_mask_peaks_ignore_a_lone_hot_pixel_and_class_scores_average_head_and_mask():
    pixels = np.zeros((2, 40, 60), np.float32)
    pixels[0, 10, 10] = 1.0  # one hot pixel: a fifth of a fifth after the 5x5 average
    pixels[1, 20:25, 30:35] = 0.8  # a 5x5 defect keeps its probability
    np.testing.assert_allclose(mask_peaks(pixels), [1 / 25, 0.8], atol=1e-6)
    head = np.array([0.2, 0.4])
    np.testing.assert_allclose(class_scores("head+mask", head, pixels), [(0.2 + 0.04) / 2, 0.6], atol=1e-6)
    assert class_scores("head", head, None) is head
    with pytest.raises(ValueError, match="needs the U-Net"):
        class_scores("head+mask", head, None)


def test_head_and_mask_class_scores_are_what_the_engine_decides_on(tmp_path):
    create_untrained(tmp_path / "hm", "hm", ("pits", "scratches"), classifier_architecture="resnet-slim",
                     segmenter_encoder="resnet-slim", decoder_channels=(64, 32, 16, 8, 4), input_size=(64, 96),
                     normalisation="per-image", test_time_flips=True, class_scores="head+mask")
    loaded = Inspector.load(tmp_path / "hm", "cpu", backend="torch")
    assert loaded.card.class_scores == "head+mask"  # the card keeps it
    rng = np.random.default_rng(4)
    images = [rng.integers(0, 255, (48, 80, 3), dtype=np.uint8) for _ in range(3)]
    args = (loaded.model_set.classifier, loaded.model_set.segmenter, True)
    expected = []
    for image in images:  # what threshold tuning scores (core.training.pipeline.tune_thresholds)
        head, pixels = whole_image_outputs(*args, image, loaded.normaliser, torch.device("cpu"), "multi-label",
                                           False, flips=True)
        expected.append((head + mask_peaks(pixels)) / 2)
    # thresholds no class reaches: nothing is called, yet every image was segmented to be scored
    unreachable = replace(loaded.card, classes=tuple(replace(c, threshold=0.999) for c in loaded.card.classes))
    both = Inspector(replace(loaded.model_set, card=unreachable), backend="torch")
    head_only = Inspector(replace(loaded.model_set, card=replace(unreachable, class_scores="head")), backend="torch")
    for verdict, plain, want in zip(both.inspect_many(images), head_only.inspect_many(images), expected, strict=True):
        np.testing.assert_allclose(verdict.probabilities, want, atol=1e-5)
        assert verdict.segmenter_ran and not verdict.defective
        assert not plain.segmenter_ran and not np.allclose(plain.probabilities, want, atol=1e-3)
    # a threshold just under a class's combined score calls it
    first = expected[0]
    called = replace(loaded.card, classes=tuple(replace(c, threshold=float(first[k]) - 1e-4, min_area=0)
                                                for k, c in enumerate(loaded.card.classes)))
    verdict = Inspector(replace(loaded.model_set, card=called), backend="torch").inspect(images[0])
    assert verdict.classes_present == ("pits", "scratches")  # min area 0: called stays present, mask or not


def test_whole_image_dataset_keeps_thin_defects_and_flips_image_and_mask_together(tmp_path):
    dataset = open_dataset(write_mask_folder(tmp_path / "data"))
    cache = ImageCache(dataset)
    normaliser = Normaliser("per-image", (0.5,) * 3, (0.25,) * 3, (32, 32))  # half of the 64 px images
    index = next(i for i, s in enumerate(dataset.samples) if s.labels)
    plain = WholeImageDataset(cache, (index,), dataset.task, normaliser, augment=False)
    x, target, masks = plain[0]
    assert x.shape == (3, 32, 32) and masks.shape == (len(dataset.class_names), 32, 32)
    assert target.tolist() == [float(k in dataset.samples[index].labels) for k in range(len(dataset.class_names))]
    full = cache.masks(index).astype(np.float32)
    # area averaging: the defect's area is kept (a 1 px line at half size stays as a half-strength line)
    np.testing.assert_allclose(masks.sum().item() * 4, full.sum(), rtol=0.02)  # kept in 1/255 steps
    flipped = WholeImageDataset(cache, (index,), dataset.task, normaliser, augment=True, seed=3, photometric=0.0)
    seen = set()
    for _ in range(24):
        fx, _, fm = flipped[0]
        for dims in ([], [1], [2], [1, 2]):
            if torch.equal(fm, masks.flip(dims) if dims else masks):
                assert torch.allclose(fx, x.flip(dims) if dims else x)  # the image flipped with its mask
                seen.add(tuple(dims))
                break
        else:
            pytest.fail("the mask came back neither as it was nor flipped")
    assert len(seen) >= 3  # flips on both axes happen


@pytest.mark.slow
def test_whole_image_training_writes_a_set_the_engine_runs(tmp_path):
    data = write_mask_folder(tmp_path / "data")
    out = tmp_path / "model"
    argv = [str(data), "--out", str(out), "--run-dir", str(tmp_path / "run"), "--trainer", "joint",
            "--arch", "resnet-slim", "--input-size", "96", "--normalisation", "per-image", "--batch-size", "8",
            "--steps", "24", "--validations", "3", "--lr", "2e-3", "--weight-decay", "5e-4",
            "--val-fraction", "0.25"]
    result = run(build_parser().parse_args(argv), "test")
    losses = result["classifier_losses"]
    assert np.mean(losses[-4:]) < np.mean(losses[:4]), losses
    card = read_card(out)
    assert card.input_size == (96, 96) and card.classifier_architecture == "resnet-slim"
    assert card.training["geometry"] == "whole" and card.training["input_size"] == [96, 96]
    assert card.decoder_channels == (64, 32, 16, 8, 4)
    dataset = open_dataset(data)
    verdict = Inspector.load(out, "cpu").inspect(dataset.samples[0].image_path)
    assert verdict.masks.shape[1:] == (64, 64) and verdict.ood_score is not None
