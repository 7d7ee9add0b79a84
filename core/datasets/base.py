"""One in-memory shape for every dataset layout: samples that can draw their own masks.

Readers that find bad annotations record one line per problem in `Dataset.problems` and leave the
image out: an image whose label cannot be read is never taken as clean."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from core.imaging.rle import rle_decode

Box = tuple[int, int, int, int, int]  # class index, x0, y0, x1, y1 (inclusive pixel corners)
# class index, kind, data. "polygon": flat (x0, y0, x1, y1, ...) normalised to 0..1 by the image's
# width and height (YOLO polygons and boxes, COCO polygons); "coco-rle": COCO RLE as a JSON string.
Shape = tuple[int, str, object]
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Sample:
    image_path: Path
    labels: tuple[int, ...]  # class indices present (0-based), sorted
    rles: dict[int, str] = field(default_factory=dict)  # Severstal: class index -> RLE
    boxes: tuple[Box, ...] = ()  # NEU-DET: VOC boxes
    mask_path: Path | None = None  # folder layout: PNG of class ids (0 = background)
    shapes: tuple[Shape, ...] = ()  # YOLO / COCO annotations, drawn at the image's size
    mask_class: int | None = None  # class folders: mask_path is that one class's binary mask
    split: str = ""  # the dataset's own split ("train" | "val" | "test"), "" when it has none

    def masks(self, height: int, width: int, num_classes: int) -> np.ndarray:
        """(num_classes, height, width) uint8 0/1 ground-truth masks at the image's size."""
        stack = np.zeros((num_classes, height, width), dtype=np.uint8)
        for index, rle in self.rles.items():
            stack[index] = rle_decode(rle, (height, width))
        for index, x0, y0, x1, y1 in self.boxes:
            stack[index, max(y0, 0) : y1 + 1, max(x0, 0) : x1 + 1] = 1
        for index, kind, data in self.shapes:
            stack[index] |= draw_shape(kind, data, height, width)
        if self.mask_path is not None and self.mask_class is not None:
            stack[self.mask_class] |= binary_mask(self.mask_path, (height, width))
        elif self.mask_path is not None:
            ids = np.asarray(Image.open(self.mask_path).convert("L"))
            if ids.shape != (height, width):
                raise ValueError(f"{self.mask_path}: mask is {ids.shape[::-1]}, image is {(width, height)}")
            for index in range(num_classes):
                stack[index] = ids == index + 1
        return stack


def binary_mask(path: Path, shape: tuple[int, int] | None = None) -> np.ndarray:
    """0/1 mask from a PNG: an indexed (palette) PNG's non-zero indices, else grey >= 128 (so
    anti-aliased edges split at half-way rather than growing the defect by their blur)."""
    with Image.open(path) as image:
        values = np.asarray(image) if image.mode == "P" else np.asarray(image.convert("L"))
        mask = (values > 0) if image.mode == "P" else (values >= 128)
    if shape is not None and mask.shape != shape:
        raise ValueError(f"{path}: mask is {mask.shape[::-1]}, image is {shape[::-1]}")
    return mask.astype(np.uint8)


def is_box_shape(shape: Shape) -> bool:
    """True for an axis-aligned rectangle (a detection box stored as a polygon, as YOLO and COCO bbox-only
    annotations are): it says where a defect is, not which pixels it covers."""
    _, kind, data = shape
    if kind != "polygon" or len(data) != 8:
        return False
    xs, ys = set(data[0::2]), set(data[1::2])
    return len(xs) == 2 and len(ys) == 2


def draw_shape(kind: str, data, height: int, width: int) -> np.ndarray:
    if kind == "polygon":
        canvas = Image.new("L", (width, height), 0)
        points = [(x * width, y * height) for x, y in zip(data[0::2], data[1::2], strict=True)]
        ImageDraw.Draw(canvas).polygon(points, fill=1, outline=1)
        return np.asarray(canvas, dtype=np.uint8)
    if kind == "coco-rle":
        from core.datasets.coco import decode_rle

        mask = decode_rle(data)
        if mask.shape != (height, width):
            raise ValueError(f"COCO RLE of size {mask.shape[::-1]} on an image of {(width, height)}")
        return mask
    raise ValueError(f"unknown shape kind {kind!r}")


@dataclass(frozen=True)
class Dataset:
    name: str
    root: Path
    layout: str  # "severstal" | "neu-det" | "mask-folder"
    class_names: tuple[str, ...]
    task: str  # "multi-label" | "single-label"
    samples: tuple[Sample, ...]
    problems: tuple[str, ...] = ()  # one line each: file, line or object, and the fix

    @property
    def own_split(self) -> bool:
        """True when the dataset came with its own train/validation/test split (kept by training)."""
        return any(sample.split for sample in self.samples)

    def split_indices(self, split: str) -> tuple[int, ...]:
        return tuple(i for i, sample in enumerate(self.samples) if sample.split == split)

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
            # Only layouts that have them hash these, so older datasets keep their fingerprints.
            if sample.shapes:
                digest.update(repr(sample.shapes).encode())
            if sample.split:
                digest.update(sample.split.encode())
        return "sha256:" + digest.hexdigest()[:16]

    def label_matrix(self) -> np.ndarray:
        matrix = np.zeros((len(self.samples), len(self.class_names)), dtype=np.uint8)
        for row, sample in enumerate(self.samples):
            matrix[row, list(sample.labels)] = 1
        return matrix
