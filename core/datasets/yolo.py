"""Ultralytics YOLO layout (also what Roboflow and CVAT export as "YOLO"):

    data.yaml                 names: [crack, pit] (or {0: crack, 1: pit}); train: images/train; val: ...
    images/<split>/x.jpg
    labels/<split>/x.txt      one object a line: `cls x1 y1 x2 y2 x3 y3 ...` (segmentation polygon)
                              or `cls cx cy w h` (detection box, drawn as a box mask); all normalised 0..1

An empty label file marks a clean image. An image without a label file, and every line that cannot
be read, is a problem (file, line, fix); such an image is left out, never taken as clean.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from core.contract.errors import DatasetError
from core.datasets.base import Dataset, Sample, Shape
from core.imaging.imageio import is_image_path

SPLIT_KEYS = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}
TOLERANCE = 0.01  # exporters round: coordinates this far outside 0..1 are clipped, further is an error


def find_yaml(root: Path) -> Path | None:
    for name in ("data.yaml", "data.yml", "dataset.yaml"):
        if (root / name).is_file():
            return root / name
    return None


def class_names_from(config: dict, yaml_path: Path) -> tuple[str, ...]:
    names = config.get("names")
    if isinstance(names, dict):
        try:
            keys = sorted(int(k) for k in names)
        except ValueError:
            raise DatasetError(yaml_path, "`names` keys are not class numbers", "use {0: name, 1: name}") from None
        if keys != list(range(len(keys))):
            raise DatasetError(yaml_path, f"`names` numbers {keys} are not 0..{len(keys) - 1}", "number classes 0..N-1")
        return tuple(str(names[k] if k in names else names[str(k)]) for k in keys)
    if isinstance(names, list) and names:
        return tuple(str(n) for n in names)
    raise DatasetError(yaml_path, "has no `names` list of classes", "add names: [class0, class1, ...]")


def label_dir_for(image_dir: Path) -> Path:
    """Ultralytics' rule: the last `images` folder in the path becomes `labels`."""
    parts = list(image_dir.parts)
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            return Path(*parts)
    return image_dir.parent / "labels" / image_dir.name


def split_dirs(config: dict, yaml_path: Path) -> list[tuple[str, Path]]:
    base = yaml_path.parent
    if config.get("path"):
        given = Path(str(config["path"]))
        base = given if given.is_absolute() and given.is_dir() else base / given
        if not base.is_dir():  # an absolute path from the exporting machine: the yaml's folder is the root
            base = yaml_path.parent
    found = []
    for key, split in SPLIT_KEYS.items():
        value = config.get(key)
        for entry in ([value] if isinstance(value, str) else value or []):
            # Roboflow writes `../train/images` from a yaml that sits beside train/: try without the `..`s.
            stripped = Path(*[part for part in Path(entry).parts if part != ".."] or ["."])
            candidates = [base / entry, yaml_path.parent / entry, yaml_path.parent / stripped]
            folder = next((c.resolve() for c in candidates if c.is_dir()), None)
            if folder is None:
                raise DatasetError(yaml_path, f"`{key}: {entry}` is not a folder next to it",
                                   f"fix the path or create {base / entry}")
            found.append((split, folder))
    if not found:
        raise DatasetError(yaml_path, "names no train/val/test image folders", "add e.g. train: images/train")
    return found


def parse_label_line(line: str, num_classes: int) -> tuple[Shape | None, str]:
    """(shape, "") or (None, what is wrong with the line)."""
    tokens = line.split()
    try:
        cls = int(tokens[0])
        values = [float(t) for t in tokens[1:]]
    except ValueError:
        return None, "is not numbers"
    if not 0 <= cls < num_classes:
        return None, f"class {cls} is not in data.yaml's names (0..{num_classes - 1})"
    if any(v < -TOLERANCE or v > 1 + TOLERANCE for v in values):
        return None, "has coordinates outside 0..1 (pixels instead of normalised?)"
    values = [min(max(v, 0.0), 1.0) for v in values]
    if len(values) == 4:
        cx, cy, w, h = values
        if w <= 0 or h <= 0:
            return None, "is a box of zero width or height"
        x0, y0, x1, y1 = max(cx - w / 2, 0.0), max(cy - h / 2, 0.0), min(cx + w / 2, 1.0), min(cy + h / 2, 1.0)
        return (cls, "polygon", (x0, y0, x1, y0, x1, y1, x0, y1)), ""
    if len(values) >= 6 and len(values) % 2 == 0:
        return (cls, "polygon", tuple(values)), ""
    return None, f"has {len(values)} numbers after the class: expected 4 (box) or an even 6+ (polygon)"


def read_label_file(path: Path, num_classes: int) -> tuple[tuple[Shape, ...], list[str]]:
    shapes, problems = [], []
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        return (), [f"{path}: cannot be read ({exc}); re-export the labels"]
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        shape, why = parse_label_line(line, num_classes)
        if shape is None:
            problems.append(f"{path} line {number} {why}; fix or delete the line and re-export")
        else:
            shapes.append(shape)
    return tuple(shapes), problems


def read_yolo(root: str | Path) -> Dataset:
    root = Path(root)
    yaml_path = find_yaml(root)
    if yaml_path is None:
        raise DatasetError(root, "has no data.yaml", "a YOLO export holds data.yaml, images/ and labels/")
    try:
        config = yaml.safe_load(yaml_path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise DatasetError(yaml_path, f"is not valid YAML ({exc})", "re-export the dataset") from None
    class_names = class_names_from(config, yaml_path)
    samples, problems = [], []
    for split, image_dir in split_dirs(config, yaml_path):
        label_dir = label_dir_for(image_dir)
        for image_path in sorted(p for p in image_dir.iterdir() if is_image_path(p)):
            label_path = label_dir / f"{image_path.stem}.txt"
            if not label_path.is_file():
                problems.append(f"{image_path}: has no label file {label_path}; an empty file marks a clean image")
                continue
            shapes, bad = read_label_file(label_path, len(class_names))
            if bad:
                problems.extend(bad)
                continue
            labels = tuple(sorted({cls for cls, _, _ in shapes}))
            samples.append(Sample(image_path=image_path, labels=labels, shapes=shapes, split=split))
    return Dataset(root.name, root, "yolo", class_names, "multi-label", tuple(samples), tuple(problems))
