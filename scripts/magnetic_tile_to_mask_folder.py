"""Convert ../shared/datasets/magnetic-tile (a folder per class, mask PNG beside each image) into the
images/ + masks/<stem>.png + classes.txt layout core.datasets already reads, OUTSIDE the repository.

    python scripts/magnetic_tile_to_mask_folder.py ../shared/datasets/magnetic-tile /tmp/mt-masks [--one-class]

A stop-gap until the folder-per-class reader lands: images are symlinked (never copied: the licence is
research-only), masks are thresholded at 128 (anti-aliased edges) and written as class ids
(0 = background, k = k-th class of classes.txt). MT_Free images get no mask (clean).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

PROJECT = Path(__file__).resolve().parents[1]


def convert(source: Path, target: Path, one_class: bool = False) -> dict[str, int]:
    if target.resolve().is_relative_to(PROJECT):
        raise SystemExit(f"error: {target} is inside the repository; write the converted data outside it")
    folders = sorted(p for p in source.glob("MT_*") if p.is_dir())
    classes = ["defect"] if one_class else [p.name.removeprefix("MT_") for p in folders if p.name != "MT_Free"]
    (target / "images").mkdir(parents=True, exist_ok=True)
    (target / "masks").mkdir(exist_ok=True)
    (target / "classes.txt").write_text("\n".join(classes) + "\n")
    counts: dict[str, int] = {}
    for folder in folders:
        name = folder.name.removeprefix("MT_")
        class_id = 0 if name == "Free" else (1 if one_class else classes.index(name) + 1)
        for image in sorted((folder / "Imgs").glob("*.jpg")):
            stem = f"{name}_{image.stem}"  # names repeat across folders
            link = target / "images" / f"{stem}.jpg"
            if not link.exists():
                link.symlink_to(image.resolve())
            counts[name] = counts.get(name, 0) + 1
            if class_id == 0:
                continue
            grey = np.asarray(Image.open(image.with_suffix(".png")).convert("L"))
            ids = np.where(grey >= 128, class_id, 0).astype(np.uint8)
            if ids.any():
                Image.fromarray(ids).save(target / "masks" / f"{stem}.png")
            else:
                print(f"warning: {image.with_suffix('.png')} has no pixel >= 128; its image counts as clean",
                      file=sys.stderr)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("target", type=Path)
    parser.add_argument("--one-class", action="store_true", help="one 'defect' class instead of one per folder")
    args = parser.parse_args()
    print(convert(args.source, args.target, args.one_class))


if __name__ == "__main__":
    main()
