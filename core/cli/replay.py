"""Play a labelled dataset through the engine as if it came from the line, answer the review queue from its ground
truth, train and gate a new set every N decisions, and print one JSON line per round.

    steelscan replay DATASET --out DIR [--every 50 | --at 50,100,200,400] [--holdout-share 0.2] [--preset quick]

DATA is any layout core.datasets reads. DIR gets the review log, the model sets (starting from an untrained one),
each job's log, rounds.jsonl and learning_curve.png.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core.contract.errors import SteelScanError


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="steelscan replay", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("dataset", type=Path, help="labelled dataset folder (any supported layout)")
    p.add_argument("--out", type=Path, required=True, help="work folder (review log, model sets, plot)")
    p.add_argument("--every", type=int, default=50, help="train and gate a new set every N decisions")
    p.add_argument("--rounds", type=int, default=4, help="how many rounds with --every")
    p.add_argument("--at", help="decision counts of the rounds, e.g. 50,100,200,400 (instead of --every)")
    p.add_argument("--holdout-share", type=float, default=0.2, help="fixed hold-out: never played, measured each round")
    p.add_argument("--holdout", default="share", choices=["share", "reserved"],
                   help="share: --holdout-share of the images by a seeded split; reserved: the images the steel "
                        "backbone's pre-training never read (core.datasets.reserved)")
    p.add_argument("--eval-share", type=float, default=0.2, help="share of reviewed sheets the gate evaluates on")
    p.add_argument("--preset", default="quick",
                   help="how long each round's job trains: quick, thorough, tiny")
    p.add_argument("--review", default="queue", choices=["queue", "all"],
                   help="queue: answer only sheets the queue flags, as on the line; all: review every sheet")
    p.add_argument("--max-sheets", type=int, help="stop the stream after N sheets")
    p.add_argument("--line-rate", type=float, default=120.0,
                   help="sheets an hour the stream is recorded at: the queue samples queue_explore_per_hour sheets "
                        "an hour beyond the flagged ones, so the pace decides how many a replay meets")
    p.add_argument("--explore-per-hour", type=int, default=6,
                   help="the queue_explore_per_hour setting of the replayed line (0: only flagged sheets wait)")
    p.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda", "mps"])
    p.add_argument("--seed", type=int, default=0)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    rounds = (tuple(int(n) for n in args.at.split(",")) if args.at
              else tuple(args.every * (k + 1) for k in range(args.rounds)))
    if list(rounds) != sorted(rounds) or rounds[0] < 1:
        print(f"error: --at {args.at}: decision counts must be positive and increasing", file=sys.stderr)
        return 2
    if args.explore_per_hour < 0:
        print(f"error: --explore-per-hour {args.explore_per_hour}: give 0 or more", file=sys.stderr)
        return 2
    if args.line_rate <= 0:
        print(f"error: --line-rate {args.line_rate}: give the sheets an hour, above 0 (e.g. 120)", file=sys.stderr)
        return 2
    from core.retrain.replay import ReplayOptions, replay

    try:
        replay(ReplayOptions(args.dataset, args.out, rounds, args.holdout_share, args.eval_share, args.preset,
                             args.review, args.seed, args.device, args.max_sheets, args.holdout,
                             line_rate=args.line_rate, explore_per_hour=args.explore_per_hour))
    except SteelScanError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
