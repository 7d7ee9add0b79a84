"""Input normalisation: one function serves the engine, training and Grad-CAM."""

import numpy as np
import torch

from core.datasets.synthetic import make_strip
from core.engine.inference import Inspector
from core.modelsets.preprocess import MIN_STD, Normaliser
from tests.conftest import make_tiny_model_set


def _pixels(seed: int = 5) -> np.ndarray:
    return np.ascontiguousarray(make_strip(seed, (0, 3)).pixels[:128, :384])


def test_fixed_normalisation_is_the_cards_mean_and_std():
    x = torch.from_numpy(_pixels()).permute(2, 0, 1)[None].float()
    normaliser = Normaliser("fixed", (0.5, 0.4, 0.3), (0.25, 0.2, 0.1))
    mean, std = torch.tensor([0.5, 0.4, 0.3]).view(1, 3, 1, 1), torch.tensor([0.25, 0.2, 0.1]).view(1, 3, 1, 1)
    expected = (x / 255 - mean) / std
    torch.testing.assert_close(normaliser(x.clone()), expected, rtol=1e-5, atol=1e-5)


def test_per_image_normalisation_cancels_gain_and_offset():
    x = torch.from_numpy(_pixels()).permute(2, 0, 1)[None].float()
    normaliser = Normaliser("per-image", (0.5,) * 3, (0.25,) * 3)
    out = normaliser(x.clone())
    assert abs(out.mean().item()) < 1e-4 and abs(out.std().item() - 1) < 1e-3
    torch.testing.assert_close(normaliser(x * 0.6 + 30), out, rtol=1e-4, atol=1e-4)
    # Each image of a batch by its own statistics.
    both = normaliser(torch.cat([x, x * 0.5]))
    torch.testing.assert_close(both[0], both[1], rtol=1e-4, atol=1e-4)


def test_a_flat_image_is_not_stretched_into_noise():
    flat = torch.full((1, 3, 64, 64), 100.0)
    flat[0, :, 0, 0] = 101.0  # one grey level of noise
    out = Normaliser("per-image", (0.5,) * 3, (0.25,) * 3)(flat)
    assert out.abs().max().item() <= 1.0 / MIN_STD + 1e-6


def test_engine_with_per_image_normalisation_ignores_exposure(tmp_path):
    """A lamp turned down (gain and offset, nothing clipped) leaves the verdict unchanged."""
    inspector = Inspector.load(make_tiny_model_set(tmp_path / "set", normalisation="per-image"), "cpu",
                               precision="fp32")
    pixels = _pixels()
    dimmer = np.clip(pixels.astype(np.float32) * 0.7 + 12, 0, 255).round().astype(np.uint8)
    bright, dim = inspector.inspect(pixels), inspector.inspect(dimmer)
    # Rounding to whole grey levels is the only difference between the two inputs.
    np.testing.assert_allclose(bright.probabilities, dim.probabilities, atol=0.01)
    # What the network is given: the same picture per image, a different one with fixed scaling.
    per_image = inspector.to_tensor([pixels, dimmer])
    assert (per_image[0] - per_image[1]).abs().mean() < 0.05  # whole-grey-level rounding only
    fixed = Inspector.load(make_tiny_model_set(tmp_path / "fixed"), "cpu", precision="fp32").to_tensor([pixels, dimmer])
    assert (fixed[0] - fixed[1]).abs().mean() > 0.1
