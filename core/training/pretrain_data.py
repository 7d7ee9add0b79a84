"""The image pool the steel backbone is pre-trained on: every labelled steel image we may use, at one size.

Each source dataset (any layout core.datasets reads, plus fresh synthetic strips) gives grey images at
SIDE x SIDE: a photograph resized whole, a long strip cut into square tiles along its length (its masks
with it). Per image the pool keeps the source's class labels, a defect mask (the union of its classes) and
where that mask can be trusted: everywhere for pixel masks, outside the boxes for box-only labels (a box
says "a defect is somewhere in here", and nothing outside it). Reserved images (core.datasets.reserved) are
never read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from core.datasets import Dataset, open_dataset
from core.datasets.base import Sample, is_box_shape
from core.datasets.reserved import is_reserved

SIDE = 224
STRIP_TILE_ASPECT = 2.5  # an image at least this long for its width is cut into square tiles
MIN_TILE_PIXELS = 12  # a tile shows a class when it holds this much of its mask (as training crops)


@dataclass
class Source:
    name: str
    layout: str
    task: str  # "single-label" | "multi-label"
    class_names: tuple[str, ...]
    images_used: int = 0
    reserved_left_out: int = 0
    skipped: int = 0  # unreadable images or labels


@dataclass
class Pool:
    sources: list[Source] = field(default_factory=list)
    images: list[np.ndarray] = field(default_factory=list)  # (SIDE, SIDE) uint8 grey
    defects: list[np.ndarray] = field(default_factory=list)  # (SIDE, SIDE) uint8 0/1: any class
    known: list[np.ndarray] = field(default_factory=list)  # (SIDE, SIDE) uint8 0/1: where `defects` is exact
    source_of: list[int] = field(default_factory=list)
    labels: list[np.ndarray] = field(default_factory=list)  # float32 vector over its source's classes

    def __len__(self) -> int:
        return len(self.images)

    def add_dataset(self, dataset: Dataset, clean_only: bool = False) -> None:
        """Add a dataset's unreserved images; `clean_only`: its clean images alone, without a label (as a plant's
        unlabelled surface: they teach through pasted defects only)."""
        classes = () if clean_only else dataset.class_names
        source = Source(dataset.name + (" (clean images only)" if clean_only else ""), dataset.layout,
                        dataset.task, classes, skipped=len(dataset.problems))
        self.sources.append(source)
        index = len(self.sources) - 1
        for sample in dataset.samples:
            if clean_only and sample.labels:
                continue
            if is_reserved(sample.image_path):
                source.reserved_left_out += 1
                continue
            try:
                tiles = sample_tiles(sample, len(dataset.class_names))
            except (OSError, ValueError):
                source.skipped += 1
                continue
            source.images_used += 1
            for grey, masks, known in tiles:
                labels = np.zeros(len(classes), np.float32)
                if clean_only:
                    pass
                elif dataset.task == "single-label" or len(tiles) == 1:
                    labels[list(sample.labels)] = 1.0
                else:  # a tile of a strip shows the classes whose masks reach into it
                    labels[masks.reshape(len(masks), -1).sum(1) >= MIN_TILE_PIXELS] = 1.0
                self.images.append(to_side(grey, cv2.INTER_AREA))
                self.defects.append((to_side(masks.max(0, initial=0).astype(np.float32), cv2.INTER_AREA)
                                     >= 0.5).astype(np.uint8))
                self.known.append((to_side(known.astype(np.float32), cv2.INTER_AREA) >= 0.999).astype(np.uint8))
                self.source_of.append(index)
                self.labels.append(labels)


def to_side(array: np.ndarray, interpolation: int) -> np.ndarray:
    return cv2.resize(array, (SIDE, SIDE), interpolation=interpolation)


def sample_tiles(sample: Sample, num_classes: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """[(grey, (K, h, w) masks, known)] of one sample: the whole image, or square tiles of a long strip."""
    with Image.open(sample.image_path) as image:
        grey = np.asarray(image.convert("L"))
    height, width = grey.shape
    masks = sample.masks(height, width, max(num_classes, 1))
    known = np.ones((height, width), np.uint8)
    boxed = sample.boxes or any(is_box_shape(shape) for shape in sample.shapes)
    located = sample.rles or sample.mask_path is not None or sample.shapes or sample.boxes
    if sample.labels and not located:  # image labels only: no pixel of a defective image is known
        known = np.zeros_like(known)
    elif boxed:  # box labels: the defect is somewhere inside, so only the outside is known (clean)
        known = 1 - masks.max(0)
        masks = np.zeros_like(masks)
    long_side, short_side = max(height, width), min(height, width)
    if long_side < STRIP_TILE_ASPECT * short_side:
        return [(grey, masks, known)]
    count = long_side // short_side
    starts = np.linspace(0, long_side - short_side, count).round().astype(int)
    if width >= height:
        return [(grey[:, s:s + short_side], masks[:, :, s:s + short_side], known[:, s:s + short_side])
                for s in starts]
    return [(grey[s:s + short_side], masks[:, s:s + short_side], known[s:s + short_side]) for s in starts]


def build_pool(paths: list[Path], synthetic: int, synthetic_folder: Path, clean_only: tuple[Path, ...] = ()) -> Pool:
    pool = Pool()
    for path in paths:
        pool.add_dataset(open_dataset(path))
    for path in clean_only:
        pool.add_dataset(open_dataset(path), clean_only=True)
    if synthetic:
        from core.datasets.synthetic import write_dataset

        folder = synthetic_folder / f"synthetic-pretrain-{synthetic}"
        if not (folder / "train.csv").is_file():
            write_dataset(folder, list(range(10_000, 10_000 + synthetic)))
        pool.add_dataset(open_dataset(folder))
        pool.sources[-1].name = f"synthetic strips (seeds 10000-{10_000 + synthetic - 1})"
    return pool
