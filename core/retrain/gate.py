"""The gate before a new model set goes live: candidate and active set on the same evaluation sheets, labelled by
the inspectors' final decisions, scored with core.evaluation.metrics, and a plain recommendation.

Dice is computed only on sheets whose every present class has a mask (a class an inspector added without painting
it has no outline to compare with); classification uses every evaluation sheet.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.contract.errors import ImageError
from core.engine.inference import Inspector
from core.evaluation.metrics import classification_report, mask_counts, segmentation_report
from core.imaging.rle import rle_decode
from core.retrain.parts import ReviewData, Sheet

DISAGREEMENTS_SHOWN = 24  # the page shows these side by side; the JSON keeps the count


def _masks(sheet: Sheet, names: tuple[str, ...], height: int, width: int) -> np.ndarray:
    stack = np.zeros((len(names), height, width), dtype=np.uint8)
    for name, rle in sheet.masks_rle.items():
        stack[names.index(name)] = rle_decode(rle, (height, width))
    return stack


def score(inspector: Inspector, sheets: tuple[Sheet, ...], names: tuple[str, ...]) -> tuple[dict, list]:
    """One model on the sheets: its summary, per-class scores and each sheet's called classes."""
    truth, probs, preds, counts, calls = [], [], [], [], []
    thresholds = np.array([c.threshold for c in inspector.card.classes])
    results = inspector.inspect_many([s.image_path for s in sheets])
    for sheet, result in zip(sheets, results, strict=True):
        if isinstance(result, ImageError):
            calls.append(None)
            continue
        truth.append([name in sheet.classes for name in names])
        probs.append(result.probabilities)
        preds.append([name in result.classes_present for name in names])
        calls.append(tuple(result.classes_present))
        if not sheet.unmasked:
            counts.append(mask_counts(result.masks, _masks(sheet, names, result.height, result.width)))
    if not truth:
        return {"sheets": 0}, calls
    y_true, y_prob, y_pred = np.array(truth), np.array(probs), np.array(preds)
    report = classification_report(y_true, y_prob, "multi-label", y_pred, list(names), thresholds)
    segmentation = segmentation_report(np.stack(counts), list(names)) if counts else None
    summary = {
        "sheets": len(y_true),
        "agreement": round(float((y_true == y_pred).all(1).mean()), 4),
        "image_ap": _round(report["image_level"]["ap"]),
        "macro_f1": _round(report["macro"]["f1"]),
        "dice": _round(segmentation["macro"]["dice"]) if segmentation else None,
        "dice_positive": _round(segmentation["macro"]["dice_positive"]) if segmentation else None,
        "dice_sheets": len(counts),
        "per_class": {n: {k: _round(v[k]) for k in ("precision", "recall", "f1", "support")}
                      for n, v in report["per_class"].items()},
    }
    return summary, calls


def _round(value):
    return round(float(value), 4) if value is not None else None


def compare(candidate: Path, active: Path | None, data: ReviewData, device: str = "cpu") -> dict:
    """The gate's report: both models' scores, the sheets where they disagree, and the recommendation."""
    sheets = data.part("eval")
    names = data.class_names
    if not sheets:
        return {"sheets": 0, "candidate": None, "active": None, "disagreements": [], "disagreement_count": 0,
                "recommend": "no-verdict", "reason": "no evaluation sheets yet: review more sheets, then train again"}
    cand = Inspector.load(candidate, device, backend="torch")
    cand_summary, cand_calls = score(cand, sheets, names)
    act_summary, act_calls, active_name = None, [None] * len(sheets), None
    if active is not None:
        act = Inspector.load(active, device)
        active_name = act.card.name
        if tuple(act.card.class_names) == tuple(names):
            act_summary, act_calls = score(act, sheets, names)
            act_summary["trained"] = act.card.trained
    disagreements = []
    for sheet, c_call, a_call in zip(sheets, cand_calls, act_calls, strict=True):
        if c_call is None or c_call == a_call:
            continue
        disagreements.append({"sha256": sheet.sha256, "image": str(sheet.image_path), "name": sheet.image_name,
                              "inspector": list(sheet.classes), "candidate": list(c_call),
                              "active": list(a_call) if a_call is not None else None,
                              "candidate_right": set(c_call) == set(sheet.classes),
                              "active_right": a_call is not None and set(a_call) == set(sheet.classes)})
    recommend, reason = recommendation(cand_summary, act_summary)
    return {"sheets": len(sheets), "candidate": cand_summary, "active": act_summary, "active_set": active_name,
            "candidate_set": cand.card.name, "disagreement_count": len(disagreements),
            "disagreements": disagreements[:DISAGREEMENTS_SHOWN], "recommend": recommend, "reason": reason}


def _better(a, b) -> int:
    """1 if a beats b, -1 if it loses, 0 when equal or either is undefined."""
    if a is None or b is None or abs(a - b) < 1e-9:
        return 0
    return 1 if a > b else -1


def recommendation(candidate: dict, active: dict | None) -> tuple[str, str]:
    """'promote' or 'keep', with the reason in one sentence. Agreement with the inspectors decides; image AP and
    Dice break ties. A candidate that agrees less often is never recommended."""
    if not candidate or not candidate.get("sheets"):
        return "keep", "the candidate could not be scored on any evaluation sheet"
    if active is None:
        return "promote", "the active set cannot be compared (another class list, or none): judge by the figures"
    if not active.get("trained", True):
        return "promote", "the active set is untrained (random weights): any trained candidate is an improvement"
    gains = [(k, _better(candidate.get(k), active.get(k))) for k in ("agreement", "image_ap", "dice")]
    first = next(((k, g) for k, g in gains if g), None)
    if first is None:
        return "keep", "the candidate scores the same as the active set on every measure"
    key, gain = first
    said = {"agreement": "agrees with the inspectors", "image_ap": "ranks defective sheets",
            "dice": "outlines defects"}[key]
    if gain > 0:
        return "promote", (f"the candidate {said} better ({candidate[key]:.3f} vs {active[key]:.3f} "
                           f"on {candidate['sheets']} evaluation sheets)")
    return "keep", f"the candidate {said} worse ({candidate[key]:.3f} vs {active[key]:.3f})"
