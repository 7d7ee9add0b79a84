"""Does joint training learn a pixel-masked dataset? A probe, not the trainer.

It runs core.training's crops ('tile', half centred on a defect), loss (dice_bce_loss + the image loss) and
networks (classifier backbone shared with the U-Net decoder) for N optimiser steps from random weights, and prints
every K steps the validation image-level AP scored two ways (the classifier head's top probability, and the
segmentation map's strongest 5x5-smoothed pixel) and the Dice of defective images; at the end the same on the
hold-out. Splits are the trainer's (split_dataset, validation 15%, hold-out 20%, seed 0).

    python benchmarks/probe_joint_learning.py ../shared/datasets/magnetic-tile --arch resnet18 --steps 600
"""

from __future__ import annotations

import argparse
import json
import time

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import average_precision_score
from torch.utils.data import DataLoader

from core.datasets import open_dataset
from core.modelsets.modelset import build_networks, new_card
from core.modelsets.networks import backbone_features, classifier_head, decode_masks
from core.modelsets.preprocess import Normaliser
from core.training.data import CropDataset, ImageCache, make_sampler, split_dataset
from core.training.joint import init_mask_prior, joint_parameters
from core.training.loops import classification_loss, cosine_with_warmup, dice_bce_loss, normalise
from core.training.start import zero_init_residuals


class ScaledCache(ImageCache):
    """Images and masks resized by `scale` (area interpolation; a mask pixel stays defect when a quarter of
    its area was), so a crop sees `1 / scale**2` times more of the surface for the same compute."""

    def __init__(self, dataset, scale: float) -> None:
        super().__init__(dataset)
        self.scale, self._masks, self._full = scale, {}, {}

    def pixels(self, index: int) -> np.ndarray:
        if index not in self._pixels:
            pixels = super().pixels(index)
            self._full[index] = pixels.shape[:2]
            if self.scale != 1.0:
                pixels = cv2.resize(pixels, None, fx=self.scale, fy=self.scale, interpolation=cv2.INTER_AREA)
            self._pixels[index] = pixels
        return self._pixels[index]

    def masks(self, index: int) -> np.ndarray:
        if index not in self._masks:
            height, width = self.pixels(index).shape[:2]
            sample = self.dataset.samples[index]
            full = self._full[index]
            masks = sample.masks(full[0], full[1], len(self.dataset.class_names))
            if self.scale != 1.0:
                masks = np.stack([cv2.resize(m.astype(np.float32), (width, height), interpolation=cv2.INTER_AREA)
                                  >= 0.25 for m in masks]).astype(np.uint8)
            self._masks[index] = masks
        return self._masks[index]


@torch.inference_mode()
def evaluate(classifier, segmenter, cache, normaliser, indices) -> dict:
    classifier.eval()
    segmenter.eval()
    labels = cache.dataset.label_matrix()
    head, segmax, segarea, segtop, dices, truth = [], [], [], [], [], []
    for i in indices:
        x = normalise(cache.pixels(i), normaliser, torch.device("cpu"))
        height, width = x.shape[-2:]
        pad_h, pad_w = (-height) % 32, (-width) % 32
        padded = F.pad(x, (0, pad_w, 0, pad_h), mode="reflect") if pad_h or pad_w else x
        features = backbone_features(classifier, padded)
        head.append(torch.sigmoid(classifier_head(classifier, features[-1]))[0].max().item())
        masks = torch.sigmoid(decode_masks(segmenter, features))[..., :height, :width]
        segmax.append(F.avg_pool2d(masks, 5, 1, 2).amax().item())
        segarea.append((masks.amax(1) > 0.5).float().mean().item())
        segtop.append(masks.amax(1).flatten().topk(min(200, masks[0, 0].numel())).values.mean().item())
        truth.append(bool(labels[i].any()))
        if truth[-1]:
            want, got = cache.masks(i).any(0), (masks[0].numpy() > 0.5).any(0)
            dices.append(2 * (want & got).sum() / max(1, want.sum() + got.sum()))
    classifier.train()
    segmenter.train()
    return {"head_ap": round(float(average_precision_score(truth, head)), 4),
            "seg_ap": round(float(average_precision_score(truth, segmax)), 4),
            "area_ap": round(float(average_precision_score(truth, segarea)), 4),
            "top200_ap": round(float(average_precision_score(truth, segtop)), 4),
            "dice": round(float(np.mean(dices)), 4), "prevalence": round(float(np.mean(truth)), 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data")
    parser.add_argument("--arch", default="resnet18")
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--crop", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--every", type=int, default=100)
    parser.add_argument("--scale", type=float, default=1.0, help="resize images (and masks) by this factor")
    parser.add_argument("--clean-share", type=float, default=None,
                        help="share of crops drawn from clean images (default: class-balanced, clean = one class)")
    parser.add_argument("--defect-bias", type=float, default=0.5)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--photometric", type=float, default=1.0,
                        help="photometric augmentation strength (0: flips only)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    np.random.seed(0)
    dataset = open_dataset(args.data)
    split = split_dataset(dataset, 0.15, 0.2, 0)
    print(vars(args), flush=True)
    print(f"train {len(split.train)}, validation {len(split.val)}, hold-out {len(split.holdout)}; "
          f"{args.arch}, {torch.get_num_threads()} threads", flush=True)
    card = new_card("probe", dataset.class_names, dataset.task, classifier_architecture=args.arch,
                    classifier_pooling="avg", segmenter_encoder=args.arch, segmenter_encoder_source="classifier")
    classifier, segmenter = build_networks(card)
    zero_init_residuals(classifier)
    init_mask_prior(segmenter)
    normaliser = Normaliser.from_card(card)
    cache = ScaledCache(dataset, args.scale)
    crops = CropDataset(cache, split.train, "tile", (args.crop, args.crop), dataset.task, normaliser, augment=True,
                        defect_bias=args.defect_bias, seed=0, photometric=args.photometric)
    loader = DataLoader(crops, batch_size=args.batch_size, drop_last=True,
                        sampler=make_sampler(dataset, split.train, args.steps * args.batch_size, True, 0,
                                             args.clean_share))
    optimizer = torch.optim.AdamW(joint_parameters(classifier, segmenter), lr=args.lr, weight_decay=1e-4)
    scheduler = cosine_with_warmup(optimizer, args.steps, max(1, args.steps // 20))
    classifier.to(memory_format=torch.channels_last).train()
    segmenter.to(memory_format=torch.channels_last).train()
    started, step = time.perf_counter(), 0
    for x, target, masks in loader:
        features = backbone_features(classifier, x.to(memory_format=torch.channels_last))
        seg_loss = dice_bce_loss(decode_masks(segmenter, features), masks)
        loss = seg_loss + classification_loss(dataset.task, classifier_head(classifier, features[-1]), target, 0.1)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        step += 1
        if step % args.every == 0 or step == args.steps:
            scores = evaluate(classifier, segmenter, cache, normaliser, split.val)
            print(f"step {step} ({time.perf_counter() - started:.0f} s): loss {loss.item():.3f}, validation "
                  f"{json.dumps(scores)}", flush=True)
        if step >= args.steps:
            break
    print(f"hold-out {json.dumps(evaluate(classifier, segmenter, cache, normaliser, split.holdout))}", flush=True)


if __name__ == "__main__":
    main()
