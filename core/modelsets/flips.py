"""Test-time flips: a card with `test_time_flips` has each image scored together with its three mirror
images (left-right, upside down, both), and the four answers averaged.

Whole-image sets are trained with both flips as augmentation, so each mirror image is as much "the same
sheet" to the network as the image itself; averaging four looks removes much of the noise a single look
has. Measured on the magnetic-tile hold-out (README, Train on your own images): image-level AP 0.86 -> 0.91
for the same weights. The cost is four network passes an image, which a 224 x 224 whole-image network
affords (12.4 -> 26.0 ms an image through the engine on a 2-core CPU, benchmarks/bench_flips.py); strip
sets keep one pass.

The engine (core.engine.inference), threshold tuning and the hold-out benchmark all call these, so the
thresholds are tuned on the very probabilities the engine computes.
"""

from __future__ import annotations

import torch

FLIPS: tuple[tuple[int, ...], ...] = ((), (-1,), (-2,), (-2, -1))  # dims flipped: none, width, height, both


def with_flips(x: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (4N, C, H, W): every image, then every image mirrored left-right, and so on."""
    return torch.cat([x.flip(dims) if dims else x for dims in FLIPS])


def view_rows(indices: list[int], count: int) -> list[int]:
    """Rows of a `with_flips` batch of `count` images holding the views of images `indices`, view by view."""
    return [view * count + i for view in range(len(FLIPS)) for i in indices]


def mean_over_flips(values: torch.Tensor, count: int) -> torch.Tensor:
    """(4N, ...) per-view values (class probabilities) -> (N, ...), each image's mean over its views."""
    return values.reshape(len(FLIPS), count, *values.shape[1:]).mean(0)


def unflip_mean(maps: torch.Tensor, count: int) -> torch.Tensor:
    """(4N, K, H, W) maps of the views -> (N, K, H, W): each view's map flipped back onto the image, averaged."""
    views = maps.reshape(len(FLIPS), count, *maps.shape[1:])
    return torch.stack([view.flip(dims) if dims else view for view, dims in zip(views, FLIPS, strict=True)]).mean(0)
