"""Copy a whole-image model set trained before test-time flips existed, switch them on, and re-tune its
thresholds on its own validation split, as `steelscan train` now does for every whole-image set. Written to
measure what the flips alone give the same weights (README, Train on your own images). `--class-scores` sets
the card's class scores as well (core.engine.postprocess.class_scores), to measure the masks' part in the decision
on the same weights.

    python benchmarks/retune_with_flips.py --model-set /tmp/mt/w224 --data ../shared/datasets/magnetic-tile \
        --out /tmp/mt/w224-flips [--class-scores head|head+mask]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.datasets import open_dataset  # noqa: E402
from core.evaluation.evaluate import select_indices  # noqa: E402
from core.modelsets.modelset import load_model_set, read_card, write_card  # noqa: E402
from core.training.data import ImageCache  # noqa: E402
from core.training.pipeline import tune_thresholds  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-set", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True, help="the dataset the set was trained on")
    parser.add_argument("--out", type=Path, required=True, help="where the copy goes (replaced)")
    parser.add_argument("--class-scores", choices=("keep", "head", "head+mask"), default="keep",
                        help="the copy's class scores (default: the set's own)")
    args = parser.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    shutil.copytree(args.model_set, args.out)
    dataset = open_dataset(args.data)
    card = replace(read_card(args.out), test_time_flips=True)
    if args.class_scores != "keep":
        card = replace(card, class_scores=args.class_scores)
    networks = load_model_set(args.out, "cpu")
    # the split the card says tuning used, through the trainer's own tuning step
    classes, tuning = tune_thresholds(card, networks.classifier.eval(), networks.segmenter.eval(), dataset,
                                      ImageCache(dataset), select_indices(dataset, "val", card.training),
                                      torch.device("cpu"), amp=False)
    write_card(args.out, replace(card, classes=classes, metrics={**card.metrics, "tuning": tuning}))
    print(json.dumps(tuning, indent=2))


if __name__ == "__main__":
    main()
