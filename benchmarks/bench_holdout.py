"""Image-level figures of a model set on the split its card says training never saw.

    python benchmarks/bench_holdout.py --model-set /tmp/mt-runs/all/model --data /tmp/mt-masks [--split holdout]

Runs the engine (core.engine.inference.Inspector) over the split rebuilt from the card
(core.evaluation.evaluate.select_indices) and prints, for "defective (any class)" vs clean:
- image-level AP and ROC-AUC, scored by the top class probability (sklearn);
- recall of defective images at <= 3% false alarms: the best recall any score threshold reaches
  with at most 3% of the clean images called defective (an operating point read off this split's
  own ROC curve, so an upper bound for a threshold fixed beforehand);
- recall and false alarms of the engine's own decision (the card's tuned thresholds + min areas);
- Dice on defective images: the engine's masks (all classes merged) against the true masks, per
  image, averaged; an image the engine calls clean has no mask and scores 0;
- the same Dice of the U-Net's masks without the class calls' gate (each class at its tuned pixel
  threshold), averaged per class over the defective images showing it;
- the Dice of each true class's own mask channel alone (ungated, at its pixel threshold): how well the U-Net
  outlines a defect when the right class is called, apart from what other classes' channels add;
- image-level AP and ROC-AUC scored by the masks instead: each image's strongest pixel probability of
  the U-Net run on every image (no gating), 5x5-averaged so one hot pixel does not decide.
Written because `steelscan evaluate` on this branch reports per-class figures but no image-level AP.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.datasets import open_dataset  # noqa: E402
from core.engine.inference import Inspector  # noqa: E402
from core.engine.postprocess import mask_peaks  # noqa: E402
from core.evaluation.evaluate import select_indices  # noqa: E402
from core.imaging.imageio import load_image  # noqa: E402
from core.modelsets.modelset import read_card  # noqa: E402
from core.modelsets.preprocess import Normaliser  # noqa: E402
from core.training.loops import whole_image_outputs  # noqa: E402

MAX_FALSE_ALARMS = 0.03


def recall_at_false_alarms(defective: np.ndarray, scores: np.ndarray, limit: float = MAX_FALSE_ALARMS) -> float:
    fpr, tpr, _ = roc_curve(defective, scores)
    return float(tpr[fpr <= limit + 1e-12].max())


def dice_merged(predicted: np.ndarray, truth: np.ndarray) -> float:
    pred, true = predicted.any(0), truth.any(0)
    total = pred.sum() + true.sum()
    return 1.0 if total == 0 else float(2 * (pred & true).sum() / total)


def measure(model_set: Path, data: Path, split: str) -> dict:
    dataset = open_dataset(data)
    card = read_card(model_set)
    indices = select_indices(dataset, split, card.training)
    inspector = Inspector.load(model_set, "cpu", batch_size=1)
    paths = [dataset.samples[i].image_path for i in indices]
    scores, called, dices, defective, mask_scores = [], [], [], [], []
    networks = inspector.model_set
    normaliser = Normaliser.from_card(card)
    pixel_thresholds = np.array([c.pixel_threshold for c in card.classes]).reshape(-1, 1, 1)
    ungated: dict[str, list[float]] = {}  # class -> ungated Dice of each defective image showing it
    own: dict[str, list[float]] = {}  # class -> Dice of that class's own channel on the images showing it
    for index, verdict in zip(indices, inspector.inspect_many(paths), strict=True):
        sample = dataset.samples[index]
        scores.append(max(verdict.probabilities))
        _, pixel_probs = whole_image_outputs(networks.classifier, networks.segmenter, card.shared_encoder,
                                             load_image(sample.image_path).pixels, normaliser, torch.device("cpu"),
                                             card.task, amp=False, flips=card.test_time_flips)
        if sample.labels:  # the U-Net's own masks, not gated by the class calls: does the gate cost Dice?
            truth = sample.masks(verdict.height, verdict.width, len(dataset.class_names))
            dice = dice_merged(pixel_probs > pixel_thresholds, truth)
            for label in sample.labels:
                ungated.setdefault(dataset.class_names[label], []).append(dice)
                channel = slice(label, label + 1)
                own.setdefault(dataset.class_names[label], []).append(
                    dice_merged(pixel_probs[channel] > pixel_thresholds[channel], truth[channel]))
        mask_scores.append(float(mask_peaks(pixel_probs).max()))  # the engine's own 5x5 mask peak
        called.append(verdict.defective)
        defective.append(bool(sample.labels))
        if sample.labels:
            truth = sample.masks(verdict.height, verdict.width, len(dataset.class_names))
            dices.append(dice_merged(verdict.masks, truth))
    y, s, c = np.array(defective), np.array(scores), np.array(called)
    return {
        "model_set": str(model_set), "split": split, "images": len(indices), "defective": int(y.sum()),
        "clean": int((~y).sum()),
        "image_ap": round(float(average_precision_score(y, s)), 4),
        "image_roc_auc": round(float(roc_auc_score(y, s)), 4),
        "recall_at_3pct_false_alarms": round(recall_at_false_alarms(y, s), 4),
        "engine_recall": round(float(c[y].mean()), 4), "engine_false_alarm_rate": round(float(c[~y].mean()), 4),
        "dice_defective_images": round(float(np.mean(dices)), 4),
        "dice_ungated_by_class": {name: round(float(np.mean(v)), 3) for name, v in sorted(ungated.items())},
        "dice_own_channel_by_class": {name: round(float(np.mean(v)), 3) for name, v in sorted(own.items())},
        "image_ap_by_mask": round(float(average_precision_score(y, mask_scores)), 4),
        "image_roc_auc_by_mask": round(float(roc_auc_score(y, mask_scores)), 4),
        "recall_at_3pct_false_alarms_by_mask": round(recall_at_false_alarms(y, np.array(mask_scores)), 4),
        "trainer": card.training.get("trainer"), "arch": card.classifier_architecture,
        "train_images": card.training.get("split_sizes", {}).get("train"),
        "train_defective_limit": card.training.get("train_defective_limit"),
        "training_minutes": round(card.training.get("durations_s", {}).get("total", 0) / 60, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-set", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--split", default="holdout", choices=["holdout", "val", "all"])
    args = parser.parse_args()
    print(json.dumps(measure(args.model_set, args.data, args.split), indent=2))


if __name__ == "__main__":
    main()
