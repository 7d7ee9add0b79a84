"""Joint training: the pixel masks train the backbone.

After the segmentation-based defect papers (Tabernik et al. 2019, "Segmentation-based deep-learning
approach for surface-defect detection"; Bozic et al. 2021, "Mixed supervision for surface-defect
detection"): the ResNet backbone, the U-Net decoder on its feature pyramid and the classifier head
learn together from one loss, segmentation (BCE + soft Dice on the defect masks) plus the
image-level classification loss. Masks carry far more signal per labelled image than a label does,
so a plant with a few dozen labelled images gets a backbone that has learnt what its defects look
like pixel by pixel.

The U-Net keeps running on the classifier's own features (card `segmenter_encoder_source:
classifier`), so inspection still runs the backbone once. The decision uses the segmentation
output too: tuning (core.training.tuning) picks, per class, the classifier threshold together with
the minimum mask area, and the engine drops a call whose mask is smaller (core.engine.postprocess).

The schedule is counted in optimiser steps scaled to the data (`schedule_steps`), with validation
at a fixed number of points along it and the best point's weights kept.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from core.modelsets.networks import backbone_features, classifier_head, decode_masks
from core.training.loops import History, _optimise, autocast, classification_loss, cosine_with_warmup, dice_bce_loss

STEPS_PER_IMAGE = 2.0  # optimiser steps per training image ...
MIN_STEPS, MAX_STEPS = 400, 4000  # ... within these bounds (30 images -> 400 steps, 10,000 -> 4,000)
# Whole images at ~224 px see every defect in each draw, where a crop sees a part: fewer steps go as far, and a
# step of 32 costs ~1.6 s on a 2-core CPU, so 1,500 steps keep 1,000 images under 45 minutes there.
WHOLE_MAX_STEPS = 1500
VALIDATIONS = 10  # validation points along the schedule
# The backbone's learning rate as a share of the heads' when it starts from trained weights
# (joint_parameter_groups); 1.0 = one rate for all until a lower one is measured better (docs/own-data.md).
BACKBONE_LR_WARM = 1.0


def schedule_steps(train_images: int, steps: int | None = None, most: int = MAX_STEPS) -> int:
    """Total optimiser steps: `steps` when given, else scaled to the number of training images.

    Few images need many passes (a 30-image set sees each image ~200 times at batch 16) while a
    large set converges in a few passes; the bounds keep both ends inside a 2-core CPU evening."""
    if steps:
        return int(steps)
    return int(min(most, max(MIN_STEPS, round(STEPS_PER_IMAGE * train_images))))


def init_mask_prior(segmenter: nn.Module, prior: float = 0.01) -> None:
    """Start the mask head predicting "defect" at `prior` everywhere (bias log(p / (1 - p))), as
    RetinaNet starts its focal head: at the usual zero bias every pixel starts at p = 0.5, the
    background BCE dominates the first hundreds of steps and the Dice of a small defect is ~0
    until the background is learnt. Defects cover ~1% of the pixels here."""
    conv = next(m for m in segmenter.segmentation_head.modules() if isinstance(m, nn.Conv2d))
    with torch.no_grad():
        conv.bias.fill_(math.log(prior / (1 - prior)))


def silence_masks(segmenter: nn.Module) -> None:
    """A set trained on image labels only outlines nothing: its untrained decoder's output would be noise
    drawn as defects. The mask head's bias goes far negative, so every pixel's probability is ~0 and the
    engine's overlays and areas stay empty (Grad-CAM still shows where the classifier looked)."""
    conv = next(m for m in segmenter.segmentation_head.modules() if isinstance(m, nn.Conv2d))
    with torch.no_grad():
        conv.weight.zero_()
        conv.bias.fill_(-30.0)


def any_defect_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Multi-label: "is any defect present?", scored by the strongest class logit, as the engine ranks an image
    by its top class probability. Each class head alone is also taught that other classes' defects are not
    its own; this term teaches them together that a clean image keeps every class low, and lines up their
    scales, so the top class probability ranks images."""
    return F.binary_cross_entropy_with_logits(logits.amax(1), target.amax(1))


def joint_parameters(classifier: nn.Module, segmenter: nn.Module) -> list[nn.Parameter]:
    """Backbone + classifier head + decoder + segmentation head, each tensor once (the shared
    encoder's tensors are the classifier's)."""
    return [p for group in joint_parameter_groups(classifier, segmenter, 1.0, 1.0) for p in group["params"]]


def joint_parameter_groups(classifier: nn.Module, segmenter: nn.Module, lr: float, backbone_scale: float) -> list[dict]:
    """Optimiser groups: the backbone at `lr * backbone_scale`, the heads and the decoder at `lr`.

    A backbone that starts from steel weights already knows the surface; at the heads' rate a few dozen
    defective images overwrite what it knew within a few hundred steps (magnetic-tile with 25 defective images
    fitted them by step ~200 while validation AP stopped rising). A lower rate for it is the usual fine-tuning
    practice (discriminative learning rates)."""
    heads = {id(p) for name, p in classifier.named_parameters() if name.startswith(("fc.", "head."))}
    seen, backbone, rest = set(), [], []
    for module in (classifier, segmenter.decoder, segmenter.segmentation_head):
        for p in module.parameters():
            if id(p) not in seen:
                seen.add(id(p))
                (backbone if module is classifier and id(p) not in heads else rest).append(p)
    return [{"params": backbone, "lr": lr * backbone_scale}, {"params": rest, "lr": lr}]


def train_joint(classifier: nn.Module, segmenter: nn.Module, loader: DataLoader, task: str, total_steps: int,
                lr: float, weight_decay: float, device: torch.device, validate: Callable[[nn.Module], dict],
                metric: str, amp: bool = True, smoothing: float = 0.1, cls_weight: float = 1.0,
                seg_weight: float = 1.0, patience: int = 0, validations: int = VALIDATIONS,
                image_weight: float = 0.0, dice_per_image: bool = False,
                backbone_lr_scale: float = 1.0) -> tuple[History, History]:
    """Train backbone, decoder and head together for `total_steps` optimiser steps.

    Returns (history, segmentation history): the first holds the total loss per step and the
    validation rows, the second the segmentation loss per step. The best validation point's
    weights (classifier and decoder) are restored at the end. `patience` counts validation points."""
    classifier.to(device=device, memory_format=torch.channels_last)
    segmenter.to(device=device, memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(joint_parameter_groups(classifier, segmenter, lr, backbone_lr_scale), lr=lr,
                                  weight_decay=weight_decay)
    scheduler = cosine_with_warmup(optimizer, total_steps, max(1, min(total_steps // 10, 200)))
    scaler = torch.amp.GradScaler("cuda", enabled=device.type == "cuda" and amp)
    history, seg_history = History(), History()
    every = max(1, total_steps // max(1, validations))
    best_state, stale, step, started = None, 0, 0, time.perf_counter()
    bar = tqdm(total=total_steps, desc="joint training", unit="step", dynamic_ncols=True, mininterval=5)
    running = seg_running = None
    while step < total_steps and not history.stopped_early:
        for x, target, masks in loader:
            classifier.train()
            segmenter.train()
            x = x.to(device, memory_format=torch.channels_last, non_blocking=True)
            target, masks = target.to(device), masks.to(device)
            with autocast(device, amp):
                features = backbone_features(classifier, x)
                logits = classifier_head(classifier, features[-1]).float()
                if seg_weight:
                    mask_logits = decode_masks(segmenter, features).float()
                    seg_loss = dice_bce_loss(mask_logits, masks, per_image=dice_per_image)
                else:  # image labels only: no decoder pass (a third of a step's time at 224 px)
                    seg_loss = logits.new_zeros(())
                loss = seg_weight * seg_loss + cls_weight * classification_loss(task, logits, target, smoothing)
                if image_weight and task == "multi-label":
                    loss = loss + image_weight * any_defect_loss(logits, target)
            running = _optimise(loss, optimizer, scaler, scheduler, history, running)
            value = seg_loss.item()
            seg_history.losses.append(value)
            seg_running = value if seg_running is None else 0.95 * seg_running + 0.05 * value
            step += 1
            bar.update(1)
            bar.set_postfix(loss=f"{running:.4f}", seg=f"{seg_running:.4f}", lr=f"{scheduler.get_last_lr()[-1]:.2e}",
                            refresh=False)  # drawn at the bar's own pace (mininterval), not every step
            if step % every == 0 or step == total_steps:
                scores = validate(classifier)
                scores.update(step=step, train_loss=running, seg_loss=seg_running,
                              seconds=round(time.perf_counter() - started, 1))
                history.epochs.append(scores)
                # Ties go to the later point: it has trained longer (the masks keep improving).
                improved = scores[metric] >= history.best_metric
                if improved:
                    history.best_metric, history.best_epoch, stale = scores[metric], step, 0
                    best_state = (copy.deepcopy(classifier.state_dict()),
                                  copy.deepcopy(segmenter.decoder.state_dict()),
                                  copy.deepcopy(segmenter.segmentation_head.state_dict()))
                else:
                    stale += 1
                tqdm.write(f"step {step}/{total_steps}: " + ", ".join(
                    f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in scores.items())
                    + (" *" if improved else ""))
                if patience and stale >= patience:
                    history.stopped_early = True
                    tqdm.write(f"early stop: no {metric} gain for {patience} validations")
            if step >= total_steps or history.stopped_early:
                break
    bar.close()
    if best_state is not None:
        classifier.load_state_dict(best_state[0])
        segmenter.decoder.load_state_dict(best_state[1])
        segmenter.segmentation_head.load_state_dict(best_state[2])
    classifier.eval()
    segmenter.eval()
    history.seconds = seg_history.seconds = time.perf_counter() - started
    return history, seg_history
