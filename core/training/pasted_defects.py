"""Synthetic defects pasted into real surface images, so clean images teach too.

After DRAEM (Zavrtanik et al. 2021) and CutPaste (Li et al. 2021): a plant has thousands of clean images for
every labelled defect. Pasting an irregular region that differs from its surroundings (another image's
texture, a darker or brighter blob, a thin scratch) gives an exact pixel mask of "something that does not
belong here" on the plant's own surface, with no label drawn by anyone. The steel backbone's pre-training
(core.training.pretrain) learns from these on every clean image it has, beside the real labels.

Pure functions on uint8 grey images; the random generator is passed in, so a seed gives the same defect.
"""

from __future__ import annotations

import cv2
import numpy as np

KINDS = ("texture", "blob", "scratch")
AREA_RANGE = (0.003, 0.06)  # share of the image a pasted region covers (real defects: ~0.1% to ~10%)


def blob_mask(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """An irregular region (smoothed noise, thresholded), 0/1 uint8, covering about AREA_RANGE of the image."""
    low = rng.standard_normal((max(4, height // 16), max(4, width // 16))).astype(np.float32)
    field = cv2.resize(low, (width, height), interpolation=cv2.INTER_CUBIC)
    field = cv2.GaussianBlur(field, (0, 0), sigmaX=rng.uniform(2.0, 6.0))
    share = rng.uniform(*AREA_RANGE)
    mask = (field >= np.quantile(field, 1.0 - share)).astype(np.uint8)
    # Keep the largest connected part: one defect, not a sprinkling of specks.
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if count > 2:
        largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        mask = (labels == largest).astype(np.uint8)
    return mask


def scratch_mask(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A thin curved line, 1-4 px wide, a quarter to the whole of the image long."""
    mask = np.zeros((height, width), np.uint8)
    length = rng.uniform(0.25, 1.0) * max(height, width)
    angle = rng.uniform(0, np.pi)
    start = np.array([rng.uniform(0, width), rng.uniform(0, height)])
    points, direction = [start], np.array([np.cos(angle), np.sin(angle)])
    for _ in range(8):
        direction = direction + rng.normal(0, 0.08, 2)
        direction /= np.linalg.norm(direction) + 1e-9
        points.append(points[-1] + direction * length / 8)
    cv2.polylines(mask, [np.round(np.array(points)).astype(np.int32)], False, 1, int(rng.integers(1, 5)))
    return mask


def paste_defect(image: np.ndarray, donor: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(image with one synthetic defect, its 0/1 mask). `image` and `donor` are (H, W) uint8 grey of one size;
    the donor lends its texture to "texture" defects (DRAEM's foreign-texture anomalies)."""
    height, width = image.shape
    kind = KINDS[int(rng.integers(len(KINDS)))]
    mask = scratch_mask(rng, height, width) if kind == "scratch" else blob_mask(rng, height, width)
    if not mask.any():
        return image, mask
    base = image.astype(np.float32)
    spread = max(float(base.std()), 8.0)
    if kind == "texture":
        other = donor.astype(np.float32)
        other = (other - other.mean()) / max(float(other.std()), 1.0) * spread * rng.uniform(0.8, 2.0)
        content = base.mean() + other + rng.choice((-1, 1)) * rng.uniform(0.3, 1.5) * spread
    else:  # darker or brighter than the surface by one to four of its own standard deviations
        content = base + rng.choice((-1, 1)) * rng.uniform(1.0, 4.0) * spread
    opacity = rng.uniform(0.5, 1.0)
    soft = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), sigmaX=0.8) * opacity
    out = base * (1 - soft) + content * soft
    return np.clip(out, 0, 255).astype(np.uint8), mask
