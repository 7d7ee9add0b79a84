"""The default `steelscan train` on a plant-like dataset over several seeds: mean and range on a fixed hold-out.

    python benchmarks/bench_own_data.py ../shared/datasets/magnetic-tile --out /tmp/own/mt --seeds 0 1 2
    python benchmarks/bench_own_data.py ../shared/datasets/magnetic-tile --out /tmp/own/mt25 --train-defective 25
    python benchmarks/bench_own_data.py ../shared/datasets/NEU-DET/train/images --out /tmp/own/neu20 \
        --train-per-class 20
    python benchmarks/bench_own_data.py DATA --out DIR -- --pretrained none     # anything after -- goes to train

Each seed trains with `--holdout reserved` (the images the steel backbone never saw: core.datasets.reserved), so
every seed is measured on the same hold-out and no figure is on an image pre-training read; the seed varies the
validation split and the training draws. Runs whose model set exists are measured again, not retrained (a
stopped benchmark resumes). Prints one JSON line a seed and a summary: mean [min-max] of each figure.

Multi-label data with clean images: image-level AP, the engine's own recall and false-alarm rate, recall at
<= 3% false alarms, Dice on defective images (benchmarks/bench_holdout.py). Single-label data: accuracy of the
engine's top class.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_holdout import measure  # noqa: E402
from core.datasets import open_dataset  # noqa: E402
from core.engine.inference import Inspector  # noqa: E402
from core.evaluation.evaluate import select_indices  # noqa: E402
from core.modelsets.modelset import read_card  # noqa: E402

SUMMARY_KEYS = ("image_ap", "engine_recall", "engine_false_alarm_rate", "recall_at_3pct_false_alarms",
                "dice_defective_images", "accuracy", "training_minutes")


def single_label_accuracy(model_set: Path, data: Path) -> dict:
    dataset, card = open_dataset(data), read_card(model_set)
    indices = select_indices(dataset, "holdout", card.training)
    inspector = Inspector.load(model_set, "cpu")
    verdicts = inspector.inspect_many([dataset.samples[i].image_path for i in indices])
    right = [int(np.argmax(v.probabilities)) == dataset.samples[i].labels[0]
             for i, v in zip(indices, verdicts, strict=True)]
    return {"model_set": str(model_set), "images": len(indices), "accuracy": round(float(np.mean(right)), 4),
            "train_images": card.training.get("split_sizes", {}).get("train"),
            "training_minutes": round(card.training.get("durations_s", {}).get("total", 0) / 60, 1)}


def main() -> None:
    argv = sys.argv[1:]
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[:argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path)
    parser.add_argument("--out", type=Path, required=True, help="one folder per seed is written under it")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--train-defective", type=int)
    parser.add_argument("--train-per-class", type=int)
    args = parser.parse_args(argv)
    task = open_dataset(args.data).task
    rows = []
    for seed in args.seeds:
        model = args.out / f"seed{seed}" / "model"
        if not (model / "card.json").is_file():
            command = [sys.executable, "-m", "core.cli.main", "train", str(args.data), "--out", str(model),
                       "--run-dir", str(args.out / f"seed{seed}" / "run"), "--holdout", "reserved",
                       "--seed", str(seed), *extra]
            if args.train_defective:
                command += ["--train-defective", str(args.train_defective)]
            if args.train_per_class:
                command += ["--train-per-class", str(args.train_per_class)]
            started = time.perf_counter()
            args.out.mkdir(parents=True, exist_ok=True)
            with open(args.out / f"seed{seed}.log", "w") as log:
                subprocess.run(command, check=True, stdout=log, stderr=subprocess.STDOUT)
            print(f"seed {seed}: trained in {(time.perf_counter() - started) / 60:.1f} min", file=sys.stderr)
        row = single_label_accuracy(model, args.data) if task == "single-label" else measure(model, args.data,
                                                                                           "holdout")
        row["seed"] = seed
        rows.append(row)
        print(json.dumps({k: v for k, v in row.items() if not isinstance(v, dict)}), flush=True)
    summary = {}
    for key in SUMMARY_KEYS:
        values = [r[key] for r in rows if r.get(key) is not None]
        if values:
            summary[key] = f"{np.mean(values):.3f} [{min(values):.3f}-{max(values):.3f}]"
    print(json.dumps({"data": str(args.data), "seeds": args.seeds, "extra_train_args": extra,
                      "train_defective": args.train_defective, "train_per_class": args.train_per_class,
                      "summary": summary}), flush=True)


if __name__ == "__main__":
    main()
