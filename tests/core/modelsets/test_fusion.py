"""Folding BatchNorm into the convolutions changes no verdict: the folded engine against the weights as loaded."""

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from core.datasets.synthetic import make_strip
from core.engine.inference import Inspector
from core.modelsets.fusion import fold_for_inference
from core.modelsets.modelset import load_model_set
from tests.conftest import PROJECT, make_tiny_model_set

SHIPPED = PROJECT / "models" / "severstal-synthetic"


def _norms(module: nn.Module) -> int:
    return sum(isinstance(m, nn.BatchNorm2d) for m in module.modules())


def _strips() -> list[np.ndarray]:
    # Strips with each class, cropped to 256x640 so a ResNet50 runs in a test's time.
    return [np.ascontiguousarray(make_strip(seed, (seed % 4,)).pixels[:, :640]) for seed in range(4)]


def _assert_same_verdicts(folded: Inspector, plain: Inspector) -> None:
    for pixels in _strips():
        a, b = folded.inspect(pixels), plain.inspect(pixels)
        np.testing.assert_allclose(a.probabilities, b.probabilities, atol=1e-4)
        assert a.classes_present == b.classes_present
        assert a.masks.shape == b.masks.shape
        assert (a.masks != b.masks).mean() < 1e-4  # a pixel right at its threshold may flip, no more


def test_the_shipped_set_folds_every_norm_and_keeps_its_verdicts():
    plain = Inspector(load_model_set(SHIPPED, "cpu"), backend="torch")
    folded = Inspector.load(SHIPPED, "cpu", backend="torch")
    assert _norms(plain.model_set.classifier) > 50 and _norms(plain.model_set.segmenter.decoder) > 0
    assert _norms(folded.model_set.classifier) == 0 and _norms(folded.model_set.segmenter.decoder) == 0
    # Folded weights keep the channels_last layout the loader gave them (nothing moves them again).
    assert folded.model_set.classifier.layer2[0].conv2.weight.is_contiguous(memory_format=torch.channels_last)
    # The U-Net's encoder is the classifier's backbone: still the very same modules, no second copy.
    assert folded.card.shared_encoder
    assert folded.model_set.segmenter.encoder.layer3 is folded.model_set.classifier.layer3
    assert any(v.any() for v in (folded.inspect(p).masks for p in _strips()))  # masks are compared, not all empty
    _assert_same_verdicts(folded, plain)


def test_a_set_with_its_own_encoder_folds_that_encoder_too(tmp_path: Path):
    folder = make_tiny_model_set(tmp_path / "own", source="own", seed=3)
    model_set = load_model_set(folder, "cpu")
    for norm in (m for m in model_set.segmenter.modules() if isinstance(m, nn.BatchNorm2d)):
        # Untrained norms are the identity: give them statistics, or folding could not go wrong.
        norm.running_mean.uniform_(-0.5, 0.5)
        norm.running_var.uniform_(0.5, 2.0)
    plain = Inspector(model_set, backend="torch")
    before = [plain.inspect(p) for p in _strips()]
    assert any(v.segmenter_ran for v in before)  # the own encoder and the decoder did run
    assert fold_for_inference(model_set) > 0
    assert _norms(model_set.segmenter) == 0 and _norms(model_set.classifier) == 0
    for pixels, old in zip(_strips(), before, strict=True):
        new = plain.inspect(pixels)
        np.testing.assert_allclose(new.probabilities, old.probabilities, atol=1e-4)
        assert (new.masks != old.masks).mean() < 1e-4


def test_folding_refuses_networks_in_training_mode(tiny_set):
    model_set = load_model_set(tiny_set, "cpu")
    model_set.classifier.train()
    with pytest.raises(ValueError, match="eval-mode"):
        fold_for_inference(model_set)
