import dataclasses

import numpy as np
import pytest
import torch

from core.contract.errors import ImageError
from core.contract.verdict import Verdict
from core.datasets.synthetic import make_strip
from core.engine.inference import Inspector
from core.engine.postprocess import apply_mask_rules, classes_called, find_regions
from core.modelsets.modelset import ClassSpec, load_model_set, new_card
from tests.conftest import make_tiny_model_set


def _with_thresholds(inspector: Inspector, threshold: float, min_area: int = 0, pixel: float = 0.5) -> Inspector:
    card = inspector.card
    classes = tuple(
        dataclasses.replace(c, threshold=threshold, min_area=min_area, pixel_threshold=pixel) for c in card.classes
    )
    model_set = dataclasses.replace(inspector.model_set, card=dataclasses.replace(card, classes=classes))
    return Inspector(model_set, inspector.device, batch_size=inspector.batch_size)


def _crop(seed: int, height=64, width=160) -> np.ndarray:
    return np.ascontiguousarray(make_strip(seed).pixels[:height, :width])


def test_inspect_returns_a_complete_verdict(tiny_inspector):
    verdict = tiny_inspector.inspect(_crop(3))
    assert isinstance(verdict, Verdict)
    assert verdict.class_names == ("pits", "crazing", "scratches", "patches")
    assert len(verdict.probabilities) == 4 and all(0 <= p <= 1 for p in verdict.probabilities)
    assert verdict.masks.shape == (4, 64, 160) and verdict.masks.dtype == bool
    assert not verdict.masks.flags.writeable
    assert verdict.model_trained is False and verdict.model_set == "tiny"
    assert set(verdict.timings_ms) == {"decode", "preprocess", "classify", "segment", "postprocess"}
    assert verdict.defective == bool(verdict.classes_present)
    with pytest.raises(dataclasses.FrozenInstanceError):
        verdict.defective = True


def test_batched_results_equal_one_at_a_time(tiny_inspector):
    images = [_crop(s) for s in range(5)]
    batched = list(tiny_inspector.inspect_many(images))
    for image, verdict in zip(images, batched, strict=True):
        single = tiny_inspector.inspect(image)
        np.testing.assert_allclose(verdict.probabilities, single.probabilities, atol=1e-4)
        assert (verdict.masks != single.masks).mean() < 1e-3


def test_bad_images_do_not_stop_a_batch_and_order_is_kept(tiny_inspector, tmp_path):
    good = tmp_path / "good.png"
    from core.imaging.imageio import save_image

    save_image(_crop(1), good)
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "text.png").write_text("hello")
    sources = [good, tmp_path / "empty.jpg", good, tmp_path / "text.png", tmp_path / "missing.bmp", good]
    results = list(tiny_inspector.inspect_many(sources))
    kinds = [type(r).__name__ for r in results]
    assert kinds == ["Verdict", "ImageError", "Verdict", "ImageError", "ImageError", "Verdict"]
    assert "empty.jpg: is empty" in str(results[1])
    with pytest.raises(ImageError, match="empty"):
        tiny_inspector.inspect(tmp_path / "empty.jpg")


def test_mixed_sizes_in_one_call(tiny_inspector):
    sizes = [(64, 160), (200, 200), (64, 160), (256, 1600)]
    verdicts = list(tiny_inspector.inspect_many([_crop(1, h, w) for h, w in sizes]))
    assert [(v.height, v.width) for v in verdicts] == sizes
    assert all(v.masks.shape == (4, h, w) for v, (h, w) in zip(verdicts, sizes, strict=True))


def test_clean_strips_skip_the_segmenter(tiny_inspector):
    never = _with_thresholds(tiny_inspector, threshold=1.01)
    verdict = never.inspect(_crop(2))
    assert not verdict.defective and not verdict.segmenter_ran
    assert verdict.timings_ms["segment"] == 0.0 and not verdict.masks.any()
    always = _with_thresholds(tiny_inspector, threshold=0.0)
    verdict = always.inspect(_crop(2))
    assert verdict.segmenter_ran and verdict.classes_present == verdict.class_names


def test_shared_encoder_path_equals_the_full_unet(tmp_path):
    """The engine's shortcut (decoder on the classifier's features) must give the very masks a
    full U-Net forward gives when its encoder carries the same weights."""
    shared = load_model_set(make_tiny_model_set(tmp_path / "shared", seed=5))
    own = load_model_set(make_tiny_model_set(tmp_path / "own", source="own", seed=5))
    own.segmenter.decoder.load_state_dict(shared.segmenter.decoder.state_dict())
    own.segmenter.segmentation_head.load_state_dict(shared.segmenter.segmentation_head.state_dict())
    own.segmenter.encoder.load_state_dict(
        {k: v for k, v in shared.classifier.state_dict().items() if not k.startswith("fc.")}
    )
    own.classifier.load_state_dict(shared.classifier.state_dict())
    a = _with_thresholds(Inspector(shared, torch.device("cpu")), 0.0, pixel=0.5)
    b = _with_thresholds(Inspector(own, torch.device("cpu")), 0.0, pixel=0.5)
    image = _crop(4, 64, 192)
    va, vb = a.inspect(image), b.inspect(image)
    np.testing.assert_allclose(va.probabilities, vb.probabilities, atol=1e-5)
    assert (va.masks != vb.masks).mean() < 1e-3


def test_inspect_accepts_paths_bytes_and_arrays(tiny_inspector, tmp_path):
    from core.imaging.imageio import save_image

    path = tmp_path / "s.png"
    save_image(_crop(7), path)
    by_path = tiny_inspector.inspect(path)
    by_bytes = tiny_inspector.inspect((path.read_bytes(), "upload.png"))
    by_array = tiny_inspector.inspect(_crop(7))
    assert by_path.image_sha256 == by_bytes.image_sha256
    assert by_bytes.image_name == "upload.png"
    np.testing.assert_allclose(by_path.probabilities, by_array.probabilities, atol=1e-6)


def test_verdict_dict_round_trip_is_lossless(tiny_inspector):
    verdict = _with_thresholds(tiny_inspector, 0.0, pixel=0.5).inspect(_crop(8))
    back = Verdict.from_dict(verdict.to_dict())
    assert np.array_equal(back.masks, verdict.masks)
    assert back.regions == verdict.regions and back.probabilities == verdict.probabilities
    assert back.summary() == verdict.summary()


# --- post-processing rules, as pure functions -------------------------------------------------


def _card(task="multi-label", min_area=10):
    card = new_card("t", ("a", "b", "c"), task)
    return dataclasses.replace(
        card, classes=tuple(ClassSpec(c.name, c.color, 0.5, min_area, 0.5) for c in card.classes)
    )


def test_classes_called_multi_and_single_label():
    assert classes_called(_card(), np.array([0.6, 0.2, 0.5])).tolist() == [True, False, True]
    assert classes_called(_card("single-label"), np.array([0.3, 0.6, 0.1])).tolist() == [False, True, False]
    assert classes_called(_card("single-label"), np.array([0.34, 0.33, 0.33])).tolist() == [False, False, False]


def test_mask_is_dropped_when_classifier_says_absent_or_area_is_small():
    probs = np.zeros((3, 20, 20), np.float32)
    probs[0, :5, :5] = 0.9  # 25 px, class called -> kept
    probs[1, :5, :5] = 0.9  # class not called -> dropped
    probs[2, :3, :3] = 0.9  # 9 px < min area 10 -> dropped, and the class with it
    called = np.array([True, False, True])
    masks, present = apply_mask_rules(_card(), called, probs, (20, 20))
    assert masks.sum(axis=(1, 2)).tolist() == [25, 0, 0]
    assert present.tolist() == [True, False, False]
    _, present_single = apply_mask_rules(_card("single-label"), called, probs, (20, 20))
    assert present_single.tolist() == [True, False, True]


def test_regions_are_connected_components_with_mean_probability():
    masks = np.zeros((3, 20, 30), bool)
    masks[0, 2:4, 2:6] = True
    masks[0, 10:15, 20:30] = True
    probs = np.where(masks, 0.8, 0.1).astype(np.float32)
    probs[0, 2, 2] = 0.6
    regions = find_regions(_card(), masks, probs)
    assert [(r.class_name, r.area_px, r.bbox) for r in regions] == [("a", 50, (20, 10, 29, 14)), ("a", 8, (2, 2, 5, 3))]
    assert regions[1].mean_probability == pytest.approx((0.8 * 7 + 0.6) / 8)


def test_reduced_precision_matches_full_precision(tiny_set):
    """`auto` runs bf16 on AMX CPUs (fp16 on CUDA); its calls must match fp32's."""
    fast = Inspector.load(tiny_set, "cpu", precision="auto")
    full = Inspector.load(tiny_set, "cpu", precision="fp32")
    assert full.device_label == "cpu"
    for seed in range(3):
        a, b = fast.inspect(_crop(seed, 128, 320)), full.inspect(_crop(seed, 128, 320))
        np.testing.assert_allclose(a.probabilities, b.probabilities, atol=0.03)
        assert (a.masks != b.masks).mean() < 0.02


def test_unknown_precision_is_refused(tiny_set):
    from core.contract.errors import SteelScanError

    with pytest.raises(SteelScanError, match="use one of auto, fp32"):
        Inspector.load(tiny_set, "cpu", precision="int4")
