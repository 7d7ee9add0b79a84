"""Plain tables of one verdict for people: per-class probabilities, regions, and a review history."""

from __future__ import annotations

import pandas as pd

from core.contract.verdict import Verdict
from core.imaging.rle import rle_area


def probability_table(verdict: Verdict) -> pd.DataFrame:
    return pd.DataFrame({
        "class": verdict.class_names,
        "probability": [round(p, 4) for p in verdict.probabilities],
        "threshold": verdict.thresholds,
        "present": [name in verdict.classes_present for name in verdict.class_names],
        "margin": [round(abs(p - t), 4) for p, t in zip(verdict.probabilities, verdict.thresholds, strict=True)],
    })


def regions_to_label(regions, limit: int = 25):
    """The largest regions only: a picture with hundreds of labelled specks tells nobody anything."""
    return tuple(sorted(regions, key=lambda r: -r.area_px)[:limit])


def region_table(verdict: Verdict) -> pd.DataFrame:
    return pd.DataFrame(
        [(r.class_name, r.area_px, f"{r.bbox[0]}–{r.bbox[2]}", f"{r.bbox[1]}–{r.bbox[3]}",
          round(r.mean_probability, 3)) for r in verdict.regions],
        columns=["class", "area (px)", "x", "y", "mean probability"])


def history_table(reviews) -> pd.DataFrame:
    """Review rows of one sheet, oldest first, as an inspector reads them."""
    return pd.DataFrame(
        [(r.decided_at.strftime("%Y-%m-%d %H:%M:%S UTC"), r.reviewer, r.decision,
          ", ".join(r.classes) or "defect-free", mask_summary(r), r.reason) for r in reviews],
        columns=["when", "who", "decision", "label", "masks", "reason"])


def mask_summary(review) -> str:
    """Per present class: painted by the inspector (with its area), the model's, or none yet (needs a mask)."""
    parts = []
    for name in review.classes:
        if name not in review.masks_rle:
            parts.append(f"{name}: none")
        elif review.mask_source(name) == "inspector":
            parts.append(f"{name}: painted ({rle_area(review.masks_rle[name])} px)")
        else:
            parts.append(f"{name}: model")
    return ", ".join(parts)


def verdict_headline(verdict: Verdict) -> str:
    if not verdict.defective:
        return "Clean"
    return "Defective: " + ", ".join(verdict.classes_present)
