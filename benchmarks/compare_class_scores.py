"""Which image score ranks defective vs clean images best: the classifier head's class probabilities, the U-Net's
mask peaks, or a combination of the two, on a whole-image set's validation and hold-out splits.

    python benchmarks/compare_class_scores.py --model-set /tmp/s28/img/model --data ../shared/datasets/magnetic-tile

For each image: the head's probabilities and the pixel probabilities as threshold tuning computes them
(core.training.loops.whole_image_outputs, the card's flips), then per class the head, the mask peak at a 1x1, 3x3
or 5x5 average (core.engine.postprocess.mask_peaks; the engine uses 5x5), and the head combined with the 5x5 peak by
mean, max and geometric mean. An image is scored by its top class. Prints image-level AP, ROC-AUC and the recall
at <= 3% false alarms of each. The engine's `head+mask` (card class_scores) was chosen on the validation rows.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import average_precision_score, roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_holdout import recall_at_false_alarms  # noqa: E402
from core.datasets import open_dataset  # noqa: E402
from core.engine.postprocess import mask_peaks  # noqa: E402
from core.evaluation.evaluate import select_indices  # noqa: E402
from core.modelsets.modelset import load_model_set, read_card  # noqa: E402
from core.modelsets.preprocess import Normaliser  # noqa: E402
from core.training.data import ImageCache  # noqa: E402
from core.training.loops import whole_image_outputs  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-set", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True)
    args = parser.parse_args()
    dataset, card = open_dataset(args.data), read_card(args.model_set)
    networks, cache, normaliser = load_model_set(args.model_set, "cpu"), ImageCache(dataset), Normaliser.from_card(card)
    classifier, segmenter = networks.classifier.eval(), networks.segmenter.eval()
    for split in ("val", "holdout"):
        rows: dict[str, list[np.ndarray]] = {}
        defective = []
        for index in select_indices(dataset, split, card.training):
            head, pixels = whole_image_outputs(classifier, segmenter, card.shared_encoder, cache.pixels(index),
                                               normaliser, torch.device("cpu"), dataset.task, False,
                                               card.test_time_flips)
            mask5 = mask_peaks(pixels)  # what the engine's head+mask rule uses
            for name, scores in (("head", head), ("mask 1x1", mask_peaks(pixels, 1)),
                                 ("mask 3x3", mask_peaks(pixels, 3)),
                                 ("mask 5x5", mask5), ("mean(head, mask 5x5)", (head + mask5) / 2),
                                 ("max(head, mask 5x5)", np.maximum(head, mask5)),
                                 ("geometric mean(head, mask 5x5)", np.sqrt(head * mask5))):
                rows.setdefault(name, []).append(scores)
            defective.append(bool(dataset.samples[index].labels))
        y = np.array(defective)
        for name, scores in rows.items():
            top = np.stack(scores).max(1)
            print(f"{split:8s} {name:32s} AP {average_precision_score(y, top):.3f}  ROC-AUC {roc_auc_score(y, top):.3f}"
                  f"  recall at <= 3% false alarms {recall_at_false_alarms(y, top):.3f}")


if __name__ == "__main__":
    main()
