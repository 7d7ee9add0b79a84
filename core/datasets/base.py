"""One in-memory shape for every dataset layout: samples that can draw their own masks."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from core.imaging.rle import rle_decode

Box = tuple[int, int, int, int, int]  # class index, x0, y0, x1, y1 (inclusive pixel corners)


@dataclass(frozen=True)
class Sample:
    image_path: Path
    labels: tuple[int, ...]  # class indices present (0-based), sorted
    rles: dict[int, str] = field(default_factory=dict)  # Severstal: class index -> RLE
    boxes: tuple[Box, ...] = ()  # NEU-DET: VOC boxes
    mask_path: Path | None = None  # folder layout: PNG of class ids (0 = background)

    def masks(self, height: int, width: int, num_classes: int) -> np.ndarray:
        """(num_classes, height, width) uint8 0/1 ground-truth masks at the image's size."""
        stack = np.zeros((num_classes, height, width), dtype=np.uint8)
        for index, rle in self.rles.items():
            stack[index] = rle_decode(rle, (height, width))
        for index, x0, y0, x1, y1 in self.boxes:
            stack[index, max(y0, 0) : y1 + 1, max(x0, 0) : x1 + 1] = 1
        if self.mask_path is not None:
            ids = np.asarray(Image.open(self.mask_path).convert("L"))
            if ids.shape != (height, width):
                raise ValueError(f"{self.mask_path}: mask is {ids.shape[::-1]}, image is {(width, height)}")
            for index in range(num_classes):
                stack[index] = ids == index + 1
        return stack


@dataclass(frozen=True)
class Dataset:
    name: str
    root: Path
    layout: str  # "severstal" | "neu-det" | "mask-folder"
    class_names: tuple[str, ...]
    task: str  # "multi-label" | "single-label"
    samples: tuple[Sample, ...]

    def fingerprint(self) -> str:
        """Stable hash of file names, sizes and labels: says which data a model was trained on."""
        digest = hashlib.sha256()
        digest.update("|".join(self.class_names).encode())
        for sample in sorted(self.samples, key=lambda s: s.image_path.name):
            size = sample.image_path.stat().st_size if sample.image_path.exists() else -1
            digest.update(f"{sample.image_path.name}:{size}:{sample.labels}".encode())
            for index in sorted(sample.rles):
                digest.update(f"{index}:{sample.rles[index]}".encode())
            digest.update(repr(sample.boxes).encode())
        return "sha256:" + digest.hexdigest()[:16]

    def label_matrix(self) -> np.ndarray:
        matrix = np.zeros((len(self.samples), len(self.class_names)), dtype=np.uint8)
        for row, sample in enumerate(self.samples):
            matrix[row, list(sample.labels)] = 1
        return matrix
