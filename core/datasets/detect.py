"""Pick the reader from what a folder holds, so every CLI takes just a path."""

from __future__ import annotations

from pathlib import Path

from core.contract.errors import DatasetError
from core.datasets.base import Dataset
from core.datasets.folder import read_mask_folder
from core.datasets.neu import read_neu_det
from core.datasets.severstal import read_severstal


def open_dataset(path: str | Path) -> Dataset:
    root = Path(path)
    if not root.is_dir():
        raise DatasetError(root, "is not a folder", "pass a dataset folder")
    if (root / "train_images").is_dir():
        return read_severstal(root)
    if (root / "annotations").is_dir() and (root / "images").is_dir():
        return read_neu_det(root)
    if (root / "train" / "annotations").is_dir():
        return read_neu_det(root / "train")
    if (root / "images").is_dir() and (root / "classes.txt").is_file():
        return read_mask_folder(root)
    raise DatasetError(
        root,
        "matches no known dataset layout",
        "expected train.csv + train_images/ (Severstal), images/ + annotations/ (NEU-DET), "
        "or images/ + masks/ + classes.txt",
    )
