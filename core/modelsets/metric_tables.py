"""A model card's metrics as tables people read (no torch): a summary section becomes metric/value rows, a per-class
section a class x metric table; text notes (`figures_from`) say where each section's figures come from."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

NAMES = {
    "images": "images", "rejected": "images rejected", "accuracy": "accuracy (exact class set)",
    "macro_precision": "precision (mean over classes)", "macro_recall": "recall (mean over classes)",
    "macro_f1": "F1 (mean over classes)", "macro_roc_auc": "ROC AUC (mean over classes)",
    "macro_pr_auc": "PR AUC (mean over classes)", "macro_dice": "Dice (mean over classes)",
    "macro_iou": "IoU (mean over classes)", "macro_dice_positive": "Dice on images with the class",
    "defective_accuracy": "defective vs clean accuracy", "top1_accuracy": "top-1 accuracy",
    "dice_positive": "Dice on images with the class", "validation_images_with_class": "validation images with it",
    "pixel_threshold": "pixel threshold", "min_area": "min area (px)", "f1": "F1", "recall": "recall",
}


def metric_name(key: str) -> str:
    return NAMES.get(key, key.replace("_", " "))


@dataclass(frozen=True)
class MetricSection:
    name: str  # validation, holdout, tuning, ...
    kind: str  # summary | per_class
    table: pd.DataFrame  # summary: metric, value, is_ratio; per_class: class + one column per metric
    note: str = ""  # where the figures come from


def _is_ratio(key: str, value: object) -> bool:
    """Scores in [0, 1] (drawn as bars); counts, thresholds and areas are not scores."""
    return (isinstance(value, float) and 0.0 <= value <= 1.0
            and key not in ("threshold", "pixel_threshold", "min_area", "images", "rejected"))


def metric_sections(metrics: dict) -> list[MetricSection]:
    """Every section of `card.metrics`, in the card's order; unknown shapes are kept as key/value text rows."""
    notes = metrics.get("figures_from", {}) if isinstance(metrics.get("figures_from"), dict) else {}
    sections = []
    for name, content in metrics.items():
        if name == "figures_from":
            continue
        note = str(notes.get(name, ""))
        if isinstance(content, dict) and content and all(isinstance(v, dict) for v in content.values()):
            # Nested values (a class's recall / false-alarm curve) are data for the threshold targets, not cells.
            flat = {k: {m: v for m, v in row.items() if not isinstance(v, dict | list)} for k, row in content.items()}
            table = pd.DataFrame.from_dict(flat, orient="index")
            table = table.rename_axis("class").reset_index()
            sections.append(MetricSection(name, "per_class", table, note))
        elif isinstance(content, dict):
            rows = [(metric_name(k), v, _is_ratio(k, v)) for k, v in content.items()]
            sections.append(MetricSection(name, "summary", pd.DataFrame(rows, columns=["metric", "value", "is_ratio"]),
                                          note))
        else:
            table = pd.DataFrame([(name, content, False)], columns=["metric", "value", "is_ratio"])
            sections.append(MetricSection(name, "summary", table, note))
    return sections
