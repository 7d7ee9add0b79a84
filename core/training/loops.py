"""The training loops: classifier on crops, its head on whole images, the U-Net decoder on the
frozen backbone's features. Each reports progress with tqdm (ETA and the live metric)."""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from core.modelsets import devices
from core.modelsets.flips import mean_over_flips, unflip_mean, with_flips
from core.modelsets.networks import backbone_features, classifier_head, decode_masks
from core.modelsets.preprocess import Normaliser
from core.training.data import ImageCache


@dataclass
class History:
    losses: list[float] = field(default_factory=list)  # one per optimiser step
    epochs: list[dict] = field(default_factory=list)
    best_epoch: int = -1
    best_metric: float = float("-inf")
    seconds: float = 0.0
    stopped_early: bool = False


def cosine_with_warmup(optimizer: torch.optim.Optimizer, total_steps: int, warmup_steps: int):
    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def autocast(device: torch.device, amp: bool):
    """Mixed precision as the engine chooses it: fp16 on CUDA, bf16 on CPUs with AMX (no loss
    scaling needed for bf16); `amp` False trains in fp32."""
    return devices.autocast(device, devices.inference_dtype(device, "auto" if amp else "fp32"))


def classification_loss(task: str, logits: torch.Tensor, target: torch.Tensor, smoothing: float) -> torch.Tensor:
    if task == "single-label":
        return F.cross_entropy(logits, target.argmax(1), label_smoothing=smoothing)
    return F.binary_cross_entropy_with_logits(logits, target)


def train_classifier(classifier: nn.Module, loader: DataLoader, task: str, epochs: int, lr: float,
                     weight_decay: float, device: torch.device, validate: Callable[[nn.Module], dict],
                     metric: str, patience: int = 0, amp: bool = True, smoothing: float = 0.1,
                     max_steps: int | None = None, checkpoint: Callable[[dict], None] | None = None,
                     resume: dict | None = None) -> History:
    """AdamW + warmup/cosine; validation after each epoch; the best epoch's weights are kept.
    `validate(model) -> metrics` must contain `metric` (higher is better)."""
    classifier.to(device=device, memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(classifier.parameters(), lr=lr, weight_decay=weight_decay)
    steps_per_epoch = len(loader) if max_steps is None else min(len(loader), max_steps)
    scheduler = cosine_with_warmup(optimizer, epochs * steps_per_epoch, max(1, min(steps_per_epoch, 200)))
    scaler = torch.amp.GradScaler("cuda", enabled=device.type == "cuda" and amp)
    history, best_state, start_epoch, stale = History(), None, 0, 0
    if resume:
        classifier.load_state_dict(resume["model"])
        optimizer.load_state_dict(resume["optimizer"])
        scheduler.load_state_dict(resume["scheduler"])
        history = History(**resume["history"])
        best_state, start_epoch, stale = resume["best_state"], resume["epoch"] + 1, resume["stale"]
    started = time.perf_counter() - history.seconds
    for epoch in range(start_epoch, epochs):
        classifier.train()
        bar = tqdm(loader, total=steps_per_epoch, desc=f"classifier {epoch + 1}/{epochs}", unit="batch",
                   dynamic_ncols=True, mininterval=5)
        running = None
        for step, (x, target, _) in enumerate(bar):
            if step >= steps_per_epoch:
                break
            x = x.to(device, memory_format=torch.channels_last, non_blocking=True)
            target = target.to(device)
            with autocast(device, amp):
                loss = classification_loss(task, classifier(x).float(), target, smoothing)
            running = _optimise(loss, optimizer, scaler, scheduler, history, running)
            bar.set_postfix(loss=f"{running:.4f}", lr=f"{scheduler.get_last_lr()[0]:.2e}", refresh=False)
        bar.close()
        scores = validate(classifier)
        scores.update(epoch=epoch + 1, train_loss=running, seconds=round(time.perf_counter() - started, 1))
        history.epochs.append(scores)
        improved = scores[metric] > history.best_metric
        if improved:
            history.best_metric, history.best_epoch, stale = scores[metric], epoch + 1, 0
            best_state = copy.deepcopy(classifier.state_dict())
        else:
            stale += 1
        tqdm.write(f"epoch {epoch + 1}/{epochs}: " + ", ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}"
                                                               for k, v in scores.items()) + (" *" if improved else ""))
        history.seconds = time.perf_counter() - started
        if checkpoint:
            checkpoint({"model": classifier.state_dict(), "optimizer": optimizer.state_dict(),
                        "scheduler": scheduler.state_dict(), "history": history.__dict__, "best_state": best_state,
                        "epoch": epoch, "stale": stale})
        if patience and stale >= patience:
            history.stopped_early = True
            tqdm.write(f"early stop: no {metric} gain for {patience} epochs")
            break
    if best_state is not None:
        classifier.load_state_dict(best_state)
    history.seconds = time.perf_counter() - started
    return history


def normalise(pixels: np.ndarray, normaliser: Normaliser, device: torch.device) -> torch.Tensor:
    """The engine's preprocessing (core.engine.inference.Inspector.to_tensor), for one whole image."""
    x = torch.from_numpy(np.array(pixels)).to(device).permute(2, 0, 1)[None].float()
    return normaliser(x).contiguous(memory_format=torch.channels_last)


@torch.no_grad()  # not inference_mode: the head refit trains on these features
def pooled_features(classifier: nn.Module, cache: ImageCache, indices: tuple[int, ...], normaliser: Normaliser,
                    device: torch.device, amp: bool = True, desc: str = "features",
                    transform: Callable[[np.ndarray], np.ndarray] | None = None, batch_size: int = 8,
                    logits: bool = False) -> torch.Tensor:
    """(N, C) average-pooled top features of whole images at native size, as the engine sees them;
    with `logits`, the classifier's (N, K) class logits instead (through its own pooling)."""
    classifier.eval()
    rows, batch = [], []

    def flush() -> None:
        x = torch.cat([normalise(p, normaliser, device) for p in batch]).contiguous(memory_format=torch.channels_last)
        with autocast(device, amp):
            top = backbone_features(classifier, x)[-1]
            row = classifier_head(classifier, top) if logits else torch.flatten(classifier.avgpool(top), 1)
        rows.append(row.float().cpu())
        batch.clear()

    for index in tqdm(indices, desc=desc, unit="img", dynamic_ncols=True, mininterval=5):
        pixels = cache.pixels(index)
        if transform is not None:
            pixels = transform(pixels)
        if batch and (batch[0].shape != pixels.shape or len(batch) == batch_size):
            flush()  # images batch together only when they share a size
        batch.append(pixels)
    if batch:
        flush()
    return torch.cat(rows)


def head_scores(task: str, logits: torch.Tensor, targets: np.ndarray) -> dict:
    """Threshold-free validation scores: accuracy (single-label) or macro ROC-AUC (multi-label)."""
    from core.evaluation.metrics import classification_report

    probs = torch.softmax(logits, 1) if task == "single-label" else torch.sigmoid(logits)
    report = classification_report(targets, probs.numpy(), task=task)
    return {"accuracy": report["accuracy"], "macro_f1": report["macro"]["f1"],
            "macro_roc_auc": report["macro"]["roc_auc"], "macro_pr_auc": report["macro"]["pr_auc"]}


def fit_head(fc: nn.Linear, features: torch.Tensor, targets: np.ndarray, task: str, steps: int = 300,
             lr: float = 1e-2, weight_decay: float = 1e-3) -> nn.Linear:
    """Refit the classifier's last layer on whole-image pooled features (full-batch AdamW).

    Crops show a defect at a larger share of the picture than a whole strip does; the linear
    head on averaged features needs re-scaling for that, which this learns directly."""
    head = copy.deepcopy(fc).float().cpu().train()
    optimizer = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=weight_decay)
    target = torch.from_numpy(targets.astype(np.float32))
    if task == "multi-label":
        positives = target.sum(0)
        pos_weight = ((len(target) - positives) / positives.clamp(min=1)).clamp(max=10)
    for _ in range(steps):
        logits = head(features)
        if task == "single-label":
            loss = F.cross_entropy(logits, target.argmax(1))
        else:
            loss = F.binary_cross_entropy_with_logits(logits, target, pos_weight=pos_weight)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return head.eval()


def dice_bce_loss(logits: torch.Tensor, masks: torch.Tensor, eps: float = 1.0, per_image: bool = False) -> torch.Tensor:
    """BCE plus soft Dice per class, for the classes the batch shows: over the whole batch, or (`per_image`)
    per image and class, averaged over the pairs whose mask is not empty.

    Dice is not scored on a class absent from the batch: its soft Dice, eps / (sum of probabilities
    + eps), is near zero unless every pixel's probability is ~1e-5, so empty channels (most of them:
    clean crops, and every class but one on a defective crop) held the loss near 1 and pushed all
    predictions to zero, defects included. BCE alone teaches those pixels to stay empty.

    Per image: a batch's Dice is dominated by its large defects, and its denominator (every pixel's
    probability over the batch) drowns the gradient of a defect of a few dozen pixels; scored per image,
    a 9-pixel blowhole counts as much as a half-image unevenness (magnetic-tile: batch Dice left
    blowholes and cracks at probability ~0.001 after 1,200 steps)."""
    bce = F.binary_cross_entropy_with_logits(logits, masks)
    probs = torch.sigmoid(logits)
    if per_image:
        intersection, predicted, truth = ((probs * masks).sum((2, 3)), probs.sum((2, 3)), masks.sum((2, 3)))
    else:
        probs_k, masks_k = probs.transpose(0, 1).flatten(1), masks.transpose(0, 1).flatten(1)  # (K, N*H*W)
        intersection, predicted, truth = (probs_k * masks_k).sum(1), probs_k.sum(1), masks_k.sum(1)
    shown = truth > 0
    if not shown.any():
        return bce
    dice = (2 * intersection + eps) / (predicted + truth + eps)
    return bce + (1 - dice[shown]).mean()


def train_decoder(classifier: nn.Module, segmenter: nn.Module, loader: DataLoader, epochs: int, lr: float,
                  device: torch.device, own_encoder: bool = False, amp: bool = True,
                  max_steps: int | None = None) -> History:
    """Train the U-Net. Shared encoder: the classifier's backbone is frozen and runs without
    gradients, only decoder + head learn (cheap: no encoder backward). Own encoder: the whole
    U-Net learns."""
    classifier.to(device=device, memory_format=torch.channels_last).eval().requires_grad_(False)
    segmenter.to(device=device, memory_format=torch.channels_last)
    if own_encoder:
        params = list(segmenter.parameters())
    else:
        params = list(segmenter.decoder.parameters()) + list(segmenter.segmentation_head.parameters())
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=1e-4)
    steps_per_epoch = len(loader) if max_steps is None else min(len(loader), max_steps)
    scheduler = cosine_with_warmup(optimizer, epochs * steps_per_epoch, max(1, min(steps_per_epoch, 50)))
    scaler = torch.amp.GradScaler("cuda", enabled=device.type == "cuda" and amp)
    history, started = History(), time.perf_counter()
    for epoch in range(epochs):
        segmenter.train()
        if not own_encoder:
            segmenter.encoder.eval()  # frozen BatchNorm statistics: they belong to the classifier
        bar = tqdm(loader, total=steps_per_epoch, desc=f"segmenter {epoch + 1}/{epochs}", unit="batch",
                   dynamic_ncols=True, mininterval=5)
        running = None
        for step, (x, _, masks) in enumerate(bar):
            if step >= steps_per_epoch:
                break
            x = x.to(device, memory_format=torch.channels_last)
            masks = masks.to(device)
            with autocast(device, amp):
                if own_encoder:
                    logits = segmenter(x)
                else:
                    with torch.no_grad():
                        features = backbone_features(classifier, x)
                    logits = decode_masks(segmenter, features)
                loss = dice_bce_loss(logits.float(), masks)
            running = _optimise(loss, optimizer, scaler, scheduler, history, running)
            bar.set_postfix(loss=f"{running:.4f}", refresh=False)
        bar.close()
        history.epochs.append({"epoch": epoch + 1, "train_loss": running})
    segmenter.eval()
    history.seconds = time.perf_counter() - started
    return history


@torch.inference_mode()
def whole_image_outputs(classifier: nn.Module, segmenter: nn.Module, shared: bool, pixels: np.ndarray,
                        normaliser: Normaliser, device: torch.device, task: str,
                        amp: bool = True, flips: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(class probabilities (K,), pixel probabilities (K,H,W)) of one whole image, computed as the
    engine computes them but without its gating, so thresholds can be tuned on them. `flips`: the card's
    test-time flips (the image and its mirror images averaged, core.modelsets.flips)."""
    x = normalise(pixels, normaliser, device)
    x = with_flips(x) if flips else x
    with autocast(device, amp):
        features = backbone_features(classifier, x)
        logits = classifier_head(classifier, features[-1]).float()
        if shared:
            mask_logits = decode_masks(segmenter, features)
        else:
            height, width = x.shape[-2:]
            pad_h, pad_w = (-height) % 32, (-width) % 32
            padded = F.pad(x, (0, pad_w, 0, pad_h), mode="reflect") if pad_h or pad_w else x
            mask_logits = segmenter(padded)[..., :height, :width]
    probs = torch.softmax(logits, 1) if task == "single-label" else torch.sigmoid(logits)
    if flips:
        probs, mask_logits = mean_over_flips(probs, 1), unflip_mean(mask_logits.float(), 1)
    mask_logits = normaliser.to_image(mask_logits.float(), pixels.shape[:2])
    return probs[0].cpu().numpy(), torch.sigmoid(mask_logits)[0].cpu().numpy()


def _optimise(loss: torch.Tensor, optimizer, scaler, scheduler, history, running: float | None) -> float:
    """One optimiser step (through the AMP scaler) and the loss's running average for the progress bar."""
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()
    scheduler.step()
    value = loss.item()
    history.losses.append(value)
    return value if running is None else 0.95 * running + 0.05 * value
