"""What was read from a dataset folder, as plain data: `steelscan data describe` prints it, the app shows it.

Images per split and class, clean vs defective, the size range, defect-area quantiles (share of
the image the masks cover, over defective images) and every problem the reader found.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from core.datasets.base import Dataset

QUANTILES = (0.0, 0.25, 0.5, 0.75, 1.0)


@dataclass(frozen=True)
class DatasetSummary:
    root: str
    layout: str
    task: str
    class_names: tuple[str, ...]
    fingerprint: str
    images: int
    clean: int
    defective: int
    own_split: bool
    per_split: dict[str, dict[str, int]]  # split ("all" when none) -> {"images", "clean", "defective", class...}
    width_range: tuple[int, int]
    height_range: tuple[int, int]
    mask_area_quantiles: dict[str, float]  # "min", "q25", "median", "q75", "max": mask share of the image
    problems: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict:
        return asdict(self)

    def lines(self, max_problems: int = 20) -> list[str]:
        """The summary as text lines for a terminal."""
        out = [f"{self.root}: {self.layout} layout, {self.task}, {len(self.class_names)} classes: "
               f"{', '.join(self.class_names)}",
               f"{self.images} images read: {self.defective} defective, {self.clean} clean; "
               f"fingerprint {self.fingerprint}",
               "split: the dataset's own (kept by training)" if self.own_split else
               "split: none of its own (training carves validation and hold-out from it)",
               f"sizes: width {self.width_range[0]}-{self.width_range[1]} px, height "
               f"{self.height_range[0]}-{self.height_range[1]} px"]
        if self.mask_area_quantiles:
            q = self.mask_area_quantiles
            out.append("defect area (share of a defective image): " + ", ".join(
                f"{name} {100 * value:.2f}%" for name, value in q.items()))
        elif self.defective:
            out.append("defect area: no masks or boxes, image labels only (a classifier can learn from them, "
                       "a segmenter cannot)")
        header = ["split", "images", "clean", "defective", *self.class_names]
        rows = [[name, *(str(counts.get(k, 0)) for k in header[1:])] for name, counts in self.per_split.items()]
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
        out.append("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
        out += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
        if self.problems:
            out.append(f"{len(self.problems)} problem(s); these images are left out, never taken as clean:")
            out += [f"  {p}" for p in self.problems[:max_problems]]
            if len(self.problems) > max_problems:
                out.append(f"  ... and {len(self.problems) - max_problems} more")
        else:
            out.append("no problems found")
        return out


def image_size(path: Path) -> tuple[int, int]:
    with Image.open(path) as image:  # reads the header only
        return image.size


def describe(dataset: Dataset, mask_sample_limit: int = 400) -> DatasetSummary:
    """Counts over every image; mask areas over up to `mask_sample_limit` evenly spaced defective
    images (drawing masks is the slow part on big sets)."""
    per_split: dict[str, Counter] = {}
    sizes = []
    for sample in dataset.samples:
        counts = per_split.setdefault(sample.split or "all", Counter())
        counts["images"] += 1
        counts["defective" if sample.labels else "clean"] += 1
        for k in sample.labels:
            counts[dataset.class_names[k]] += 1
        sizes.append(image_size(sample.image_path))
    defective = [s for s in dataset.samples if s.labels]
    # Image labels alone (a folder per class of images) draw empty masks: an area of 0% would mislead.
    localised = [s for s in defective if s.rles or s.boxes or s.shapes or s.mask_path is not None]
    step = max(1, len(localised) // mask_sample_limit)
    shares = []
    for sample, (width, height) in zip(localised[::step], (image_size(s.image_path) for s in localised[::step]),
                                       strict=True):
        masks = sample.masks(height, width, len(dataset.class_names))
        shares.append(float(masks.any(0).mean()))
    names = ("min", "q25", "median", "q75", "max")
    quantiles = dict(zip(names, (float(v) for v in np.quantile(shares, QUANTILES)), strict=True)) if shares else {}
    widths, heights = [w for w, _ in sizes] or [0], [h for _, h in sizes] or [0]
    order = {"train": 0, "val": 1, "test": 2, "all": 3}
    return DatasetSummary(
        root=str(dataset.root), layout=dataset.layout, task=dataset.task, class_names=dataset.class_names,
        fingerprint=dataset.fingerprint(), images=len(dataset.samples),
        clean=sum(1 for s in dataset.samples if not s.labels), defective=len(defective),
        own_split=dataset.own_split,
        per_split={k: dict(per_split[k]) for k in sorted(per_split, key=lambda k: order.get(k, 9))},
        width_range=(min(widths), max(widths)), height_range=(min(heights), max(heights)),
        mask_area_quantiles=quantiles, problems=dataset.problems)


def describe_path(path: str | Path) -> DatasetSummary:
    from core.datasets.detect import open_dataset

    return describe(open_dataset(path))
