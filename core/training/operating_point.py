"""Where each class's threshold sits: safety first, as a plant asks for it.

A plant's first question is "does it catch the defects?", under a false-alarm load the line can live with.
Best-F1 thresholds (core.training.tuning) weigh a missed defect and a false alarm alike; these rules do not:
- **critical classes** take the highest threshold whose validation recall reaches `target_recall`
  (a missed crack costs more than any number of second looks);
- **every other class** of data with clean images is lowered together as far as the image-level false-alarm
  budget allows: the share of clean validation images with any call stays within `false_alarm_budget`;
- data without clean validation images (single-label patches) keep their best-F1 thresholds.
Each class's rule is recorded in the card's tuning table, with its recall / false-alarm curve, so the Models
page can move a threshold to a new target without the images (`threshold_for_recall`, `threshold_for_false_alarms`).

Pure functions on arrays; the grid is core.training.tuning.THRESHOLD_GRID. `threshold_from_target` reads a
card's recorded curves for the Models page; this module imports numpy only, so that page stays light.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from core.contract.errors import SteelScanError

if TYPE_CHECKING:
    from core.modelsets.modelset import ModelCard

TARGET_KINDS = ("recall", "false_alarms")  # target recall; per-class false-alarm budget


@dataclass(frozen=True)
class OperatingRule:
    false_alarm_budget: float | None = 0.03  # image level, share of clean validation images; None: best F1
    target_recall: float = 0.95  # critical classes
    critical: tuple[str, ...] = ()

    def describe(self) -> str:
        parts = []
        if self.critical:
            parts.append(f"critical {', '.join(self.critical)}: recall >= {self.target_recall:g}")
        parts.append(f"others: image-level false alarms <= {self.false_alarm_budget:.1%} of clean validation images"
                     if self.false_alarm_budget is not None else "others: best F1")
        return "; ".join(parts)


def class_curves(called: np.ndarray, labels: np.ndarray) -> dict[str, np.ndarray]:
    """called: (G, N, K) bool calls at each grid threshold; labels: (N, K) bool.
    Returns per-class (K, G) recall and false-alarm rate (share of images without the class that it is called on)."""
    positives = labels.sum(0)
    negatives = (~labels).sum(0)
    hits = (called & labels[None]).sum(1).T
    alarms = (called & ~labels[None]).sum(1).T
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(positives[:, None] > 0, hits / np.maximum(positives[:, None], 1), np.nan)
        false_alarm = np.where(negatives[:, None] > 0, alarms / np.maximum(negatives[:, None], 1), np.nan)
    return {"recall": recall, "false_alarm": false_alarm}


def threshold_for_recall(grid: np.ndarray, recall: np.ndarray, target: float) -> float | None:
    """The highest threshold whose recall reaches `target` (recall falls as the threshold rises); None when
    no threshold does or the class has no validation image."""
    reached = [t for t, r in zip(grid, recall, strict=True) if not np.isnan(r) and r >= target - 1e-9]
    return float(max(reached)) if reached else None


def threshold_for_false_alarms(grid: np.ndarray, false_alarm: np.ndarray, budget: float) -> float | None:
    """The lowest threshold whose false-alarm rate stays within `budget`."""
    within = [t for t, f in zip(grid, false_alarm, strict=True) if not np.isnan(f) and f <= budget + 1e-9]
    return float(min(within)) if within else None


def budget_thresholds(grid: np.ndarray, called: np.ndarray, labels: np.ndarray, fixed: dict[int, int],
                      budget: float) -> dict[int, int] | None:
    """Grid indices for the classes not in `fixed` (class -> grid index), lowered together as far as the
    share of clean images (no label) with any call stays within `budget`.

    One knob for all of them: each class's own false-alarm rate on the clean images, r. For each r a class
    takes its lowest threshold whose rate is within r; the largest r whose combined image-level rate is within
    the budget wins. None when there are no clean images to measure on."""
    clean = ~labels.any(1)
    if not clean.any():
        return None
    free = [k for k in range(labels.shape[1]) if k not in fixed]
    clean_calls = called[:, clean]  # (G, C, K)
    per_class_rate = clean_calls.mean(1)  # (G, K)
    best = {k: len(grid) - 1 for k in free}
    for r in np.unique(per_class_rate[:, free]) if free else []:
        choice = {}
        for k in free:
            ok = np.flatnonzero(per_class_rate[:, k] <= r + 1e-12)
            choice[k] = int(ok.min()) if len(ok) else len(grid) - 1
        index = {**fixed, **choice}
        any_call = np.zeros(clean.sum(), bool)
        for k, g in index.items():
            any_call |= clean_calls[g, :, k]
        if any_call.mean() <= budget + 1e-9:
            best = choice
    return best


@dataclass(frozen=True)
class TargetThreshold:
    """A class's threshold set from a target on its recorded validation curve, with what it gives there."""

    class_name: str
    kind: str  # one of TARGET_KINDS
    target: float
    threshold: float
    recall: float | None  # validation recall at `threshold`; None: no validation image has the class
    false_alarm: float | None  # share of validation images without the class that it is called on
    rule: str  # one line for the change log: "recall >= 0.95 on the validation images"


def recorded_rules(card: ModelCard) -> dict[str, str]:
    """Per class, what set the card's threshold at training ("" where the card does not say)."""
    tuning = card.metrics.get("tuning") if isinstance(card.metrics.get("tuning"), dict) else {}
    rows = {name: tuning.get(name) for name in card.class_names}
    return {name: str(row.get("rule", "")) if isinstance(row, dict) else "" for name, row in rows.items()}


def has_curves(card: ModelCard) -> bool:
    """Whether the card records a validation curve for any class (sets trained before curves were recorded: no)."""
    tuning = card.metrics.get("tuning") if isinstance(card.metrics.get("tuning"), dict) else {}
    return any(isinstance(row, dict) and isinstance(row.get("curve"), dict) for row in tuning.values())


def threshold_from_target(card: ModelCard, class_name: str, kind: str, value: float) -> TargetThreshold:
    """The threshold at which `class_name` meets `value` on the card's validation curve: kind "recall", the highest
    threshold whose recall reaches it; kind "false_alarms", the lowest whose false-alarm rate stays within it."""
    if class_name not in card.class_names:
        raise SteelScanError(f"{card.name} card", f"has no class {class_name!r}",
                             f"the classes are: {', '.join(card.class_names)}")
    if kind not in TARGET_KINDS:
        raise SteelScanError(f"{class_name} target", f"kind {kind!r} is unknown",
                             f"use one of {', '.join(TARGET_KINDS)}")
    label = "target recall" if kind == "recall" else "false-alarm budget"
    if not (0.0 < value <= 1.0 if kind == "recall" else 0.0 <= value < 1.0):
        raise SteelScanError(f"{class_name} {label}", f"{value:g} is outside 0..1",
                             "enter a share, e.g. 0.95 for a recall, 0.02 for a 2% budget")
    grid, recall, false_alarm = _curve(card, class_name)
    values = recall if kind == "recall" else false_alarm
    if np.isnan(values).all():
        missing = "with" if kind == "recall" else "without"
        raise SteelScanError(f"{class_name} {label}", f"no validation image {missing} {class_name}, so it was not "
                             "measured", "use the other kind of target, or type the threshold")
    if kind == "recall":
        threshold = threshold_for_recall(grid, recall, value)
        rule = f"recall >= {value:g} on the validation images"
        if threshold is None:
            best = np.nanmax(recall)
            at = grid[np.flatnonzero(recall == best).max()]
            raise SteelScanError(f"{class_name} target recall",
                                 f"no threshold reaches recall {value:g} on validation (best {best:.2f} at {at:.2f})",
                                 "choose a lower target, or type the threshold")
    else:
        threshold = threshold_for_false_alarms(grid, false_alarm, value)
        rule = f"false alarms <= {_percent(value)} of the validation images without {class_name}"
        if threshold is None:
            lowest = np.nanmin(false_alarm)
            at = grid[np.flatnonzero(false_alarm == lowest).min()]
            raise SteelScanError(f"{class_name} false-alarm budget",
                                 f"no threshold keeps false alarms within {_percent(value)} of the validation images "
                                 f"without {class_name} (lowest {_percent(lowest)} at {at:.2f})",
                                 "allow a larger budget, or type the threshold")
    g = int(np.flatnonzero(grid == threshold)[0])
    return TargetThreshold(class_name, kind, float(value), threshold, _measured(recall[g]), _measured(false_alarm[g]),
                           rule)


def _curve(card: ModelCard, class_name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(thresholds, recall, false_alarm) as float arrays, NaN where not measured."""
    where = f"{card.name} card, metrics.tuning.{class_name}.curve"
    tuning = card.metrics.get("tuning")
    row = tuning.get(class_name) if isinstance(tuning, dict) else None
    curve = row.get("curve") if isinstance(row, dict) else None
    if not isinstance(curve, dict):
        raise SteelScanError(where, "is missing: this set was trained before curves were recorded",
                             "retrain it, or type the threshold")
    try:
        grid = np.asarray(curve["thresholds"], dtype=float)
        columns = [np.asarray(curve.get(key) or [None] * len(grid), dtype=float) for key in ("recall", "false_alarm")]
    except (KeyError, TypeError, ValueError):
        grid, columns = np.empty(0), []
    if grid.ndim != 1 or not len(grid) or any(c.shape != grid.shape for c in columns):
        raise SteelScanError(where, "is not a list of thresholds with a recall and a false-alarm value each",
                             "retrain the set, or type the threshold")
    return grid, columns[0], columns[1]


def _measured(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


def _percent(share: float) -> str:
    return f"{round(float(share) * 100, 2):g}%"
