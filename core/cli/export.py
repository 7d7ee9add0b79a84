"""Export the review log for retraining, in Severstal's layout (what `python -m core.train` reads).

    python -m core.export OUT_DIR [--model-set NAME] [--overwrite]

Writes OUT_DIR/train.csv, train_images/, classes.txt and decisions.csv (every decision ever made);
needs_masks.csv lists images whose reviewer added a class the model drew no mask for.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core.contract.errors import SteelScanError
from core.contract.settings import load_settings
from core.review.store import ReviewLog, export_training_set


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="steelscan export", description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="folder to write (must be empty unless --overwrite)")
    parser.add_argument("--model-set", help="export the reviews made with this model set's classes")
    parser.add_argument("--overwrite", action="store_true", help="replace the folder's contents")
    args = parser.parse_args(argv)
    try:
        log = ReviewLog.from_settings(load_settings())
        summary = export_training_set(log, args.out, args.model_set, args.overwrite)
    except SteelScanError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"exported {summary.images} images ({summary.defective} defective, {summary.clean} clean) "
          f"and {summary.decisions} decisions to {summary.folder}; classes: {', '.join(summary.class_names)}")
    if summary.needs_masks:
        print(f"{summary.needs_masks} images need masks drawn first: see {summary.folder / 'needs_masks.csv'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
