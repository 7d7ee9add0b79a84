"""Train a model set (classifier + U-Net) on a dataset folder or on fresh synthetic strips.

    steelscan train DATA --out models/NAME [--epochs 12 --batch-size 32 --crop 128 ...]
    steelscan train --synthetic 400 --out models/severstal-synthetic
    steelscan train --from-review-log [--preset quick] [--detach]   # a job, as the Models page starts it
    steelscan train --jobs                                          # the latest jobs and their state

DATA is any layout core.datasets reads (README, section Train on your own images). The result is a model set
folder the engine loads as it is. The work is core.training.pipeline.run; this module only parses arguments.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from core.contract.errors import SteelScanError
from core.modelsets.networks import CLASSIFIER_ARCHITECTURES, CLASSIFIER_POOLINGS
from core.modelsets.preprocess import NORMALISATIONS
from core.training.joint import BACKBONE_LR_WARM


def share(text: str) -> float:
    """A fraction strictly between 0 and 1 (argparse prints the message and exits: no traceback)."""
    value = float(text)
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not a share: give a number between 0 and 1, e.g. 0.4")
    return value


def input_size(text: str) -> str:
    """'auto', 'native', or N / HxW with each side a multiple of 32 in 32..4096 (the U-Net halves it five times)."""
    if text in ("auto", "native"):
        return text
    try:
        sides = [int(part) for part in text.lower().split("x")]
    except ValueError:
        sides = []
    if not 1 <= len(sides) <= 2 or not all(32 <= v <= 4096 and v % 32 == 0 for v in sides):
        raise argparse.ArgumentTypeError(f"{text!r} is not an input size: give native, N or HxW with multiples of 32 "
                                         "(e.g. 224 or 256x512)")
    return text


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="steelscan train", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("data", nargs="?", type=Path, help="dataset folder (any supported layout)")
    p.add_argument("--synthetic", type=int, metavar="N", help="train on N fresh synthetic strips instead of DATA")
    p.add_argument("--synthetic-seed", type=int, default=0, help="first seed of the synthetic strips")
    p.add_argument("--out", type=Path, help="model set folder to write (e.g. models/my-line); required unless "
                   "--from-review-log")
    p.add_argument("--name", help="model set name (default: the --out folder's name)")
    p.add_argument("--version", default="1.0.0")
    p.add_argument("--description", default="")
    p.add_argument("--arch", default="auto", choices=["auto", *CLASSIFIER_ARCHITECTURES],
                   help="classifier / U-Net encoder; auto = resnet-slim for whole images (a plant's own photographs "
                        "with pixel masks), resnet50 otherwise (strips, box-only data)")
    p.add_argument("--pretrained", default="auto",
                   help="where the weights start: auto = the shipped steel backbone (models/steel-backbone) for "
                        "whole-image recipes, random weights for the others; none = random weights; a steel "
                        "backbone folder or a torchvision .pth file; hub = torchvision's file in the torch hub cache")
    p.add_argument("--pooling", default="auto", choices=["auto", *CLASSIFIER_POOLINGS],
                   help="classifier pooling: 'peak' scores each class at its strongest position (strips trained "
                        "on crops, whole images), 'avg' averages the feature map; auto = peak for whole images and "
                        "multi-label strips, else avg")
    p.add_argument("--normalisation", default="auto", choices=["auto", *NORMALISATIONS],
                   help="input scaling: the card's fixed mean/std, or each image to zero mean and unit variance "
                        "(exposure changes then give the same input); auto = per-image for whole images, else fixed")
    p.add_argument("--input-size", default="auto", type=input_size, metavar="auto|native|N|HxW",
                   help="joint: the size every image is resized to for the networks (N or HxW, multiples of 32; "
                        "inspection resizes the same way and masks are resized back); native: each image as it is; "
                        "auto = about 224x224 with the images' aspect for photographs with pixel masks, native "
                        "for strips and the staged trainer")
    p.add_argument("--test-time-flips", default="auto", choices=["auto", "on", "off"],
                   help="inspection scores each image with its three mirror images and averages them (four "
                        "network passes an image); auto = on for whole images trained with flips, off for strips")
    p.add_argument("--encoder-source", default="classifier", choices=["classifier", "own"],
                   help="U-Net encoder: the classifier's frozen backbone, or its own (initialised from it)")
    p.add_argument("--trainer", default="auto", choices=["auto", "joint", "staged"],
                   help="joint: backbone, U-Net decoder and head learn together from the pixel masks and the labels "
                        "(core.training.joint); staged: classifier first, then the decoder on its frozen backbone; "
                        "auto = joint on whole images for photographs with pixel masks, staged for long strips and "
                        "box-only data (README, Train on your own images)")
    p.add_argument("--steps", type=int,
                   help="joint: optimiser steps (default: 2 per training image, at least 400, at most 1500 for whole "
                        "images and 4000 for crops)")
    p.add_argument("--defect-bias", type=float, default=0.6,
                   help="joint: share of crops centred on a defect (the rest anywhere: clean surface)")
    p.add_argument("--clean-share", type=share,
                   help="joint: share of crops drawn from clean images (default: class-balanced, clean counted as "
                        "one class)")
    p.add_argument("--validations", type=int, default=10, help="joint: validation points along the schedule")
    p.add_argument("--train-defective", type=int, metavar="N",
                   help="keep only N defective training images (learning curves; validation and hold-out unchanged)")
    p.add_argument("--seg-weight", type=float, default=1.0, help="joint: weight of the segmentation loss")
    p.add_argument("--seg-dice", choices=("auto", "batch", "image"), default="auto",
                   help="joint: soft Dice per image and class (small defects count as much as large ones; the "
                        "default for whole images) or per class over the batch (the default for native crops)")
    p.add_argument("--class-scores", choices=("auto", "head", "head+mask"), default="auto",
                   help="what a class's probability is: the classifier head's, or the mean of the head's and the "
                        "class's strongest mask pixel (5x5-averaged); default head+mask for whole images")
    p.add_argument("--image-weight", type=float,
                   help="joint, multi-label: weight of an image-level loss on the strongest class (any defect vs "
                        "clean); default 1 for whole images, 0 otherwise")
    p.add_argument("--epochs", type=int, default=12, help="staged: classifier epochs")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--crop", default="128", help="training crop, N or HxW (strips: native scale)")
    p.add_argument("--crops-per-image", type=float, default=1.0, help="crops drawn per training image per epoch")
    p.add_argument("--zoom", type=float, nargs=2, default=(0.85, 1.25), help="patch crops: scale range (1 = native)")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--backbone-lr", default="auto", type=lambda v: v if v == "auto" else float(v),
                   metavar="auto|SCALE", help="joint: the backbone's learning rate as a share of --lr; auto: "
                   f"{BACKBONE_LR_WARM:g} when it starts from trained weights (steel backbone, a model set), else 1")
    p.add_argument("--weight-decay", type=float,
                   help="AdamW weight decay (default: 5e-4 for whole images, 0.05 otherwise)")
    p.add_argument("--label-smoothing", type=float, default=0.1)
    p.add_argument("--seg-epochs", type=int, default=3, help="staged: decoder epochs")
    p.add_argument("--seg-crop", help="segmenter crop (default: --crop)")
    p.add_argument("--seg-lr", type=float, default=3e-3)
    p.add_argument("--seg-batch-size", type=int, help="default: --batch-size")
    p.add_argument("--critical", nargs="+", metavar="CLASS",
                   help="classes whose threshold is set by --target-recall on the validation images (safety first: "
                        "catch them at the cost of more second looks)")
    p.add_argument("--target-recall", type=share, default=0.95, help="recall the critical classes' thresholds reach")
    p.add_argument("--false-alarm-budget", type=share, default=0.03,
                   help="the other classes are lowered together until this share of clean validation images would "
                        "be flagged (data with clean images; single-label data keeps its best thresholds)")
    p.add_argument("--best-f1", action="store_true",
                   help="non-critical classes at their best-F1 thresholds instead of the false-alarm budget")
    p.add_argument("--train-per-class", type=int, metavar="N",
                   help="keep only N training images of each class (learning curves; validation and hold-out "
                        "unchanged)")
    p.add_argument("--val-fraction", type=float, default=0.15, help="validation share (early stopping, thresholds)")
    p.add_argument("--holdout-fraction", type=float, default=0.0,
                   help="share kept back entirely (evaluate it with core.evaluation.evaluate --split holdout)")
    p.add_argument("--holdout", choices=("fraction", "reserved"), default="fraction",
                   help="what is held out: --holdout-fraction of the images (stratified, by --seed), or exactly the "
                        "images the steel backbone never saw (20%% by file-name hash, core.datasets.reserved): "
                        "fair figures for a set that starts from it")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--patience", type=int, default=4,
                   help="staged: early stopping patience in epochs (0 = off); joint training runs its schedule and "
                        "keeps the best of its validation points")
    p.add_argument("--no-balance", action="store_true", help="sample uniformly instead of class-balanced")
    p.add_argument("--no-augment", action="store_true")
    p.add_argument("--photometric", type=float, default=1.0,
                   help="strength of the photometric augmentation (exposure, contrast, glare, CLAHE, noise); 0 keeps "
                        "flips only, for faint defects a lamp-like glare would hide")
    p.add_argument("--no-head-refit", action="store_true", help="skip refitting the last layer on whole images")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    p.add_argument("--no-amp", action="store_true", 
                   help="train in fp32 (default: fp16 autocast on CUDA, bf16 on CPUs with AMX)")
    p.add_argument("--workers", type=int, default=0, help="data loader processes")
    p.add_argument("--run-dir", type=Path, help="checkpoints and logs (default runs/<name>)")
    p.add_argument("--resume", type=Path, help="checkpoint.pt of an interrupted run")
    p.add_argument("--max-steps", type=int, help="cap optimiser steps per epoch (smoke tests)")
    loop = p.add_argument_group("training from the review log (a job, as on the Models page)")
    loop.add_argument("--from-review-log", action="store_true",
                      help="queue a job that trains on the reviewed sheets (labels: the latest decisions), gates the "
                           "new set against the active one on the evaluation sheets; follow its log here")
    loop.add_argument("--preset", default="quick",
                      help="how long: quick (minutes), thorough (the trainer's schedule), tiny (plumbing); the recipe "
                           "is the trainer's own for the reviewed sheets, the start the active set's weights")
    loop.add_argument("--parent", help="set to start from and compare with (default: the active set)")
    loop.add_argument("--by", help="who requests the job (default: $USER)")
    loop.add_argument("--detach", action="store_true", help="start the job and return; do not follow its log")
    loop.add_argument("--jobs", action="store_true", help="list the latest training jobs and exit")
    loop.add_argument("--cancel", type=int, metavar="JOB", help="cancel a queued or running job")
    loop.add_argument("--job", type=int, help=argparse.SUPPRESS)  # the job's own process (core.retrain.jobs)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command = "steelscan train " + " ".join(shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    try:
        if args.from_review_log or args.jobs or args.cancel:
            from core.cli.review_jobs import main as review_jobs

            return review_jobs(args)
        if args.out is None:
            raise SteelScanError("command line", "--out is required", "pass --out models/NAME")
        from core.training.pipeline import run

        run(args, command)
    except SteelScanError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
