"""Pre-train the steel backbone the whole-image recipe starts from (core.training.pretrain).

    steelscan pretrain ../shared/datasets/NEU-DET ../shared/datasets/magnetic-tile ../shared/datasets/cr7-det \
        ../shared/datasets/severstal-sample --synthetic 300 --out models/steel-backbone

Images reserved by core.datasets.reserved (20% by file-name hash) are never read, so figures measured with
`steelscan train --holdout reserved` are on images the backbone never saw.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="steelscan pretrain", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("data", nargs="+", type=Path, help="dataset folders (any layout `steelscan data describe` reads)")
    p.add_argument("--out", type=Path, required=True, help="folder to write backbone.safetensors and card.json to")
    p.add_argument("--clean-only", type=Path, nargs="+", default=[], metavar="DATA",
                   help="datasets whose clean images alone are used, without labels (they teach through pasted "
                        "defects): a plant's own surface, or a dataset whose labels figures are measured on")
    p.add_argument("--synthetic", type=int, default=300, help="fresh synthetic strips added as one more source")
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--paste-share", type=float, default=0.5,
                   help="share of images that get a pasted synthetic defect (0 turns that task off)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--run-dir", type=Path, default=Path("runs/steel-backbone"),
                   help="checkpoints (a run with the same options resumes from them)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from core.training.pretrain import PretrainConfig, pretrain

    command = "steelscan pretrain " + " ".join(shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    config = PretrainConfig(sources=tuple(args.data), out=args.out, synthetic=args.synthetic,
                            clean_only=tuple(args.clean_only), steps=args.steps, batch_size=args.batch_size,
                            lr=args.lr, paste_share=args.paste_share, seed=args.seed, device=args.device,
                            run_dir=args.run_dir, command=command)
    pretrain(config)  # a SteelScanError is printed by core.cli.main in one line, exit code 2
    return 0

if __name__ == "__main__":
    raise SystemExit(main())
