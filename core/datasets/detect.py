"""Pick the reader from what a folder holds, so every CLI takes just a path."""

from __future__ import annotations

from pathlib import Path

from core.contract.errors import DatasetError
from core.datasets.base import Dataset
from core.datasets.class_folders import class_folder_layout, read_class_folders, read_image_folders
from core.datasets.coco import find_coco_files, read_coco
from core.datasets.folder import read_mask_folder
from core.datasets.neu import read_neu_det
from core.datasets.severstal import read_severstal
from core.datasets.yolo import find_yaml, read_yolo

ON_PROBLEM = ("skip", "raise")


def detect_layout(root: Path) -> str:
    if (root / "train_images").is_dir():
        return "severstal"
    if find_yaml(root) is not None:
        return "yolo"
    if (root / "annotations").is_dir() and (root / "images").is_dir() and any((root / "annotations").glob("*.xml")):
        return "neu-det"
    if (root / "train" / "annotations").is_dir() and any((root / "train" / "annotations").glob("*.xml")):
        return "neu-det-parent"
    if (root / "images").is_dir() and (root / "classes.txt").is_file():
        return "mask-folder"
    if find_coco_files(root):
        return "coco"
    # Last: any two folders of images would pass for class folders.
    return class_folder_layout(root)


READERS = {"severstal": read_severstal, "yolo": read_yolo, "neu-det": read_neu_det,
           "neu-det-parent": lambda root: read_neu_det(root / "train"), "mask-folder": read_mask_folder,
           "coco": read_coco, "class-folders": read_class_folders, "image-folders": read_image_folders}


def open_dataset(path: str | Path, on_problem: str = "skip") -> Dataset:
    """Read any supported layout. Images whose labels cannot be read are left out and listed in
    `Dataset.problems` (on_problem="skip", what training and `steelscan data describe` use), or the
    first one is raised as a DatasetError (on_problem="raise")."""
    if on_problem not in ON_PROBLEM:
        raise ValueError(f"on_problem {on_problem!r}: use one of {ON_PROBLEM}")
    root = Path(path)
    if not root.is_dir():
        raise DatasetError(root, "is not a folder", "pass a dataset folder")
    layout = detect_layout(root)
    if not layout:
        raise DatasetError(
            root,
            "matches no known dataset layout",
            "expected train.csv + train_images/ (Severstal), data.yaml + images/ + labels/ (YOLO), a COCO JSON, "
            "images/ + annotations/ (NEU-DET), images/ + masks/ + classes.txt, or a folder per class of images "
            "(optionally under train/ val/ test/; a mask PNG beside each image is read too)",
        )
    dataset = READERS[layout](root)
    if dataset.problems and on_problem == "raise":
        more = f" (and {len(dataset.problems) - 1} more)" if len(dataset.problems) > 1 else ""
        raise DatasetError(root, f"has unreadable labels{more}: {dataset.problems[0]}",
                           f"fix them; `steelscan data describe {root}` lists every one")
    if not dataset.samples:
        raise DatasetError(root, f"holds no image with a readable label ({len(dataset.problems)} problems)",
                           f"`steelscan data describe {root}` lists them")
    return dataset
