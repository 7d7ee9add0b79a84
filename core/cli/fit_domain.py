"""Record the training domain of an existing model set, so its verdicts carry an out-of-distribution score.

    steelscan fit-domain models/neu-det --data ../shared/datasets/NEU-DET
    steelscan fit-domain models/severstal-synthetic          # regenerates its synthetic strips from the card
    steelscan fit-domain models/severstal-synthetic --backend openvino --limit 160   # its INT8 export's own
    steelscan fit-domain models/neu-det --data ../shared/datasets/NEU-DET --appearance-only   # no network run

Rebuilds the card's own training split (fractions and seed from the card) and fits the domain on
its training part only. Writes domain.safetensors and the card's `domain` section; the weights and
the card's fingerprint (which threshold overrides are tied to) stay as they are.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from core.contract.errors import SteelScanError


def training_indices(dataset, training: dict) -> list[int]:
    from core.training.data import split_dataset

    if "val_fraction" not in training:
        return list(range(len(dataset.samples)))
    parts = split_dataset(dataset, training["val_fraction"], training.get("holdout_fraction", 0.0),
                          training.get("split_seed", 0),
                          reserved_holdout=training.get("holdout") == "reserved")
    return list(parts.train)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="steelscan fit-domain", description=__doc__.split("\n\n")[0])
    parser.add_argument("model_set", type=Path, help="model set folder (holds card.json)")
    parser.add_argument("--data", type=Path, help="the data it was trained on; omit for a synthetic set")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--backend", default="torch", choices=("torch", "onnx", "openvino"),
                        help="whose features: an export's (openvino: its INT8 when it has one) gets its own domain")
    parser.add_argument("--precision", default="auto", choices=("auto", "fp32"))
    parser.add_argument("--percentile", type=float, default=99.0, help="training-image percentile = score 1.0")
    parser.add_argument("--limit", type=int, help="fit on N evenly spaced training images (saves CPU time)")
    parser.add_argument("--appearance-only", action="store_true",
                        help="keep the fitted deep-feature statistics; add the appearance part and graded levels to "
                             "the set's domain and each export's (decodes the images, runs no network)")
    parser.add_argument("--allow-other-data", action="store_true",
                        help="fit on data whose fingerprint differs from the card's training data")
    args = parser.parse_args(argv)
    try:
        run(args)
    except SteelScanError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def run(args: argparse.Namespace) -> None:
    from core.datasets import open_dataset
    from core.engine.domain import add_appearance, fit_domain
    from core.modelsets.modelset import read_card

    card = read_card(args.model_set)
    with tempfile.TemporaryDirectory(prefix="steelscan-domain-") as scratch:
        note, data_label = "", ""
        if args.data is not None:
            dataset = open_dataset(args.data)
        elif "synthetic_seeds" in card.training:
            from core.datasets.synthetic import write_dataset

            first, last = card.training["synthetic_seeds"]
            print(f"regenerating synthetic strips {first}..{last} from the card's seeds", file=sys.stderr)
            write_dataset(Path(scratch) / "synthetic", list(range(first, last + 1)))
            dataset = open_dataset(Path(scratch) / "synthetic")
            note = "trained on synthetic strips only: real strips are expected to score out of domain"
            data_label = f"synthetic strips, seeds {first}..{last} (core.datasets.synthetic)"
        else:
            raise SteelScanError(args.model_set, "records no synthetic seeds", "pass --data with its training data")
        if card.data_fingerprint and dataset.fingerprint() != card.data_fingerprint and not args.allow_other_data:
            raise SteelScanError(dataset.root, f"has fingerprint {dataset.fingerprint()}, the card was trained on "
                                 f"{card.data_fingerprint}", "pass the set's training data, or --allow-other-data")
        indices = training_indices(dataset, card.training)
        split = "train"
        if args.limit and args.limit < len(indices):
            split = f"train ({args.limit} of its {len(indices)} images, evenly spaced)"
            indices = [indices[int(i * len(indices) / args.limit)] for i in range(args.limit)]
        print(f"fitting the domain of {card.name} on {len(indices)} training images", file=sys.stderr)

        def progress(done: int, total: int) -> None:
            if done % 50 == 0 or done == total:
                print(f"  {done}/{total} images", file=sys.stderr)

        if args.appearance_only:
            updated = add_appearance(args.model_set, dataset, indices, progress=progress)
            levels = updated.domain["levels"]
            print(f"appearance part and levels added to {updated.name}'s domains on {len(indices)} images: unusual "
                  f"above {levels['unusual']:g}, out of domain above {levels['out_of_domain']:g}; card fingerprint "
                  f"{updated.fingerprint} (unchanged)")
            return

        updated = fit_domain(args.model_set, dataset, indices, device=args.device, percentile=args.percentile,
                             split=split, note=note, progress=progress, backend=args.backend,
                             precision=args.precision, data_label=data_label)
    print(f"domain of {updated.name} ({args.backend} features) fitted on {len(indices)} images; card fingerprint "
          f"{updated.fingerprint} (unchanged)")


if __name__ == "__main__":
    raise SystemExit(main())
