"""From network outputs to decisions: thresholds, the minimum-area rule, connected regions.

This is the post-processing of the strongest Severstal solutions: a class's mask survives only
where the classifier calls the class present and the mask covers at least the class minimum.
"""

from __future__ import annotations

import cv2
import numpy as np

from core.contract.verdict import Region
from core.modelsets.modelset import ModelCard

MASK_PEAK_WINDOW = 5  # pixels a side averaged before the peak is taken: one hot pixel does not decide
CLASS_SCORES = ("head", "head+mask")


def mask_peaks(pixel_probs: np.ndarray, window: int = MASK_PEAK_WINDOW) -> np.ndarray:
    """(K,) each class's strongest pixel probability after a `window` x `window` box average (zero outside the
    image). The engine uses the default; benchmarks/compare_class_scores.py compares other windows."""
    size = (window, window)
    return np.array([cv2.blur(channel.astype(np.float32), size, borderType=cv2.BORDER_CONSTANT).max()
                     for channel in pixel_probs])


def class_scores(mode: str, head_probs: np.ndarray, pixel_probs: np.ndarray | None) -> np.ndarray:
    """(K,) the probabilities a verdict carries and the thresholds apply to (card `class_scores`).

    "head": the classifier head's. "head+mask": the mean of the head's and the class's mask peak, so the
    decision is taken from the segmentation as well as the image label (Bozic et al. 2021 feed the
    segmentation output to their decision head). On magnetic-tile's validation split the mean ranked images
    best of head, mask peak, max and geometric mean (image AP 0.95 against 0.91 for the head alone: README)."""
    if mode == "head":
        return head_probs
    if mode != "head+mask":
        raise ValueError(f"class_scores {mode!r} is not one of {CLASS_SCORES}")
    if pixel_probs is None:
        raise ValueError("class_scores 'head+mask' needs the U-Net's pixel probabilities of every image")
    return (head_probs + mask_peaks(pixel_probs)) / 2


def classes_called(card: ModelCard, probabilities: np.ndarray) -> np.ndarray:
    """(classes,) bool: which classes the classifier calls present."""
    thresholds = np.array([c.threshold for c in card.classes])
    if card.task == "single-label":
        called = np.zeros(len(card.classes), dtype=bool)
        top = int(np.argmax(probabilities))
        called[top] = probabilities[top] >= thresholds[top]
        return called
    return probabilities >= thresholds


def apply_mask_rules(card: ModelCard, called: np.ndarray, pixel_probs: np.ndarray | None,
                     shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(masks, present): masks (classes, H, W) bool after gating and the minimum-area rule.

    For multi-label sets a class whose mask falls under its minimum area is no longer present;
    single-label sets (one defect type per patch, e.g. NEU) keep the classifier's call.
    """
    masks = np.zeros((len(card.classes), *shape), dtype=bool)
    present = called.copy()
    if pixel_probs is None:
        return masks, present
    for index, spec in enumerate(card.classes):
        if not called[index]:
            continue
        mask = pixel_probs[index] >= spec.pixel_threshold
        if int(mask.sum()) < max(spec.min_area, 1):
            if card.task == "multi-label" and spec.min_area > 0:
                present[index] = False
            continue
        masks[index] = mask
    return masks, present


def find_regions(card: ModelCard, masks: np.ndarray, pixel_probs: np.ndarray | None) -> tuple[Region, ...]:
    """Connected components (8-connected) of each class mask, largest first within a class."""
    regions: list[Region] = []
    for index, spec in enumerate(card.classes):
        if not masks[index].any():
            continue
        count, labels, stats, _ = cv2.connectedComponentsWithStats(masks[index].astype(np.uint8), connectivity=8)
        means = (np.bincount(labels.ravel(), weights=pixel_probs[index].ravel(), minlength=count)
                 / np.maximum(stats[:, cv2.CC_STAT_AREA], 1)) if pixel_probs is not None else np.zeros(count)
        order = sorted(range(1, count), key=lambda i: -stats[i, cv2.CC_STAT_AREA])
        for i in order:
            x, y, w, h, area = (int(v) for v in stats[i])
            regions.append(Region(spec.name, index, area, (x, y, x + w - 1, y + h - 1), float(means[i])))
    return tuple(regions)
