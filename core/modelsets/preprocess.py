"""Pixels to network input, in one place for the engine, training and Grad-CAM, so they never drift apart.

"fixed" maps x/255 through the card's mean and std. "per-image" brings each image to zero mean
and unit variance: a lamp turned up or down (a gain and an offset on every pixel) then gives
the network the same input, short of the pixels it clips.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

NORMALISATIONS = ("fixed", "per-image")
MIN_STD = 4.0  # grey levels: a nearly flat image is not stretched into amplified sensor noise


@dataclass(frozen=True)
class Normaliser:
    mode: str
    mean: tuple[float, ...]
    std: tuple[float, ...]

    @classmethod
    def from_card(cls, card) -> Normaliser:
        return cls(card.normalisation, tuple(card.mean), tuple(card.std))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) float pixels in 0..255 -> network input; works in place on `x`."""
        if self.mode == "per-image":
            flat = x.flatten(1)
            mean = flat.mean(1).view(-1, 1, 1, 1)
            std = flat.std(1).clamp_min(MIN_STD).view(-1, 1, 1, 1)
            return x.sub_(mean).div_(std)
        std = torch.tensor(self.std, device=x.device).view(1, -1, 1, 1)
        mean = torch.tensor(self.mean, device=x.device).view(1, -1, 1, 1)
        # x/255 normalised as x * scale + shift: one fused multiply-add pass per pixel.
        return x.mul_(1.0 / (255.0 * std)).add_(-mean / std)
