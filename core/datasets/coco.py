"""COCO instance segmentation JSON (CVAT, Label Studio and Roboflow export it), one JSON per split:

    annotations/instances_train.json + images/...      (CVAT, Label Studio)
    train/_annotations.coco.json + train/*.jpg, valid/..., test/...   (Roboflow)

Polygons and RLE (compressed or not) are drawn into per-class masks; a bbox-only annotation is a
box mask. `iscrowd: 1` marks a region covering several defects, given as RLE: it is drawn and
labels the image like any other annotation (a defect is a defect), only its RLE form differs. An
image listed with no annotation is clean; an image file in no JSON, an annotation that names an
unknown image or category, or a malformed shape is a problem (file, annotation id, fix).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from core.contract.errors import DatasetError
from core.datasets.base import Dataset, Sample, Shape
from core.imaging.imageio import is_image_path

SPLIT_WORDS = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}


def decode_rle(data: str) -> np.ndarray:
    """(H, W) uint8 mask from a COCO RLE stored as JSON ({"size": [h, w], "counts": str or list})."""
    from pycocotools import mask as coco_mask

    rle = json.loads(data)
    height, width = rle["size"]
    if isinstance(rle["counts"], list):  # uncompressed (iscrowd) RLE: compress it first
        rle = coco_mask.frPyObjects(rle, height, width)
    else:
        rle = {"size": [height, width], "counts": rle["counts"].encode()}
    return np.ascontiguousarray(coco_mask.decode(rle), dtype=np.uint8)


def find_coco_files(root: Path) -> list[Path]:
    """JSON files in the folder, annotations/ or one level down (Roboflow's train/ valid/ test/)."""
    found = []
    for folder in (root, root / "annotations", *sorted(p for p in root.iterdir() if p.is_dir())):
        found.extend(sorted(folder.glob("*.json")) if folder.is_dir() else [])
    return sorted(set(found))


def split_of(path: Path) -> str:
    """train/val/test from the JSON's name (instances_val.json) or its folder (Roboflow's valid/)."""
    words = path.stem.lower().replace("-", "_").replace(".", "_").split("_") + [path.parent.name.lower()]
    for word in words:
        for key, split in SPLIT_WORDS.items():
            if word == key or word.startswith(key) and word[len(key):].isdigit():
                return split
    return ""


def kept_categories(categories: list[dict], annotations: list[dict]) -> list[dict]:
    """Drop Roboflow's unused parent category (id 0, the others' supercategory)."""
    used = {a.get("category_id") for a in annotations}
    parents = {c.get("supercategory") for c in categories}
    return [c for c in categories if c["id"] in used or c.get("name") not in parents]


def shape_of(annotation: dict, cls: int, width: int, height: int) -> tuple[tuple[Shape, ...], str]:
    """Shapes of one annotation (a polygon annotation may have several parts), or a reason it is bad."""
    segmentation = annotation.get("segmentation")
    if isinstance(segmentation, dict):
        counts, size = segmentation.get("counts"), segmentation.get("size")
        if counts is None or size is None:
            return (), "has an RLE without counts or size"
        if list(size) != [height, width]:
            return (), f"has an RLE of size {size}, the image is [{height}, {width}]"
        return ((cls, "coco-rle", json.dumps({"size": list(size), "counts": counts})),), ""
    if isinstance(segmentation, list) and segmentation:
        parts = []
        for polygon in segmentation:
            if not isinstance(polygon, list) or len(polygon) < 6 or len(polygon) % 2:
                return (), "has a polygon with fewer than 3 points or an odd number of coordinates"
            parts.append((cls, "polygon", tuple(float(v) / (width if i % 2 == 0 else height)
                                                for i, v in enumerate(polygon))))
        return tuple(parts), ""
    bbox = annotation.get("bbox")
    if isinstance(bbox, list) and len(bbox) == 4 and bbox[2] > 0 and bbox[3] > 0:
        x, y, w, h = (float(v) for v in bbox)
        x0, y0, x1, y1 = x / width, y / height, (x + w) / width, (y + h) / height
        return ((cls, "polygon", (x0, y0, x1, y0, x1, y1, x0, y1)),), ""
    return (), "has neither a segmentation nor a bbox"


def image_folder_candidates(root: Path, json_path: Path, split: str) -> list[Path]:
    return [json_path.parent, root / "images" / split, root / "images", root / split, root,
            json_path.parent.parent / "images"]


def read_coco_file(root: Path, json_path: Path, class_names: list[str], problems: list[str],
                   reported: set[Path]) -> list[Sample]:
    try:
        data = json.loads(json_path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        problems.append(f"{json_path}: is not readable COCO JSON ({exc}); re-export it")
        return []
    if not isinstance(data, dict) or "images" not in data:
        return []  # some other JSON file (e.g. a tool's settings), not an annotation export
    images, annotations = data.get("images") or [], data.get("annotations") or []
    categories = kept_categories(data.get("categories") or [], annotations)
    category_class = {}
    for category in categories:
        if category["name"] not in class_names:
            class_names.append(category["name"])
        category_class[category["id"]] = class_names.index(category["name"])
    split = split_of(json_path)
    folders = image_folder_candidates(root, json_path, split)
    by_id: dict[int, dict] = {}
    for image in images:
        path = next((f / image["file_name"] for f in folders if (f / image["file_name"]).is_file()), None)
        if path is None:
            problems.append(f"{json_path}: image id {image.get('id')} {image['file_name']!r} is not found "
                            f"(looked in {folders[0]} and {root / 'images'}); copy it or remove it from the JSON")
            continue
        by_id[image["id"]] = {"path": path, "width": image["width"], "height": image["height"], "shapes": [],
                              "bad": False}
    known_ids = {image.get("id") for image in images}
    for annotation in annotations:
        ident = annotation.get("id")
        image = by_id.get(annotation.get("image_id"))
        if image is None:
            if annotation.get("image_id") not in known_ids:
                problems.append(f"{json_path}: annotation {ident} names image id {annotation.get('image_id')}, "
                                "which is not in `images`; re-export the JSON")
            continue
        if annotation.get("category_id") not in category_class:
            problems.append(f"{json_path}: annotation {ident} names category {annotation.get('category_id')}, "
                            "which is not in `categories`; fix its category_id")
            image["bad"] = True
            reported.add(image["path"].resolve())
            continue
        shapes, why = shape_of(annotation, category_class[annotation["category_id"]], image["width"],
                               image["height"])
        if why:
            problems.append(f"{json_path}: annotation {ident} ({image['path'].name}) {why}; redraw it and re-export")
            image["bad"] = True
            reported.add(image["path"].resolve())
            continue
        image["shapes"].extend(shapes)
    samples = []
    for image in by_id.values():
        if image["bad"]:
            continue  # reported above; never taken as clean or as half-labelled
        shapes = tuple(image["shapes"])
        labels = tuple(sorted({cls for cls, _, _ in shapes}))
        samples.append(Sample(image_path=image["path"], labels=labels, shapes=shapes, split=split))
    return samples


def read_coco(root: str | Path) -> Dataset:
    root = Path(root)
    files = find_coco_files(root)
    if not files:
        raise DatasetError(root, "has no COCO JSON", "put the export's *.json in the folder or annotations/")
    class_names: list[str] = []
    problems: list[str] = []
    samples: list[Sample] = []
    reported: set[Path] = set()
    for json_path in files:
        samples.extend(read_coco_file(root, json_path, class_names, problems, reported))
    if not samples and not problems:
        raise DatasetError(root, "has JSON files but none is a COCO export with `images`", "re-export as COCO")
    listed = {s.image_path.resolve() for s in samples} | reported
    folders = {s.image_path.parent for s in samples}
    for folder in sorted(folders):
        for path in sorted(p for p in folder.iterdir() if is_image_path(p)):
            if path.resolve() not in listed:
                problems.append(f"{path}: is in no COCO JSON, so its label is unknown; add it to the export or "
                                "move it out of the folder")
    if not class_names:
        raise DatasetError(files[0], "defines no categories", "export with at least one category")
    return Dataset(root.name, root, "coco", tuple(class_names), "multi-label", tuple(samples), tuple(problems))
