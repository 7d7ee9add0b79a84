"""Pure metric functions (scikit-learn underneath): classification and mask scores.

Inputs are plain arrays: y_true (N, K) 0/1, y_prob (N, K) probabilities, y_pred (N, K) bool. For
single-label tasks each row of y_true has one 1 and y_pred at most one (none = nothing called).
Nothing here mutates its inputs.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import (
    average_precision_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
    roc_auc_score,
)


def default_predictions(y_prob: np.ndarray, task: str, thresholds: np.ndarray | None = None) -> np.ndarray:
    """The engine's call rule: argmax above its threshold (single-label), else each class over its own."""
    y_prob = np.asarray(y_prob, dtype=float)
    thresholds = np.full(y_prob.shape[1], 0.5) if thresholds is None else np.asarray(thresholds, dtype=float)
    if task == "single-label":
        top = y_prob.argmax(1)
        pred = np.zeros(y_prob.shape, dtype=bool)
        rows = np.arange(len(y_prob))
        pred[rows, top] = y_prob[rows, top] >= thresholds[top]
        return pred
    return y_prob >= thresholds


def _auc(fn, truth: np.ndarray, score: np.ndarray) -> float | None:
    """None when the class is all-positive or all-negative here (the score is undefined)."""
    if truth.min() == truth.max():
        return None
    return float(fn(truth, score))


def _mean(values) -> float | None:
    kept = [v for v in values if v is not None]
    return float(np.mean(kept)) if kept else None


def single_label_indices(y: np.ndarray) -> np.ndarray:
    """Row -> class index, or K for a row with nothing called."""
    y = np.asarray(y, dtype=bool)
    return np.where(y.any(1), y.argmax(1), y.shape[1])


def per_class_binary(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, ...]:
    """Precision, recall, F1, support and [[tn, fp], [fn, tp]] of each column as its own yes/no question.

    Done column by column on purpose: handed an (N, 1) array, scikit-learn takes it for a binary
    target with labels 0/1, and labels=[0] then scores the *clean* images under the defect's name."""
    columns = y_true.shape[1]
    scores = np.zeros((4, columns))
    matrices = []
    for k in range(columns):
        truth, called = y_true[:, k].astype(int), y_pred[:, k].astype(int)
        p, r, f, _ = precision_recall_fscore_support(truth, called, average="binary", pos_label=1, zero_division=0)
        scores[:, k] = p, r, f, truth.sum()
        matrices.append(confusion_matrix(truth, called, labels=[0, 1]))
    return scores[0], scores[1], scores[2], scores[3].astype(int), matrices


def image_level(defective_true: np.ndarray, defect_score: np.ndarray, defective_pred: np.ndarray) -> dict:
    """Defective vs clean images: AP and ROC-AUC of the defect score, and what the calls at the
    chosen thresholds do: recall of defective images, false-alarm rate on clean ones, precision."""
    truth, called = np.asarray(defective_true, bool), np.asarray(defective_pred, bool)
    tp, fp = int((truth & called).sum()), int((~truth & called).sum())
    positives, negatives = int(truth.sum()), int((~truth).sum())
    return {
        "defective_images": positives, "clean_images": negatives,
        "ap": _auc(average_precision_score, truth.astype(int), defect_score),
        "roc_auc": _auc(roc_auc_score, truth.astype(int), defect_score),
        "recall": tp / positives if positives else None,
        "false_alarm_rate": fp / negatives if negatives else None,
        "precision": tp / (tp + fp) if tp + fp else None,
    }


def classification_report(y_true, y_prob, task: str, y_pred=None, class_names: list[str] | None = None,
                          thresholds=None) -> dict:
    """Per-class and macro scores; per class also AP and the recall / false-alarm rate at the chosen
    thresholds (`thresholds`, default 0.5, are only recorded and used for the image-level score)."""
    y_true = np.asarray(y_true).astype(int)
    y_prob = np.asarray(y_prob, dtype=float)
    count, classes = y_true.shape
    thresholds = np.full(classes, 0.5) if thresholds is None else np.asarray(thresholds, dtype=float)
    y_pred = default_predictions(y_prob, task, thresholds) if y_pred is None else np.asarray(y_pred, dtype=bool)
    names = list(class_names or [str(k) for k in range(classes)])
    if task == "multi-label":
        precision, recall, f1, support, matrices = per_class_binary(y_true, y_pred)
    else:
        precision, recall, f1, support = precision_recall_fscore_support(
            single_label_indices(y_true), single_label_indices(y_pred), labels=list(range(classes)),
            average=None, zero_division=0)
        matrices = [confusion_matrix(y_true[:, k], y_pred[:, k].astype(int), labels=[0, 1]) for k in range(classes)]
    per_class = {}
    called_count = y_pred.sum(0)
    for k, name in enumerate(names):
        # A class neither present nor called has no precision, recall or F1: None, left out of macro means.
        defined = bool(support[k] or called_count[k])
        (tn, fp), _ = matrices[k]
        per_class[name] = {
            "precision": float(precision[k]) if defined else None, "recall": float(recall[k]) if defined else None,
            "f1": float(f1[k]) if defined else None,
            "support": int(support[k]),
            "threshold": float(thresholds[k]),
            "false_alarm_rate": float(fp / (tn + fp)) if tn + fp else None,
            "roc_auc": _auc(roc_auc_score, y_true[:, k], y_prob[:, k]),
            "pr_auc": _auc(average_precision_score, y_true[:, k], y_prob[:, k]),  # = average precision (AP)
        }
    macro = {m: _mean(per_class[n][m] for n in names) for m in ("precision", "recall", "f1", "roc_auc", "pr_auc")}
    report = {"count": int(count), "task": task, "per_class": per_class, "macro": macro}
    if task == "single-label":
        truth, called = single_label_indices(y_true), single_label_indices(y_pred)
        report["accuracy"] = float(np.mean(truth == called)) if count else None
        report["top1_accuracy"] = float(np.mean(truth == y_prob.argmax(1))) if count else None
        # The last row/column is "nothing called" (every probability under its threshold).
        report["confusion_matrix"] = confusion_matrix(truth, called, labels=list(range(classes + 1))).tolist()
        report["confusion_labels"] = names + ["(none)"]
    else:
        report["accuracy"] = float(np.mean((y_true == y_pred).all(1))) if count else None  # exact match
        defective_true, defective_pred = y_true.any(1), y_pred.any(1)
        report["defective_accuracy"] = float(np.mean(defective_true == defective_pred)) if count else None
        report["confusion_matrix"] = confusion_matrix(defective_true, defective_pred, labels=[False, True]).tolist()
        report["confusion_labels"] = ["clean", "defective"]
        report["per_class_confusion"] = {name: m.tolist() for name, m in zip(names, matrices, strict=True)}
        # An image's defect score: its strongest class relative to that class's threshold, so
        # ranking by it agrees with the call rule (some class at or over its own threshold).
        score = (y_prob / np.maximum(thresholds, 1e-6)).max(1)
        report["image_level"] = image_level(defective_true, score, defective_pred)
    return report


def mask_counts(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """(K, 3) per class: |pred & truth|, |pred|, |truth| for (K, H, W) masks."""
    pred = np.asarray(pred, dtype=bool).reshape(len(pred), -1)
    truth = np.asarray(truth, dtype=bool).reshape(len(truth), -1)
    return np.stack([(pred & truth).sum(1), pred.sum(1), truth.sum(1)], axis=1).astype(np.int64)


def dice(intersection, pred_sum, truth_sum) -> np.ndarray:
    """2|A∩B| / (|A|+|B|), and 1 where both masks are empty (nothing to find, nothing found)."""
    intersection, total = np.asarray(intersection, float), np.asarray(pred_sum, float) + np.asarray(truth_sum, float)
    return np.where(total > 0, 2 * intersection / np.maximum(total, 1), 1.0)


def iou(intersection, pred_sum, truth_sum) -> np.ndarray:
    intersection = np.asarray(intersection, float)
    union = np.asarray(pred_sum, float) + np.asarray(truth_sum, float) - intersection
    return np.where(union > 0, intersection / np.maximum(union, 1), 1.0)


def segmentation_report(counts: np.ndarray, class_names: list[str]) -> dict:
    """Per-class Dice and IoU from (N, K, 3) mask counts.

    `dice`/`iou`: mean over every image (an empty mask correctly left empty scores 1, the
    Severstal convention). `dice_positive`/`iou_positive`: mean over images that hold the class,
    i.e. how well the defect's outline is found."""
    counts = np.asarray(counts)
    per_class = {}
    for k, name in enumerate(class_names):
        inter, pred, truth = counts[:, k, 0], counts[:, k, 1], counts[:, k, 2]
        d, j = dice(inter, pred, truth), iou(inter, pred, truth)
        positive = truth > 0
        per_class[name] = {
            "dice": float(d.mean()) if len(d) else None,
            "iou": float(j.mean()) if len(j) else None,
            "dice_positive": float(d[positive].mean()) if positive.any() else None,
            "iou_positive": float(j[positive].mean()) if positive.any() else None,
            "images_with_class": int(positive.sum()),
        }
    macro = {m: _mean(per_class[n][m] for n in class_names) for m in ("dice", "iou", "dice_positive", "iou_positive")}
    return {"per_class": per_class, "macro": macro}


def f1_score_binary(truth: np.ndarray, pred: np.ndarray) -> float:
    """scikit-learn's F1; no positives and no calls counts as perfect (the tuner's empty-class case)."""
    return float(f1_score(np.asarray(truth, bool), np.asarray(pred, bool), zero_division=1.0))
