"""Pixels to network input, in one place for the engine, training and Grad-CAM, so they never drift apart.

A card with an `input_size` has its networks see every image resized to that size (whole photographs
of a plant's own parts, learnt at one scale); their masks are resized back to the image (`to_image`).

"fixed" maps x/255 through the card's mean and std. "per-image" brings each image to zero mean
and unit variance: a lamp turned up or down (a gain and an offset on every pixel) then gives
the network the same input, short of the pixels it clips.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

NORMALISATIONS = ("fixed", "per-image")
MIN_STD = 4.0  # grey levels: a nearly flat image is not stretched into amplified sensor noise


@dataclass(frozen=True)
class Normaliser:
    mode: str
    mean: tuple[float, ...]
    std: tuple[float, ...]
    size: tuple[int, int] | None = None  # (height, width) the networks see; None: the image's own

    @classmethod
    def from_card(cls, card) -> Normaliser:
        size = tuple(card.input_size) if card.input_size else None
        return cls(card.normalisation, tuple(card.mean), tuple(card.std), size)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) float pixels in 0..255 -> network input; works in place on `x` (then resizes it
        when the card fixes the networks' input size: statistics come from the image as it is)."""
        x = self._normalise(x)
        if self.size is None or tuple(x.shape[-2:]) == self.size:
            return x
        return F.interpolate(x, size=self.size, mode="bilinear", align_corners=False, antialias=True)

    def to_image(self, maps: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
        """(N, K, h, w) maps computed at the networks' input size -> the image's (height, width)."""
        if tuple(maps.shape[-2:]) == tuple(shape):
            return maps
        return F.interpolate(maps.float(), size=tuple(shape), mode="bilinear", align_corners=False)

    def _normalise(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "per-image":
            flat = x.flatten(1)
            mean = flat.mean(1).view(-1, 1, 1, 1)
            std = flat.std(1).clamp_min(MIN_STD).view(-1, 1, 1, 1)
            return x.sub_(mean).div_(std)
        std = torch.tensor(self.std, device=x.device).view(1, -1, 1, 1)
        mean = torch.tensor(self.mean, device=x.device).view(1, -1, 1, 1)
        # x/255 normalised as x * scale + shift: one fused multiply-add pass per pixel.
        return x.mul_(1.0 / (255.0 * std)).add_(-mean / std)
