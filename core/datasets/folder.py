"""Plain layout: images/ with masks/<stem>.png holding class ids (0 = background, k = class k),
and classes.txt naming the classes in order. An image without a mask PNG is clean."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from core.contract.errors import DatasetError
from core.datasets.base import Dataset, Sample
from core.imaging.imageio import is_image_path


def read_mask_folder(root: str | Path) -> Dataset:
    root = Path(root)
    images, masks, names_file = root / "images", root / "masks", root / "classes.txt"
    if not images.is_dir() or not names_file.is_file():
        raise DatasetError(root, "lacks images/ or classes.txt", "see README: a folder of images + mask PNGs")
    class_names = tuple(line.strip() for line in names_file.read_text().splitlines() if line.strip())
    samples: list[Sample] = []
    for image_path in sorted(p for p in images.iterdir() if is_image_path(p)):
        mask_path = masks / f"{image_path.stem}.png"
        if not mask_path.is_file():
            samples.append(Sample(image_path=image_path, labels=()))
            continue
        ids = np.unique(np.asarray(Image.open(mask_path).convert("L")))
        if ids.max(initial=0) > len(class_names):
            raise DatasetError(mask_path, f"holds class id {ids.max()} but classes.txt names {len(class_names)}",
                               "fix the mask or classes.txt")
        labels = tuple(int(i) - 1 for i in ids if i > 0)
        samples.append(Sample(image_path=image_path, labels=labels, mask_path=mask_path))
    return Dataset(root.name, root, "mask-folder", class_names, "multi-label", tuple(samples))
