"""Measure a model set on a labelled dataset, through the same engine the app uses.

    python -m core.evaluate --model-set models/neu-det --data ../shared/datasets/NEU-DET --split holdout
    python -m core.evaluate --model-set severstal-synthetic --data data/synthetic-test

Writes metrics.json and report.html (PNG plots beside it): accuracy, precision/recall/F1 (macro
and per class), ROC-AUC and PR-AUC, the confusion matrix, Dice and IoU per class, the most
confident mistakes, and a glare check (the same metrics on brightened and darkened copies).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from core.contract.errors import ImageError, SteelScanError
from core.datasets import Dataset, open_dataset
from core.engine.inference import Inspector
from core.evaluation.metrics import classification_report, mask_counts, segmentation_report
from core.imaging.imageio import load_image
from core.training.augment import add_glare

Transform = Callable[[np.ndarray], np.ndarray]


def brighten(pixels: np.ndarray) -> np.ndarray:
    return np.clip(pixels.astype(np.float32) * 1.3 + 40, 0, 255).astype(np.uint8)


def darken(pixels: np.ndarray) -> np.ndarray:
    return np.clip(pixels.astype(np.float32) * 0.55, 0, 255).astype(np.uint8)


def glare_spot(pixels: np.ndarray) -> np.ndarray:
    height, width = pixels.shape[:2]
    return add_glare(pixels, (width * 0.4, height * 0.5), (width * 0.25, height * 0.4), 110.0)


CONDITIONS: dict[str, Transform] = {"brightened": brighten, "darkened": darken, "glare_spot": glare_spot}


def evaluate_indices(inspector: Inspector, dataset: Dataset, indices, transform: Transform | None = None,
                     keep_scores: bool = False) -> dict:
    """Run the engine over dataset.samples[indices]; returns 'summary', 'classification',
    'segmentation', 'rejected' and (keep_scores) the per-image arrays for plots and galleries."""
    indices = list(indices)
    card, num_classes = inspector.card, len(dataset.class_names)
    thresholds = np.array([c.threshold for c in card.classes])

    def sources():
        for i in indices:
            path = dataset.samples[i].image_path
            if transform is None:
                yield path
            else:
                try:
                    yield transform(load_image(path).pixels)
                except ImageError:
                    yield path  # let the engine report the unreadable file in order

    truth, probs, preds, counts, kept, rejected = [], [], [], [], [], []
    for i, result in zip(indices, inspector.inspect_many(sources()), strict=True):
        sample = dataset.samples[i]
        if isinstance(result, ImageError):
            rejected.append(str(result))
            continue
        kept.append(i)
        row = np.zeros(num_classes, dtype=np.uint8)
        row[list(sample.labels)] = 1
        truth.append(row)
        probs.append(np.array(result.probabilities))
        preds.append(np.array([name in result.classes_present for name in card.class_names]))
        counts.append(mask_counts(result.masks, sample.masks(result.height, result.width, num_classes)))
    if not kept:
        raise SteelScanError(dataset.root, "no image could be inspected", "check the image files")
    y_true, y_prob, y_pred = np.stack(truth), np.stack(probs), np.stack(preds)
    names = list(card.class_names)
    classification = classification_report(y_true, y_prob, card.task, y_pred, names, thresholds)
    segmentation = segmentation_report(np.stack(counts), names)
    summary = {"images": len(kept), "rejected": len(rejected), "accuracy": classification["accuracy"],
               **{f"macro_{k}": v for k, v in classification["macro"].items()},
               "macro_dice": segmentation["macro"]["dice"], "macro_iou": segmentation["macro"]["iou"],
               "macro_dice_positive": segmentation["macro"]["dice_positive"]}
    for key in ("top1_accuracy", "defective_accuracy"):
        if key in classification:
            summary[key] = classification[key]
    for key in ("ap", "recall", "false_alarm_rate"):  # defective vs clean images (multi-label tasks)
        if "image_level" in classification:
            summary[f"image_{key}"] = classification["image_level"][key]
    summary = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in summary.items()}
    result = {"summary": summary, "classification": classification, "segmentation": segmentation,
              "rejected": rejected}
    if keep_scores:
        result["scores"] = {"indices": kept, "y_true": y_true, "y_prob": y_prob, "y_pred": y_pred,
                            "thresholds": thresholds}
    return result


def confident_mistakes(scores: dict, dataset: Dataset, class_names: list[str], limit: int) -> list[dict]:
    """Images whose call was wrong, most confident first: confidence is how far the deciding
    probability sat from its threshold on the wrong side."""
    y_true, y_prob, y_pred, thresholds = (scores[k] for k in ("y_true", "y_prob", "y_pred", "thresholds"))
    rows = []
    for row, index in enumerate(scores["indices"]):
        wrong = np.flatnonzero(y_true[row].astype(bool) != y_pred[row])
        if not len(wrong):
            continue
        confidence = float(np.max(np.abs(y_prob[row, wrong] - thresholds[wrong])))
        rows.append({"image": str(dataset.samples[index].image_path), "index": int(index),
                     "true": [class_names[k] for k in np.flatnonzero(y_true[row])] or ["clean"],
                     "predicted": [class_names[k] for k in np.flatnonzero(y_pred[row])] or ["clean"],
                     "probabilities": {n: round(float(p), 4) for n, p in zip(class_names, y_prob[row], strict=True)},
                     "confidence": round(confidence, 4)})
    return sorted(rows, key=lambda r: -r["confidence"])[:limit]


SPLIT_MEANING = {
    "holdout": "hold-out: images training never touched (not used for early stopping or threshold tuning)",
    "val": "validation: used for early stopping and threshold tuning, so these figures are optimistic; "
           "quote the hold-out",
    "all-training": "all images of the model set's own training data: figures include images it was trained on",
    "all-fresh": "all images of data other than the model set's training data: never touched by training",
}


def figures_source(split: str, same_data: bool) -> str:
    """Says in words where an evaluation's figures come from (recorded in metrics.json and the report)."""
    if split == "all":
        return SPLIT_MEANING["all-training" if same_data else "all-fresh"]
    return SPLIT_MEANING[split]


def select_indices(dataset: Dataset, split: str, card_training: dict) -> list[int]:
    if split == "all":
        return list(range(len(dataset.samples)))
    from core.training.data import split_dataset

    if "val_fraction" not in card_training:
        raise SteelScanError("model card", f"records no training split, so --split {split} cannot be rebuilt",
                             "use --split all on data the model never saw")
    parts = split_dataset(dataset, card_training["val_fraction"], card_training.get("holdout_fraction", 0.0),
                          card_training.get("split_seed", 0),
                          reserved_holdout=card_training.get("holdout") == "reserved")
    chosen = list(getattr(parts, split))
    if not chosen:
        raise SteelScanError("model card", f"the {split} split of this dataset is empty",
                             "train with --holdout-fraction > 0, or use --split all")
    return chosen


def run(args: argparse.Namespace) -> dict:
    from core.cli.predict import resolve_model_set
    from core.contract.settings import load_settings

    folder = resolve_model_set(args.model_set, load_settings().models_dir)
    dataset = open_dataset(args.data)
    inspector = Inspector.load(folder, args.device, batch_size=args.batch_size)
    card = inspector.card
    if len(dataset.class_names) != len(card.classes):
        raise SteelScanError(args.data, f"has {len(dataset.class_names)} classes, the model set {len(card.classes)}",
                             "evaluate on data labelled with the model set's classes")
    if dataset.task != card.task:
        raise SteelScanError(args.data, f"is a {dataset.task} dataset, the model set is {card.task}",
                             "evaluate on data of the same kind")
    if args.data_fingerprint_check and dataset.fingerprint() == card.data_fingerprint and args.split == "all":
        print("warning: this is the model set's own training data; use --split holdout or fresh data",
              file=sys.stderr)
    indices = select_indices(dataset, args.split, card.training)
    if args.limit and args.limit < len(indices):
        # Evenly spaced, so a limited run still sees every class of a class-sorted folder.
        indices = [indices[int(i * len(indices) / args.limit)] for i in range(args.limit)]
    print(f"evaluating {card.fingerprint} on {len(indices)} images of {dataset.root} ({args.split})", file=sys.stderr)
    base = evaluate_indices(inspector, dataset, indices, keep_scores=True)
    robustness = {}
    if not args.no_glare:
        glare_indices = indices[: args.glare_limit] if args.glare_limit else indices
        reference = base if len(glare_indices) == len(indices) else evaluate_indices(inspector, dataset, glare_indices)
        for name, transform in CONDITIONS.items():
            print(f"glare check: {name}", file=sys.stderr)
            variant = evaluate_indices(inspector, dataset, glare_indices, transform)["summary"]
            robustness[name] = {"summary": variant, "drop": {
                k: round(reference["summary"][k] - v, 4) for k, v in variant.items()
                if isinstance(v, float) and isinstance(reference["summary"].get(k), float)}}
        robustness["reference"] = reference["summary"]
    scores = base.pop("scores")
    report = {"model_set": card.name, "model_version": card.version, "model_fingerprint": card.fingerprint,
              "data": str(args.data), "data_fingerprint": dataset.fingerprint(), "split": args.split,
              "figures_from": figures_source(args.split, dataset.fingerprint() == card.data_fingerprint),
              "indices_evaluated": len(indices), **base, "glare_robustness": robustness,
              "confident_mistakes": confident_mistakes(scores, dataset, list(card.class_names), args.gallery)}
    out = args.out or Path("reports") / f"{card.name}__{Path(args.data).name}__{args.split}"
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(report, indent=2) + "\n")
    from core.evaluation.report import write_html_report

    write_html_report(out, report, scores, inspector, dataset)
    print(json.dumps(base["summary"]))
    print(f"wrote {out / 'metrics.json'} and {out / 'report.html'}", file=sys.stderr)
    return report
