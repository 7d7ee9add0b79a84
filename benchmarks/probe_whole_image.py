"""Does a small network learn a plant's surface from whole images? A probe for issue 10, not the trainer.

The trainer's crops at native scale (probe_joint_learning.py) stayed near chance on magnetic-tile from random
weights on a CPU. This probe changes the input instead of the loss: every image whole, resized to SIZE x SIZE grey
and standardised per image, defective and clean images drawn half and half, flips and a little gain and offset
noise, and image labels only (defective or not). It prints the validation image-level AP every K steps and, at the
end only, the hold-out's AP, ROC-AUC and recall at <= 3% false alarms (the hold-out never steers anything). Splits
are the trainer's (split_dataset: validation 15%, hold-out 20%, seed 0).

    python benchmarks/probe_whole_image.py ../shared/datasets/magnetic-tile [--arch small|resnet18] [--steps 1200]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from bench_backends import cpu_description
from PIL import Image
from sklearn.metrics import average_precision_score, roc_auc_score
from torch import nn

from core.datasets import open_dataset
from core.training.data import split_dataset


def conv(cin: int, cout: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class SmallNet(nn.Module):
    """Five stride-2 stages of 3x3 convolutions (width w .. 8w); max and mean pooled into one logit."""

    def __init__(self, width: int) -> None:
        super().__init__()
        channels = [width, 2 * width, 4 * width, 8 * width, 8 * width]
        layers = conv(1, channels[0], 2)
        for i in range(1, 5):
            layers += conv(channels[i - 1], channels[i], 2) + conv(channels[i], channels[i])
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(2 * channels[-1], 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.features(x)
        return self.head(torch.cat([f.amax((2, 3)), f.mean((2, 3))], 1))[:, 0]


class ResNetProbe(nn.Module):
    """torchvision's ResNet18 from random weights, grey input, one logit."""

    def __init__(self) -> None:
        super().__init__()
        self.net = torchvision.models.resnet18(weights=None, num_classes=1)
        self.net.conv1 = nn.Conv2d(1, 64, 7, 2, 3, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)[:, 0]


def whole_images(dataset, indices, size: int) -> tuple[np.ndarray, np.ndarray]:
    pixels, labels = [], []
    for index in indices:  # labels from the masks: an image is defective when any mask pixel is set
        sample = dataset.samples[index]
        image = np.asarray(Image.open(sample.image_path).convert("L"), np.float32) / 255.0
        image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
        pixels.append((image - image.mean()) / (image.std() + 1e-3))
        labels.append(bool(sample.masks(*Image.open(sample.image_path).size[::-1], len(dataset.class_names)).any()))
    return np.stack(pixels).astype(np.float32), np.array(labels)


@torch.no_grad()
def scores_of(net: nn.Module, pixels: np.ndarray) -> np.ndarray:
    net.eval()
    x = torch.from_numpy(pixels)[:, None]
    out = torch.cat([net(x[i:i + 64]) for i in range(0, len(x), 64)]).numpy()
    net.train()
    return out


def threshold_3pct(scores: np.ndarray, labels: np.ndarray) -> float:
    clean = np.sort(scores[~labels])[::-1]
    return float(clean[int(0.03 * len(clean))])  # at most 3% of clean images score above it


def figures(scores: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    return {"ap": round(float(average_precision_score(labels, scores)), 3),
            "roc_auc": round(float(roc_auc_score(labels, scores)), 3),
            "recall_at_3pct_false_alarms": round(float((scores[labels] > threshold_3pct(scores, labels)).mean()), 3)}


def recall_per_class(dataset, indices, scores: np.ndarray, labels: np.ndarray) -> dict[str, str]:
    """Found / defective images of each class at the <= 3% false-alarm threshold."""
    threshold, found = threshold_3pct(scores, labels), {}
    for index, score, defective in zip(indices, scores, labels, strict=True):
        if defective:
            for label in dataset.samples[index].labels:
                hit, total = found.get(dataset.class_names[label], (0, 0))
                found[dataset.class_names[label]] = (hit + int(score > threshold), total + 1)
    return {name: f"{hit}/{total}" for name, (hit, total) in sorted(found.items())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", type=Path)
    parser.add_argument("--arch", choices=["small", "resnet18"], default="small")
    parser.add_argument("--width", type=int, default=24, help="small: channels of the first stage")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--steps", type=int, default=1200)
    parser.add_argument("--every", type=int, default=250, help="steps between validation reports")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-defective", type=int, help="keep only N defective training images (learning curve)")
    args = parser.parse_args()
    print(cpu_description(), flush=True)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    dataset = open_dataset(args.data)
    split = split_dataset(dataset, 0.15, 0.2, 0)
    train_x, train_y = whole_images(dataset, split.train, args.size)
    val_x, val_y = whole_images(dataset, split.val, args.size)
    hold_x, hold_y = whole_images(dataset, split.holdout, args.size)
    positive, negative = np.flatnonzero(train_y), np.flatnonzero(~train_y)
    if args.train_defective is not None:  # a seeded subset; validation and hold-out unchanged
        positive = np.sort(np.random.default_rng(args.seed).choice(positive, args.train_defective, replace=False))
    print(f"train {len(train_y)} ({len(positive)} defective), validation {len(val_y)} ({val_y.sum()}), "
          f"hold-out {len(hold_y)} ({hold_y.sum()})", flush=True)
    net = SmallNet(args.width) if args.arch == "small" else ResNetProbe()
    print(f"{args.arch}: {sum(p.numel() for p in net.parameters()) / 1e6:.2f} M parameters", flush=True)
    optimiser = torch.optim.AdamW(net.parameters(), args.lr, weight_decay=5e-4)
    start = time.perf_counter()
    for step in range(1, args.steps + 1):
        picks = [int(rng.choice(positive if rng.random() < 0.5 else negative)) for _ in range(args.batch_size)]
        batch = []
        for k in picks:
            image = train_x[k]
            image = image[:, ::-1] if rng.random() < 0.5 else image
            image = image[::-1] if rng.random() < 0.5 else image
            batch.append(np.ascontiguousarray(image) * rng.uniform(0.8, 1.2) + rng.normal(0, 0.1))
        x = torch.from_numpy(np.stack(batch).astype(np.float32))[:, None]
        y = torch.from_numpy(train_y[picks].astype(np.float32))
        warm, progress = min(1.0, step / 50), step / args.steps
        for group in optimiser.param_groups:  # warm-up, then cosine to 2% of the peak
            group["lr"] = args.lr * warm * (0.02 + 0.98 * 0.5 * (1 + np.cos(np.pi * progress)))
        loss = F.binary_cross_entropy_with_logits(net(x), y)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        if step % args.every == 0 or step == args.steps:
            print(f"step {step} ({time.perf_counter() - start:.0f} s, loss {loss.item():.3f}): validation "
                  f"{figures(scores_of(net, val_x), val_y)}", flush=True)
    hold_scores = scores_of(net, hold_x)
    print(f"hold-out after {args.steps} steps, {(time.perf_counter() - start) / 60:.1f} min: "
          f"{figures(hold_scores, hold_y)}; found per class at <= 3% false alarms: "
          f"{recall_per_class(dataset, split.holdout, hold_scores, hold_y)}", flush=True)


if __name__ == "__main__":
    main()
