"""How well a model set's out-of-distribution score separates its own kind of image from others.

    python benchmarks/domain_separation.py --model-set models/neu-det \\
        --familiar ../shared/datasets/NEU-DET --split holdout \\
        --unfamiliar ../shared/datasets/severstal-sample ../shared/datasets/magnetic-tile --limit 60
    python benchmarks/domain_separation.py --model-set models/severstal-synthetic --synthetic 5000:5024 \\
        --unfamiliar ../shared/datasets/severstal-sample [--backend torch]

Familiar images: a split of the set's training data rebuilt from the card (`holdout` / `val`), or
fresh synthetic strips (seeds the set never trained on). Prints, per group, how many images fall in each
level (familiar / unusual / out of domain, by the card's cut-offs) and the score quantiles.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.datasets import open_dataset  # noqa: E402
from core.engine.domain import LEVELS  # noqa: E402
from core.engine.inference import Inspector  # noqa: E402


def spaced(items: list, limit: int | None) -> list:
    if not limit or limit >= len(items):
        return items
    return [items[int(i * len(items) / limit)] for i in range(limit)]


def report(name: str, verdicts: list) -> None:
    """Per group: how many images fall in each level (the card's cut-offs) and the score quantiles."""
    values = np.array([v.ood_score for v in verdicts])
    levels = [v.domain_level for v in verdicts]
    q = np.quantile(values, [0, 0.5, 0.95, 1.0])
    counts = ", ".join(f"{level} {levels.count(level)} ({100 * levels.count(level) / len(levels):.1f}%)"
                       for level in LEVELS)
    print(f"{name}: {len(values)} images: {counts}; score min {q[0]:.2f} median {q[1]:.2f} "
          f"p95 {q[2]:.2f} max {q[3]:.2f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-set", required=True, type=Path)
    parser.add_argument("--familiar", type=Path, help="the set's training data (a split of it is used)")
    parser.add_argument("--split", default="holdout", choices=["holdout", "val"])
    parser.add_argument("--synthetic", help="FIRST:END seeds of fresh synthetic strips as the familiar images")
    parser.add_argument("--unfamiliar", type=Path, nargs="*", default=[], help="datasets of another kind")
    parser.add_argument("--limit", type=int, help="at most N evenly spaced images per group")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--backend", default="auto", help="torch, onnx, openvino or auto (the engine's choice)")
    args = parser.parse_args()
    inspector = Inspector.load(args.model_set, args.device, batch_size=2, backend=args.backend)
    print(f"backend: {inspector.backend.name} {inspector.backend.precision}")
    if inspector.domain is None:
        raise SystemExit(f"{args.model_set} records no training domain: run `steelscan fit-domain` first")
    print(f"{inspector.card.fingerprint}: domain fitted on {inspector.card.domain['images']} images")
    if args.familiar:
        from core.evaluation.evaluate import select_indices

        dataset = open_dataset(args.familiar)
        paths = [dataset.samples[i].image_path for i in select_indices(dataset, args.split, inspector.card.training)]
        report(f"familiar: {args.familiar} ({args.split})",
               list(inspector.inspect_many(spaced(paths, args.limit))))
    if args.synthetic:
        from core.datasets.synthetic import make_strip

        first, end = (int(v) for v in args.synthetic.split(":"))
        strips = (make_strip(seed).pixels for seed in spaced(list(range(first, end)), args.limit))
        report(f"familiar: synthetic strips, seeds {first}..{end - 1}",
               list(inspector.inspect_many(strips)))
    for folder in args.unfamiliar:
        paths = spaced([s.image_path for s in open_dataset(folder).samples], args.limit)
        report(f"unfamiliar: {folder}", list(inspector.inspect_many(paths)))


if __name__ == "__main__":
    main()
