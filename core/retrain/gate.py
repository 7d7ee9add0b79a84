"""The gate before a new model set goes live: candidate and active set on the same evaluation sheets, labelled by
the inspectors' final decisions, scored with core.evaluation.metrics, and a plain recommendation.

Dice is computed only on sheets whose every present class has a mask (a class an inspector added without painting
it has no outline to compare with); classification uses every evaluation sheet.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np

from core.contract.errors import ImageError
from core.engine.inference import Inspector
from core.evaluation.metrics import classification_report, mask_counts, segmentation_report
from core.imaging.rle import rle_decode
from core.retrain.paired import Difference, SetScores, paired_differences, paired_recommendation
from core.retrain.parts import ReviewData, Sheet

DISAGREEMENTS_SHOWN = 24  # the page shows these side by side; the JSON keeps the count


def _masks(sheet: Sheet, names: tuple[str, ...], height: int, width: int) -> np.ndarray:
    stack = np.zeros((len(names), height, width), dtype=np.uint8)
    for name, rle in sheet.masks_rle.items():
        stack[names.index(name)] = rle_decode(rle, (height, width))
    return stack


def score(inspector: Inspector, sheets: tuple[Sheet, ...], names: tuple[str, ...]) -> tuple[dict, list]:
    """One model on the sheets: its summary, per-class scores and each sheet's called classes (None where the
    image could not be read). The summary's "arrays" hold the per-sheet scores the paired comparison resamples."""
    truth, probs, preds, counts, calls, dices = [], [], [], [], [], []
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
        dices.append(float("nan"))
        if not sheet.unmasked:
            true_masks = _masks(sheet, names, result.height, result.width)
            counts.append(mask_counts(result.masks, true_masks))
            if sheet.classes:
                dices[-1] = merged_dice(result.masks, true_masks)
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
        "arrays": SetScores(y_prob, y_pred, np.array(dices)),
    }
    return summary, calls


def merged_dice(predicted: np.ndarray, truth: np.ndarray) -> float:
    """Dice of all classes' masks merged: where the defects are, whatever their class."""
    pred, true = predicted.any(0), truth.any(0)
    total = int(pred.sum() + true.sum())
    return 1.0 if total == 0 else float(2 * (pred & true).sum() / total)


def _round(value):
    return round(float(value), 4) if value is not None else None


def compare(candidate: Path, active: Path | None, data: ReviewData, device: str = "cpu") -> dict:
    """The gate's report: both models' scores, the sheets where they disagree, and the recommendation."""
    sheets = data.part("eval")
    names = data.class_names
    if not sheets:
        return {"sheets": 0, "candidate": None, "active": None, "disagreements": [], "disagreement_count": 0,
                "recommend": "no-verdict", "reason": "no evaluation sheets yet: review more sheets, then train again"}
    cand = Inspector.load(candidate, device)  # as it would run: its fastest export that passed its own gate
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
    compared = paired(sheets, names, cand_summary, act_summary, cand_calls, act_calls)
    critical = tuple(cand.card.training.get("critical") or ()) if cand.card.training else ()
    recommend, reason = recommendation(cand_summary, act_summary, compared, critical)
    for summary in (cand_summary, act_summary):
        if summary:
            summary.pop("arrays", None)  # per-sheet arrays: resampled here, not stored in the job's JSON
    return {"sheets": len(sheets), "candidate": cand_summary, "active": act_summary, "active_set": active_name,
            "candidate_set": cand.card.name, "disagreement_count": len(disagreements),
            "disagreements": disagreements[:DISAGREEMENTS_SHOWN], "recommend": recommend, "reason": reason,
            "differences": [{**asdict(d), "verdict": d.verdict} for d in (compared[1] if compared else [])]}


def paired(sheets, names, cand_summary, act_summary, cand_calls,
           act_calls) -> tuple[np.ndarray, list[Difference]] | None:
    """(truth, differences): the paired bootstrap on the sheets both sets could read; None when the sets cannot be
    compared."""
    if not cand_summary or not cand_summary.get("sheets") or not act_summary or not act_summary.get("sheets"):
        return None
    both = [i for i, (c, a) in enumerate(zip(cand_calls, act_calls, strict=True)) if c is not None and a is not None]
    read_c = [i for i, c in enumerate(cand_calls) if c is not None]
    read_a = [i for i, a in enumerate(act_calls) if a is not None]
    pick_c = [read_c.index(i) for i in both]
    pick_a = [read_a.index(i) for i in both]
    c, a = cand_summary["arrays"], act_summary["arrays"]
    truth = np.array([[name in sheets[i].classes for name in names] for i in both], dtype=bool)
    return truth, paired_differences(truth, SetScores(c.probs[pick_c], c.calls[pick_c], c.dice[pick_c]),
                                     SetScores(a.probs[pick_a], a.calls[pick_a], a.dice[pick_a]), names)


def recommendation(candidate: dict, active: dict | None, compared: tuple[np.ndarray, list[Difference]] | None = None,
                   critical: tuple[str, ...] = ()) -> tuple[str, str]:
    """'promote', 'keep' or 'cannot-tell', with the reason in one sentence. `compared`: the sheets' truth and the
    paired differences (core.retrain.paired): promote only when better beyond noise on a measure and worse beyond
    noise on none; agreement alone never promotes."""
    if not candidate or not candidate.get("sheets"):
        return "keep", "the candidate could not be scored on any evaluation sheet"
    if active is None:
        return "cannot-tell", "the active set cannot be compared (another class list, or none): judge by the figures"
    if not active.get("trained", True):
        return "promote", "the active set is untrained (random weights): any trained candidate is an improvement"
    if compared is None:
        return "cannot-tell", "the sets could not be scored on the same sheets: judge by the figures"
    truth, differences = compared
    return paired_recommendation(truth, differences, critical)
