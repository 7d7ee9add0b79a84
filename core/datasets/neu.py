"""NEU-DET layout: images/<class>/<class>_<n>.jpg with Pascal VOC boxes in annotations/."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from core.contract.errors import DatasetError
from core.datasets.base import Box, Dataset, Sample
from core.imaging.imageio import is_image_path


def parse_voc(xml_path: Path, class_index: dict[str, int]) -> tuple[tuple[int, int], tuple[Box, ...]]:
    """((width, height), boxes) from one VOC annotation file; class names must be known."""
    try:
        root = ET.parse(xml_path).getroot()
    except (ET.ParseError, OSError) as exc:
        raise DatasetError(xml_path, f"is not valid VOC XML ({exc})", "re-export the annotation") from None
    size = root.find("size")
    if size is None:
        raise DatasetError(xml_path, "has no <size>", "re-export the annotation")
    width, height = int(size.findtext("width", "0").strip()), int(size.findtext("height", "0").strip())
    boxes: list[Box] = []
    for obj in root.iter("object"):
        name = (obj.findtext("name") or "").strip()
        if name not in class_index:
            raise DatasetError(xml_path, f"names class {name!r}", f"known classes: {', '.join(class_index)}")
        bb = obj.find("bndbox")
        if bb is None:
            raise DatasetError(xml_path, f"object {name!r} has no <bndbox>", "re-export the annotation")
        # VOC corners are 1-based and inclusive; SteelScan uses 0-based pixel indices.
        x0, y0, x1, y1 = (int(float(bb.findtext(k, "0").strip())) - 1 for k in ("xmin", "ymin", "xmax", "ymax"))
        boxes.append((class_index[name], max(x0, 0), max(y0, 0), min(x1, width - 1), min(y1, height - 1)))
    return (width, height), tuple(boxes)


def read_neu_det(root: str | Path) -> Dataset:
    """`root` is the folder holding images/ and annotations/ (e.g. NEU-DET/train)."""
    root = Path(root)
    images, annotations = root / "images", root / "annotations"
    if not images.is_dir() or not annotations.is_dir():
        raise DatasetError(root, "lacks images/ or annotations/", "point at NEU-DET/train (or validation)")
    class_names = tuple(sorted(p.name for p in images.iterdir() if p.is_dir()))
    if not class_names:
        raise DatasetError(images, "has no class folders", "expected images/<class>/<class>_<n>.jpg")
    class_index = {name: i for i, name in enumerate(class_names)}
    samples: list[Sample] = []
    for name in class_names:
        for image_path in sorted((images / name).iterdir()):
            if not is_image_path(image_path):
                continue
            xml_path = annotations / f"{image_path.stem}.xml"
            if not xml_path.is_file():
                raise DatasetError(xml_path, "is missing", f"every image needs its VOC file ({image_path.name})")
            _, boxes = parse_voc(xml_path, class_index)
            samples.append(Sample(image_path=image_path, labels=(class_index[name],), boxes=boxes))
    return Dataset(root.parent.name or root.name, root, "neu-det", class_names, "single-label", tuple(samples))
