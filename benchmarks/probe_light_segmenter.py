"""How fast does a lighter segmenter learn a pixel-masked surface from random weights on this CPU? A probe, not
the trainer (core.training).

One binary "defect" mask (every class together), images scaled by `--scale`, a U-Net (segmentation_models_pytorch)
with `--enc` cut to `--depth` stages and `--dec` decoder channels, grey 1-channel input, `--crop` crops (80% of
defective draws centred near a defect; `--clean` of the draws from clean images), flips/transpose and a brightness
jitter, BCE + soft Dice, AdamW with warmup and cosine over a wall-clock budget of `--seconds`. Four times along the
budget and at the end it prints, on the trainer's hold-out (split_dataset: validation 15%, hold-out 20%, seed 0):
image-level AP and ROC-AUC of the segmentation map's strongest 5x5-smoothed pixel, recall of defective images at
<= 3% false alarms, and the Dice of defective images at pixel threshold 0.5.

    python benchmarks/probe_light_segmenter.py ../shared/datasets/magnetic-tile --scale 0.5 --depth 3 \\
        --dec 64,32,16 --lr 2e-3 --seconds 540
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import segmentation_models_pytorch as smp
import torch
import torch.nn.functional as F
from PIL import Image
from sklearn.metrics import average_precision_score, roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_backends import cpu_description  # noqa: E402  (this folder)

from core.datasets import open_dataset  # noqa: E402
from core.training.data import split_dataset  # noqa: E402


def load(dataset, index: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    sample = dataset.samples[index]
    image = Image.open(sample.image_path).convert("L")
    mask = sample.masks(image.size[1], image.size[0], len(dataset.class_names)).max(0)
    if scale != 1:
        size = (max(32, round(image.size[0] * scale)), max(32, round(image.size[1] * scale)))
        image = image.resize(size, Image.BILINEAR)
        mask = np.array(Image.fromarray(mask * 255).resize(size, Image.BILINEAR)) >= 128
    return np.array(image, np.float32) / 255.0, mask.astype(np.float32)


def random_crop(pixels, mask, size: int, rng) -> tuple[np.ndarray, np.ndarray]:
    if pixels.shape[0] < size or pixels.shape[1] < size:
        pad_h, pad_w = max(0, size - pixels.shape[0]), max(0, size - pixels.shape[1])
        spec = ((pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2))
        pixels, mask = np.pad(pixels, spec, mode="reflect"), np.pad(mask, spec)
    height, width = pixels.shape
    ys, xs = np.nonzero(mask)
    if len(ys) and rng.random() < 0.8:
        pick = rng.integers(len(ys))
        cy, cx = ys[pick] + rng.integers(-size // 3, size // 3 + 1), xs[pick] + rng.integers(-size // 3, size // 3 + 1)
        y0, x0 = int(np.clip(cy - size // 2, 0, height - size)), int(np.clip(cx - size // 2, 0, width - size))
    else:
        y0, x0 = int(rng.integers(0, height - size + 1)), int(rng.integers(0, width - size + 1))
    pixels, mask = pixels[y0:y0 + size, x0:x0 + size], mask[y0:y0 + size, x0:x0 + size]
    if rng.random() < 0.5:
        pixels, mask = pixels[:, ::-1], mask[:, ::-1]
    if rng.random() < 0.5:
        pixels, mask = pixels[::-1], mask[::-1]
    if rng.random() < 0.5:
        pixels, mask = pixels.T, mask.T
    return pixels * rng.uniform(0.8, 1.2) + rng.uniform(-0.1, 0.1), mask


@torch.no_grad()
def evaluate(net, holdout) -> dict:
    net.eval()
    scores, labels, dices = [], [], []
    for pixels, mask in holdout:
        height, width = pixels.shape
        x = (torch.from_numpy(pixels)[None, None] - 0.5) / 0.25
        x = F.pad(x, (0, (-width) % 32, 0, (-height) % 32), mode="reflect")
        probs = torch.sigmoid(net(x))[0, 0, :height, :width]
        scores.append(F.avg_pool2d(probs[None, None], 5, 1, 2).max().item())
        labels.append(bool(mask.any()))
        if mask.any():
            called = (probs >= 0.5).numpy()
            dices.append(2 * (called * mask).sum() / (called.sum() + mask.sum() + 1e-9))
    net.train()
    labels, scores = np.array(labels), np.array(scores)
    threshold = np.sort(scores[~labels])[::-1][int(0.03 * (~labels).sum())]
    return {"ap": round(average_precision_score(labels, scores), 3), "roc_auc": round(roc_auc_score(labels, scores), 3),
            "recall_at_3pct_fa": round(float((scores[labels] > threshold).mean()), 3),
            "dice_defective": round(float(np.mean(dices)), 3)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path)
    parser.add_argument("--enc", default="resnet18")
    parser.add_argument("--depth", type=int, default=5)
    parser.add_argument("--dec", default="256,128,64,32,16")
    parser.add_argument("--scale", type=float, default=0.5)
    parser.add_argument("--crop", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--clean", type=float, default=0.5, help="share of draws from clean images")
    parser.add_argument("--seconds", type=float, default=600, help="training wall-clock budget")
    args = parser.parse_args()
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    dataset = open_dataset(args.data)
    split = split_dataset(dataset, 0.15, 0.2, 0)
    train = [load(dataset, i, args.scale) for i in split.train]
    holdout = [load(dataset, i, args.scale) for i in split.holdout]
    defective = [k for k, (_, m) in enumerate(train) if m.any()]
    clean = [k for k, (_, m) in enumerate(train) if not m.any()]
    print(f"CPU: {cpu_description()}, {torch.get_num_threads()} threads")
    print(f"{dataset.name}: train {len(train)} ({len(defective)} defective), hold-out {len(holdout)}; {args}")
    net = smp.Unet(args.enc, encoder_weights=None, encoder_depth=args.depth, in_channels=1, classes=1,
                   decoder_channels=tuple(int(c) for c in args.dec.split(",")))
    with torch.no_grad():
        net.segmentation_head[0].bias.fill_(float(np.log(0.01 / 0.99)))  # start at p = 0.01 (core.training.joint)
    optimizer = torch.optim.AdamW(net.parameters(), args.lr, weight_decay=1e-4)
    step, started, next_report = 0, time.time(), args.seconds / 4
    while (elapsed := time.time() - started) < args.seconds:
        picks = [int(rng.choice(clean if rng.random() < args.clean else defective)) for _ in range(args.batch_size)]
        crops = [random_crop(*train[k], args.crop, rng) for k in picks]
        x = (torch.from_numpy(np.stack([np.ascontiguousarray(c[0]) for c in crops]))[:, None] - 0.5) / 0.25
        y = torch.from_numpy(np.stack([np.ascontiguousarray(c[1]) for c in crops]))[:, None]
        lr = args.lr * min(1.0, (step + 1) / 50) * (0.02 + 0.98 * 0.5 * (1 + np.cos(np.pi * elapsed / args.seconds)))
        for group in optimizer.param_groups:
            group["lr"] = lr
        logits = net(x)
        probs = torch.sigmoid(logits)
        dice = (2 * (probs * y).sum() + 1) / (probs.sum() + y.sum() + 1)
        loss = F.binary_cross_entropy_with_logits(logits, y) + 1 - dice
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        step += 1
        if elapsed > next_report:
            scores = evaluate(net, holdout)
            print(f"step {step} ({elapsed:.0f} s, loss {loss.item():.3f}): hold-out {scores}", flush=True)
            next_report += args.seconds / 4
    print(f"final: {step} steps in {time.time() - started:.0f} s: hold-out {evaluate(net, holdout)}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
