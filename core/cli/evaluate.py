"""Measure a model set on a labelled dataset, through the same engine the app uses.

    steelscan evaluate --model-set models/neu-det --data ../shared/datasets/NEU-DET --split holdout
    steelscan evaluate --model-set severstal-synthetic --data data/synthetic-test

Writes metrics.json and report.html (core.evaluation.evaluate.run does the work).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core.contract.errors import SteelScanError
from core.contract.settings import BATCH_SIZE_HELP, batch_size_arg
from core.evaluation.evaluate import run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="steelscan evaluate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-set", required=True, help="name under models/ or a model set folder")
    parser.add_argument("--data", required=True, type=Path, help="labelled dataset folder (any supported layout)")
    parser.add_argument("--split", default="all", choices=["all", "holdout", "val"],
                        help="holdout/val: rebuild the split recorded in the model card")
    parser.add_argument("--out", type=Path, help="report folder (default reports/<set>__<data>__<split>)")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    parser.add_argument("--batch-size", type=batch_size_arg, default="auto", help=BATCH_SIZE_HELP)
    parser.add_argument("--limit", type=int, help="evaluate N evenly spaced images only")
    parser.add_argument("--no-glare", action="store_true", help="skip the brightened/darkened robustness check")
    parser.add_argument("--glare-limit", type=int, help="run the glare check on the first N images only")
    parser.add_argument("--gallery", type=int, default=12, help="how many confident mistakes to show")
    parser.add_argument("--no-fingerprint-check", dest="data_fingerprint_check", action="store_false")
    args = parser.parse_args(argv)
    try:
        run(args)
    except SteelScanError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
