"""Per-class decision rules tuned on the validation split's whole images.

For every class: the pixel threshold that best outlines the defect (Dice), then the classifier
threshold and minimum mask area whose combined call (the engine's rule in core.engine.postprocess) has
the best F1 (multi-label) or keeps the most right calls (single-label, reported as recall). Ties
resolve to the middle of the best threshold range, which generalises better than an edge
(single-label sets take the lowest: see tune_classes).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from core.evaluation.metrics import dice, f1_score_binary
from core.modelsets.modelset import ClassSpec

PIXEL_GRID = np.round(np.arange(0.2, 0.81, 0.1), 2)
THRESHOLD_GRID = np.round(np.arange(0.02, 0.981, 0.02), 2)
MIN_AREA_GRID = (0, 16, 64, 128, 256, 512, 1024, 2048, 4096)


@dataclass
class TuningData:
    """What tuning needs from each validation image, with the pixel maps already reduced."""

    probs: list[np.ndarray]  # (K,) per image
    labels: list[np.ndarray]  # (K,) 0/1 per image
    areas: list[np.ndarray]  # (K, G) predicted mask area at each pixel threshold
    inters: list[np.ndarray]  # (K, G) overlap with the true mask at each pixel threshold
    truths: list[np.ndarray]  # (K,) true mask area

    @classmethod
    def empty(cls) -> TuningData:
        return cls([], [], [], [], [])

    def add(self, probs: np.ndarray, pixel_probs: np.ndarray, true_masks: np.ndarray, labels: np.ndarray) -> None:
        truth = true_masks.astype(bool)
        areas, inters = [], []
        for level in PIXEL_GRID:
            above = pixel_probs >= level
            areas.append(above.reshape(len(above), -1).sum(1))
            inters.append((above & truth).reshape(len(above), -1).sum(1))
        self.probs.append(probs)
        self.labels.append(labels)
        self.areas.append(np.stack(areas, 1))
        self.inters.append(np.stack(inters, 1))
        self.truths.append(truth.reshape(len(truth), -1).sum(1))


def tune_classes(classes: tuple[ClassSpec, ...], data: TuningData, task: str,
                 tune_min_area: bool = True) -> tuple[tuple[ClassSpec, ...], dict]:
    probs, labels = np.stack(data.probs), np.stack(data.labels).astype(bool)
    areas, inters, truths = np.stack(data.areas), np.stack(data.inters), np.stack(data.truths)
    top = probs.argmax(1)
    tuned, report = [], {}
    for k, spec in enumerate(classes):
        positive = truths[:, k] > 0
        if positive.any():
            scores = [dice(inters[positive, k, g], areas[positive, k, g], truths[positive, k]).mean()
                      for g in range(len(PIXEL_GRID))]
            g_best = int(np.argmax(scores))
        else:
            scores, g_best = [], int(np.argmin(np.abs(PIXEL_GRID - 0.5)))
        area = areas[:, k, g_best]
        candidates = MIN_AREA_GRID if (tune_min_area and task == "multi-label") else (0,)
        best = (-1.0, 0, [])
        for min_area in candidates:
            mask_ok = np.ones(len(area), bool) if min_area == 0 else area >= min_area
            f1s = []
            for t in THRESHOLD_GRID:
                called = probs[:, k] >= t
                if task == "single-label":
                    called &= top == k
                if task == "single-label":
                    # No clean class: a threshold can only turn a top call into "nothing", which
                    # never fixes a wrong call, so the objective is the number of right calls.
                    f1s.append(float(np.sum(labels[:, k] & called)) / max(1, int(labels[:, k].sum())))
                else:
                    f1s.append(f1_score_binary(labels[:, k], called & mask_ok))
            if max(f1s) > best[0] + 1e-9:
                best = (max(f1s), min_area, f1s)
        f1_best, min_area, f1s = best
        winners = [t for t, f in zip(THRESHOLD_GRID, f1s, strict=True) if f >= f1_best - 1e-9]
        # Single-label data has no clean class: a lower threshold only keeps the top call, so take
        # the lowest of the best; multi-label takes the middle of the best range.
        threshold = float(winners[0] if task == "single-label" else winners[len(winners) // 2])
        tuned.append(replace(spec, threshold=threshold, min_area=int(min_area),
                             pixel_threshold=float(PIXEL_GRID[g_best])))
        objective = "recall" if task == "single-label" else "f1"
        report[spec.name] = {objective: round(float(f1_best), 4), "threshold": threshold, "min_area": int(min_area),
                             "pixel_threshold": float(PIXEL_GRID[g_best]),
                             "dice_positive": round(float(scores[g_best]), 4) if len(scores) else None,
                             "validation_images_with_class": int(labels[:, k].sum())}
    return tuple(tuned), report
