"""Deterministic synthetic steel strips with four defect kinds and their exact masks.

The kinds echo Severstal's four classes: 1 pits (clusters of small dark dots), 2 crazing (fine
networks of short cracks), 3 scratches (long thin lines along or across the rolling direction),
4 patches (large dark irregular areas). Every mask is the exact set of pixels the defect changed.
Same seed, same strip, on every machine.

    python -m core.synthetic OUT_DIR --count 200 --seed 0   # Severstal layout: train.csv + train_images/
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from core.datasets.severstal import write_severstal_csv
from core.imaging.rle import rle_encode

CLASS_NAMES = ("pits", "crazing", "scratches", "patches")
HEIGHT, WIDTH = 256, 1600


@dataclass(frozen=True)
class Strip:
    image_id: str
    pixels: np.ndarray  # H x W x 3 uint8 (grey content, three channels like Severstal's JPEGs)
    masks: np.ndarray  # (4, H, W) uint8
    variant: str

    @property
    def classes(self) -> tuple[int, ...]:
        return tuple(int(i) for i in np.flatnonzero(self.masks.reshape(len(self.masks), -1).any(1)))


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma_y: float, sigma_x: float) -> np.ndarray:
    noise = rng.standard_normal(shape).astype(np.float32)
    blurred = cv2.GaussianBlur(noise, (0, 0), sigmaX=sigma_x, sigmaY=sigma_y)
    return blurred / (blurred.std() + 1e-6)


def background(rng: np.random.Generator, variant: str, height: int = HEIGHT, width: int = WIDTH) -> np.ndarray:
    """Rolled steel: streaks along the rolling direction, uneven lighting, sensor noise."""
    level = rng.uniform(140, 185) if variant == "bright" else rng.uniform(65, 105)
    streaks = _smooth_noise(rng, (height, width), 0.8, 40.0) * rng.uniform(4, 9)
    grain = _smooth_noise(rng, (height, width), 1.0, 3.0) * rng.uniform(2, 4)
    x = np.linspace(-1, 1, width, dtype=np.float32)
    y = np.linspace(-1, 1, height, dtype=np.float32)[:, None]
    lighting = (1 - rng.uniform(0.05, 0.25) * x**2) * (1 + rng.uniform(-0.15, 0.15) * x) * (1 - 0.1 * y**2)
    image = level * lighting + streaks + grain + rng.normal(0, rng.uniform(2, 5), (height, width))
    if rng.random() < 0.2:  # the strip's edge out of frame: a dark band at one end, as on real lines
        edge = int(rng.uniform(60, 250))
        if rng.random() < 0.5:
            image[:, :edge] = rng.uniform(5, 20) + rng.normal(0, 2, (height, edge))
        else:
            image[:, -edge:] = rng.uniform(5, 20) + rng.normal(0, 2, (height, edge))
    return image.astype(np.float32)


def _pits(rng, mask: np.ndarray) -> None:
    h, w = mask.shape
    cx, cy = rng.integers(60, w - 60), rng.integers(30, h - 30)
    spread_x, spread_y = rng.uniform(15, 70), rng.uniform(10, 40)
    for _ in range(rng.integers(8, 40)):
        x = int(np.clip(rng.normal(cx, spread_x), 2, w - 3))
        y = int(np.clip(rng.normal(cy, spread_y), 2, h - 3))
        axes = (int(rng.integers(1, 5)), int(rng.integers(1, 4)))
        cv2.ellipse(mask, (x, y), axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)


def _crazing(rng, mask: np.ndarray) -> None:
    h, w = mask.shape
    x0, y0 = rng.integers(20, w - 160), rng.integers(10, h - 100)
    bw, bh = rng.integers(60, 150), rng.integers(50, 95)
    for _ in range(rng.integers(12, 30)):
        px, py = x0 + rng.uniform(0, bw), y0 + rng.uniform(0, bh)
        points = [(px, py)]
        for _ in range(rng.integers(2, 5)):
            px += rng.uniform(-12, 12)
            py += rng.uniform(-14, 14)
            points.append((px, py))
        cv2.polylines(mask, [np.int32(points)], False, 1, thickness=int(rng.integers(1, 3)))


def _scratch(rng, mask: np.ndarray) -> None:
    h, w = mask.shape
    length = rng.uniform(120, 700)
    angle = rng.normal(0, 0.25) if rng.random() < 0.7 else rng.uniform(0.6, 1.4) * rng.choice([-1, 1])
    x0, y0 = rng.uniform(0, w - 120), rng.uniform(20, h - 20)
    x1, y1 = x0 + length * np.cos(angle), y0 + length * np.sin(angle)
    bend = rng.uniform(-20, 20)
    t = np.linspace(0, 1, 24)
    xs, ys = x0 + (x1 - x0) * t, y0 + (y1 - y0) * t + bend * np.sin(np.pi * t)
    cv2.polylines(mask, [np.int32(np.stack([xs, ys], 1))], False, 1, thickness=int(rng.integers(2, 6)))


def _patch(rng, mask: np.ndarray) -> None:
    h, w = mask.shape
    cx, cy = rng.uniform(100, w - 100), rng.uniform(40, h - 40)
    rx, ry = rng.uniform(50, 220), rng.uniform(30, 110)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2
    wobble = _smooth_noise(rng, (h, w), 12, 12) * 0.35
    mask[(r + wobble) < 1.0] = 1


DRAWERS = (_pits, _crazing, _scratch, _patch)


def _apply(rng, image: np.ndarray, mask: np.ndarray, kind: int) -> None:
    """Change pixels only inside the mask, so the mask is exact."""
    m = mask.astype(bool)
    if kind == 0:  # pits: deep dark dots
        image[m] *= rng.uniform(0.35, 0.6)
    elif kind == 1:  # crazing: faint dark cracks
        image[m] *= rng.uniform(0.6, 0.78)
    elif kind == 2:  # scratches: bright or dark lines
        image[m] = image[m] * rng.uniform(0.5, 0.7) if rng.random() < 0.5 else image[m] + rng.uniform(35, 70)
    else:  # patches: dark scale with its own rough texture
        texture = _smooth_noise(rng, image.shape, 2, 2)
        image[m] = image[m] * rng.uniform(0.45, 0.7) + texture[m] * 6


def make_strip(seed: int, classes: tuple[int, ...] | None = None, variant: str | None = None,
               height: int = HEIGHT, width: int = WIDTH) -> Strip:
    """One strip. `classes` are 0-based; None draws them (half the strips clean)."""
    rng = np.random.default_rng(seed)
    variant = variant or ("bright" if rng.random() < 0.6 else "dark")
    if classes is None:
        classes = () if rng.random() < 0.5 else tuple(sorted(set(rng.choice(4, size=rng.integers(1, 3)).tolist())))
    image = background(rng, variant, height, width)
    masks = np.zeros((4, height, width), dtype=np.uint8)
    for kind in classes:
        for _ in range(1 if kind == 3 else int(rng.integers(1, 3))):
            layer = np.zeros((height, width), dtype=np.uint8)
            DRAWERS[kind](rng, layer)
            _apply(rng, image, layer, kind)
            masks[kind] |= layer
    grey = np.clip(image + 0.5, 0, 255).astype(np.uint8)
    return Strip(f"synth_{seed:06d}.jpg", np.repeat(grey[:, :, None], 3, axis=2), masks, variant)


def write_dataset(out: str | Path, seeds: list[int], quality: int = 95,
                  classes_for: dict[int, tuple[int, ...]] | None = None) -> dict[str, dict[int, str]]:
    """Write strips in the Severstal layout; returns their labels (image -> class -> RLE)."""
    out = Path(out)
    (out / "train_images").mkdir(parents=True, exist_ok=True)
    labels: dict[str, dict[int, str]] = {}
    for seed in seeds:
        strip = make_strip(seed, (classes_for or {}).get(seed))
        cv2.imwrite(str(out / "train_images" / strip.image_id), strip.pixels[:, :, ::-1],
                    [cv2.IMWRITE_JPEG_QUALITY, quality])
        labels[strip.image_id] = {k: rle_encode(strip.masks[k]) for k in strip.classes}
    write_severstal_csv(labels, out / "train.csv")
    (out / "classes.txt").write_text("\n".join(CLASS_NAMES) + "\n")
    return labels
