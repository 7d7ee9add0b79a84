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

from core.contract.errors import SteelScanError
from core.evaluation.metrics import dice, f1_score_binary
from core.modelsets.modelset import ClassSpec
from core.training.operating_point import (
    OperatingRule,
    budget_thresholds,
    class_curves,
    threshold_for_recall,
)

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


def tune_classes(classes: tuple[ClassSpec, ...], data: TuningData, task: str, tune_min_area: bool = True,
                 rule: OperatingRule | None = None) -> tuple[tuple[ClassSpec, ...], dict]:
    """Per class: the pixel threshold, minimum area and best-F1 threshold; then the operating rule
    (core.training.operating_point) moves the thresholds where it applies. `rule` None: best F1 only."""
    tuned, report = best_f1_classes(classes, data, task, tune_min_area)
    if rule is None:
        return tuned, report
    return apply_rule(tuned, report, data, task, rule)


def calls_on_grid(classes: tuple[ClassSpec, ...], data: TuningData, task: str) -> np.ndarray:
    """(G, N, K) the engine's calls at each grid threshold, with each class's tuned pixel threshold and min area."""
    probs, areas = np.stack(data.probs), np.stack(data.areas)
    top = probs.argmax(1)
    called = np.zeros((len(THRESHOLD_GRID), len(probs), len(classes)), bool)
    for k, spec in enumerate(classes):
        g_pixel = int(np.argmin(np.abs(PIXEL_GRID - spec.pixel_threshold)))
        mask_ok = areas[:, k, g_pixel] >= spec.min_area if spec.min_area else np.ones(len(probs), bool)
        for g, t in enumerate(THRESHOLD_GRID):
            hit = (probs[:, k] >= t) & mask_ok
            called[g, :, k] = hit & (top == k) if task == "single-label" else hit
    return called


def apply_rule(tuned: tuple[ClassSpec, ...], report: dict, data: TuningData, task: str,
               rule: OperatingRule) -> tuple[tuple[ClassSpec, ...], dict]:
    labels = np.stack(data.labels).astype(bool)
    called = calls_on_grid(tuned, data, task)
    curves = class_curves(called, labels)
    unknown = set(rule.critical) - {spec.name for spec in tuned}
    if unknown:
        raise SteelScanError("command line", f"--critical names {', '.join(sorted(unknown))}, not a class of the data",
                             f"the classes are: {', '.join(spec.name for spec in tuned)}")
    grid_index = {float(t): g for g, t in enumerate(THRESHOLD_GRID)}
    fixed, rules = {}, {}
    for k, spec in enumerate(tuned):
        rules[k] = "best F1" if task == "multi-label" else "most right calls"
        if spec.name in rule.critical:
            threshold = threshold_for_recall(THRESHOLD_GRID, curves["recall"][k], rule.target_recall)
            if threshold is not None:
                fixed[k] = grid_index[threshold]
                rules[k] = f"critical: recall >= {rule.target_recall:g} on validation"
            else:
                rules[k] = f"critical, but no threshold reaches recall {rule.target_recall:g} on validation: best F1"
    chosen = {}
    if rule.false_alarm_budget is not None and task == "multi-label":
        chosen = budget_thresholds(THRESHOLD_GRID, called, labels, fixed, rule.false_alarm_budget) or {}
        for k in chosen:
            rules[k] = f"image-level false alarms <= {rule.false_alarm_budget:.1%} of clean validation images"
    out = []
    for k, spec in enumerate(tuned):
        g = fixed.get(k, chosen.get(k))
        if g is not None:
            spec = replace(spec, threshold=float(THRESHOLD_GRID[g]))
        row = report[spec.name]
        row.update(threshold=spec.threshold, rule=rules[k], curve={
            "thresholds": [float(t) for t in THRESHOLD_GRID],
            "recall": [None if np.isnan(v) else round(float(v), 4) for v in curves["recall"][k]],
            "false_alarm": [None if np.isnan(v) else round(float(v), 4) for v in curves["false_alarm"][k]]})
        out.append(spec)
    return tuple(out), report


def best_f1_classes(classes: tuple[ClassSpec, ...], data: TuningData, task: str,
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
