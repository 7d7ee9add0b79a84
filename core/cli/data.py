"""Datasets: what SteelScan reads from a folder, before anything trains on it.

    steelscan data describe ../shared/datasets/magnetic-tile
    steelscan data describe exports/roboflow-yolo --json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from core.contract.errors import SteelScanError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="steelscan data", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    describe = commands.add_parser("describe", help="images per split and class, sizes, mask areas, problems")
    describe.add_argument("path", type=Path, help="dataset folder (any supported layout)")
    describe.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    describe.add_argument("--max-problems", type=int, default=20, help="problems listed in text output")
    args = parser.parse_args(argv)
    from core.datasets.describe import describe_path

    try:
        summary = describe_path(args.path)
    except SteelScanError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(summary.to_dict()))
    else:
        print("\n".join(summary.lines(args.max_problems)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
