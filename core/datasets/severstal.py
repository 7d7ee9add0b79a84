"""Severstal layout: train.csv (either format) + train_images/.

Current format: `ImageId,ClassId,EncodedPixels`, one row per (image, class) with a defect.
Original format: `ImageId_ClassId,EncodedPixels`, four rows per image, empty = absent.
Class ids are 1-based in the files and 0-based everywhere inside SteelScan.
"""

from __future__ import annotations

import csv
from pathlib import Path

from core.contract.csvsafe import write_rows
from core.contract.errors import DatasetError
from core.datasets.base import Dataset, Sample
from core.imaging.imageio import is_image_path

DEFAULT_CLASS_NAMES = ("class1", "class2", "class3", "class4")
CURRENT_HEADER = ["ImageId", "ClassId", "EncodedPixels"]
ORIGINAL_HEADER = ["ImageId_ClassId", "EncodedPixels"]

Labels = dict[str, dict[int, str]]  # image id -> {0-based class index: RLE}


def read_severstal_csv(csv_path: str | Path) -> tuple[Labels, str]:
    """Read either format; returns ({image_id: {class_index: rle}}, format name).

    Images listed without any defect (original format) map to an empty dict.
    """
    path = Path(csv_path)
    try:
        with path.open(newline="") as handle:
            rows = list(csv.reader(handle))
    except OSError as exc:
        raise DatasetError(path, f"cannot be read ({exc.strerror})", "check the path") from None
    if not rows:
        raise DatasetError(path, "is empty", "expected a Severstal train.csv")
    header, body = [h.strip() for h in rows[0]], rows[1:]
    labels: Labels = {}
    if header == CURRENT_HEADER:
        for line, row in enumerate(body, start=2):
            if len(row) != 3:
                raise DatasetError(path, f"line {line} has {len(row)} fields, expected 3", "fix the CSV")
            image_id, class_id, rle = row
            _add(labels, path, line, image_id, class_id, rle)
        return labels, "current"
    if header == ORIGINAL_HEADER:
        for line, row in enumerate(body, start=2):
            if len(row) != 2 or "_" not in row[0]:
                raise DatasetError(path, f"line {line} is not '<image>_<class>,<rle>'", "fix the CSV")
            image_id, class_id = row[0].rsplit("_", 1)
            labels.setdefault(image_id, {})
            if row[1].strip():
                _add(labels, path, line, image_id, class_id, row[1])
        return labels, "original"
    raise DatasetError(
        path,
        f"header {','.join(header)!r} is neither Severstal format",
        f"expected {','.join(CURRENT_HEADER)!r} or {','.join(ORIGINAL_HEADER)!r}",
    )


def _add(labels: Labels, path: Path, line: int, image_id: str, class_id: str, rle: str) -> None:
    try:
        index = int(class_id) - 1
    except ValueError:
        raise DatasetError(path, f"line {line}: ClassId {class_id!r} is not a number", "fix the CSV") from None
    if index < 0:
        raise DatasetError(path, f"line {line}: ClassId {class_id} must be 1 or more", "fix the CSV")
    labels.setdefault(image_id, {})[index] = rle


def write_severstal_csv(
    labels: Labels, csv_path: str | Path, fmt: str = "current", num_classes: int = 4
) -> None:
    """Write labels in either format (rows sorted by image id, then class)."""
    path = Path(csv_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "current":
        rows = [[image_id, index + 1, labels[image_id][index]]
                for image_id in sorted(labels) for index in sorted(labels[image_id]) if labels[image_id][index]]
        write_rows(path, CURRENT_HEADER, rows)  # neutralised cells: a crafted image id never runs as a formula
    elif fmt == "original":
        rows = [[f"{image_id}_{index + 1}", labels[image_id].get(index, "")]
                for image_id in sorted(labels) for index in range(num_classes)]
        write_rows(path, ORIGINAL_HEADER, rows)
    else:
        raise ValueError(f"unknown format {fmt!r}; use 'current' or 'original'")


def read_severstal(root: str | Path, class_names: tuple[str, ...] | None = None) -> Dataset:
    """A Severstal-layout folder. Images in train_images/ that the CSV never lists are clean
    (the current format lists only defective images)."""
    root = Path(root)
    csv_path = next((root / n for n in ("train.csv", "labels.csv") if (root / n).is_file()), None)
    if csv_path is None:
        raise DatasetError(root, "has no train.csv", "a Severstal folder holds train.csv and train_images/")
    image_dir = root / "train_images"
    if not image_dir.is_dir():
        raise DatasetError(root, "has no train_images/ folder", "put the strips in train_images/")
    labels, _ = read_severstal_csv(csv_path)
    names = class_names or _class_names_file(root) or DEFAULT_CLASS_NAMES
    max_index = max((i for per in labels.values() for i in per), default=-1)
    if max_index >= len(names):
        raise DatasetError(csv_path, f"uses ClassId {max_index + 1} but only {len(names)} classes are named",
                           "list every class in classes.txt")
    files = sorted(p for p in image_dir.iterdir() if is_image_path(p))
    missing = sorted(set(labels) - {p.name for p in files})
    if missing:
        raise DatasetError(csv_path, f"lists {len(missing)} images not in train_images/ (first: {missing[0]})",
                           "copy the images or remove their rows")
    samples = tuple(
        Sample(image_path=p, labels=tuple(sorted(labels.get(p.name, {}))), rles=dict(labels.get(p.name, {})))
        for p in files
    )
    return Dataset(root.name, root, "severstal", tuple(names), "multi-label", samples)


def _class_names_file(root: Path) -> tuple[str, ...] | None:
    path = root / "classes.txt"
    if not path.is_file():
        return None
    return tuple(line.strip() for line in path.read_text().splitlines() if line.strip())
