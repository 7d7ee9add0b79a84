"""Augmentations (albumentations): what a line camera really varies, and nothing it does not.

Flips and brightness/contrast cover strip direction and exposure; glare and CLAHE cover the
bright reflections and local contrast changes of real inspection lighting.
"""

from __future__ import annotations

import albumentations as A
import cv2
import numpy as np


class Glare(A.ImageOnlyTransform):
    """A soft bright elliptical highlight, as a lamp reflection on rolled steel leaves."""

    def __init__(self, strength: tuple[float, float] = (40.0, 120.0), p: float = 0.5) -> None:
        super().__init__(p=p)
        self.strength = strength

    def get_params_dependent_on_data(self, params: dict, data: dict) -> dict:
        height, width = params["shape"][:2]
        rng = self.py_random
        return {
            "center": (rng.uniform(0, width), rng.uniform(0, height)),
            "radii": (rng.uniform(0.1, 0.6) * width, rng.uniform(0.1, 0.6) * height),
            "amount": rng.uniform(*self.strength),
        }

    def apply(self, img: np.ndarray, center=(0.0, 0.0), radii=(1.0, 1.0), amount=0.0, **params) -> np.ndarray:
        return add_glare(img, center, radii, amount)


def add_glare(image: np.ndarray, center: tuple[float, float], radii: tuple[float, float], amount: float) -> np.ndarray:
    height, width = image.shape[:2]
    yy, xx = np.ogrid[:height, :width]
    falloff = np.exp(-(((xx - center[0]) / radii[0]) ** 2 + ((yy - center[1]) / radii[1]) ** 2))
    lifted = image.astype(np.float32) + amount * falloff[..., None]
    return np.clip(lifted, 0, 255).astype(np.uint8)


def photometric(strength: float = 1.0) -> list:
    """Exposure, contrast, glare, CLAHE and sensor noise; `strength` 0 turns them off."""
    if strength <= 0:
        return []
    return [
        A.RandomBrightnessContrast(brightness_limit=0.25 * strength, contrast_limit=0.25 * strength, p=0.7),
        A.RandomGamma(gamma_limit=(80, 120), p=0.3),
        Glare(p=0.3 * strength),
        A.CLAHE(clip_limit=(1.0, 3.0), tile_grid_size=(8, 8), p=0.2),
        A.GaussNoise(std_range=(0.01, 0.04), p=0.2),
    ]


def strip_pipeline(augment: bool, strength: float = 1.0) -> A.Compose:
    """Crops of long strips stay at native scale: the engine inspects whole strips unresized.
    `strength` scales the photometric part (0: flips only)."""
    geometric = [A.HorizontalFlip(p=0.5), A.VerticalFlip(p=0.5)] if augment else []
    return A.Compose(geometric + photometric(strength if augment else 0.0))


def patch_pipeline(size: int, augment: bool, zoom: tuple[float, float] = (0.85, 1.25),
                   strength: float = 1.0) -> A.Compose:
    """Square photographs (NEU-style): random crops of `size` px whose scale stays near native,
    since the engine feeds the whole image at its own resolution (zoom 1.0 = native)."""
    if not augment:
        return A.Compose([ZoomCrop(size, (1.0, 1.0))])
    return A.Compose([
        ZoomCrop(size, zoom),
        A.HorizontalFlip(p=0.5), A.VerticalFlip(p=0.5), A.RandomRotate90(p=0.5),
        *photometric(strength),
    ])


class ZoomCrop(A.DualTransform):
    """Crop a square of side size/zoom at a random place and resize it to `size`."""

    def __init__(self, size: int, zoom: tuple[float, float], p: float = 1.0) -> None:
        super().__init__(p=p)
        self.size, self.zoom = size, zoom

    def get_params_dependent_on_data(self, params: dict, data: dict) -> dict:
        height, width = params["shape"][:2]
        side = int(round(self.size / self.py_random.uniform(*self.zoom)))
        side = max(8, min(side, height, width))
        y0 = self.py_random.randint(0, height - side)
        x0 = self.py_random.randint(0, width - side)
        return {"box": (x0, y0, side)}

    def apply(self, img: np.ndarray, box=(0, 0, 1), **params) -> np.ndarray:
        return _crop_resize(img, box, self.size, interpolation=1)

    def apply_to_mask(self, mask: np.ndarray, box=(0, 0, 1), **params) -> np.ndarray:
        return _crop_resize(mask, box, self.size, interpolation=0)


def _crop_resize(array: np.ndarray, box: tuple[int, int, int], size: int, interpolation: int) -> np.ndarray:
    x0, y0, side = box
    crop = array[y0 : y0 + side, x0 : x0 + side]
    if side == size:
        return np.ascontiguousarray(crop)
    return cv2.resize(crop, (size, size), interpolation=cv2.INTER_LINEAR if interpolation else cv2.INTER_NEAREST)
