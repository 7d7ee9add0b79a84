"""Write deterministic synthetic 1600x256 strips with exact masks, in Severstal's layout.

    steelscan synthetic OUT --count 200 --seed 0
"""

from __future__ import annotations

import argparse
from pathlib import Path

from core.datasets.synthetic import write_dataset


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="steelscan synthetic", description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0, help="first seed; strips use seed, seed+1, ...")
    args = parser.parse_args(argv)
    labels = write_dataset(args.out, list(range(args.seed, args.seed + args.count)))
    defective = sum(1 for v in labels.values() if v)
    print(f"wrote {len(labels)} strips ({defective} defective) to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
