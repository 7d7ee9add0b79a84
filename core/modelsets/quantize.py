"""INT8 by NNCF post-training quantisation of the OpenVINO export, written only if it passes the gate.

Calibration runs on the set's own training images (the split its card records); the gate compares
the INT8 engine with the torch fp32 engine on the set's validation images, through the same
post-processing the app uses. The INT8 export is written only when, on those images,

- class calls (after thresholds and the minimum-area rule) agree on >= 99% of images,
- accuracy and macro F1 drop by <= 0.3 points each, and
- macro Dice drops by <= 0.01;

otherwise nothing is written, the command says which limit failed, and the set keeps running fp32.
"""

from __future__ import annotations

import contextlib
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from core.contract.errors import SteelScanError
from core.datasets import Dataset, open_dataset
from core.imaging.imageio import load_image
from core.modelsets.export import EXPORTS_DIR, FEATURES, check_current, export_model_set, verify_export
from core.modelsets.modelset import ModelCard, ModelSet, load_model_set, read_card
from core.modelsets.preprocess import Normaliser

GATE = {"min_agreement": 0.99, "max_accuracy_drop": 0.003, "max_macro_f1_drop": 0.003, "max_dice_drop": 0.01}
KEY = "openvino-int8"


@dataclass
class QuantizeResult:
    written: bool
    gate: dict  # the validation figures the gate decided on
    failures: list[str]
    reports: dict = field(default_factory=dict)  # the same figures on other splits (e.g. the hold-out), not gated
    calibration: dict = field(default_factory=dict)


def compare(reference: dict, candidate: dict) -> dict:
    """Gate figures from two evaluate_indices(..., keep_scores=True) results on the same images."""
    ref, cand = reference["summary"], candidate["summary"]
    same = np.all(reference["scores"]["y_pred"] == candidate["scores"]["y_pred"], axis=1)
    return {
        "images": ref["images"],
        "agreement": round(float(same.mean()), 4),
        "disagreeing_images": int((~same).sum()),
        "accuracy_fp32": ref["accuracy"], "accuracy_int8": cand["accuracy"],
        "accuracy_drop": round(ref["accuracy"] - cand["accuracy"], 4),
        "macro_f1_fp32": ref["macro_f1"], "macro_f1_int8": cand["macro_f1"],
        "macro_f1_drop": round(ref["macro_f1"] - cand["macro_f1"], 4),
        "macro_dice_fp32": ref["macro_dice"], "macro_dice_int8": cand["macro_dice"],
        "dice_drop": round(ref["macro_dice"] - cand["macro_dice"], 4),
    }


def gate_failures(figures: dict, limits: dict = GATE) -> list[str]:
    failures = []
    if figures["agreement"] < limits["min_agreement"]:
        failures.append(f"class calls agree with fp32 on {figures['agreement']:.1%} of images "
                        f"({figures['disagreeing_images']} differ; needs >= {limits['min_agreement']:.0%})")
    for name, label in (("accuracy", "accuracy"), ("macro_f1", "macro F1")):
        drop, limit = figures[f"{name}_drop"], limits[f"max_{name}_drop"]
        if drop > limit:
            failures.append(f"{label} drops by {drop * 100:.2f} points (allowed {limit * 100:g})")
    if figures["dice_drop"] > limits["max_dice_drop"]:
        failures.append(f"macro Dice drops by {figures['dice_drop']:.4f} (allowed {limits['max_dice_drop']:g})")
    return failures


def own_split(dataset: Dataset, card: ModelCard, part: str) -> tuple[list[int], str]:
    """The indices of `part` (train / val / holdout) of the split the card records, when `dataset` is the
    set's own data; otherwise every image. Also says which was used."""
    from core.training.data import split_dataset

    training = card.training
    sizes = training.get("split_sizes", {})
    if "val_fraction" in training and sum(sizes.values()) == len(dataset.samples):
        parts = split_dataset(dataset, training["val_fraction"], training.get("holdout_fraction", 0.0),
                              training.get("split_seed", 0),
                              reserved_holdout=training.get("holdout") == "reserved")
        chosen = list(getattr(parts, part))
        if chosen:
            return chosen, f"{part} split recorded in the card"
    return list(range(len(dataset.samples))), "all images (not the card's own data, or no split recorded)"


def evenly(indices: list[int], count: int) -> list[int]:
    if count >= len(indices):
        return indices
    return [indices[int(i * len(indices) / count)] for i in range(count)]


def network_input(normaliser: Normaliser, pixels: np.ndarray) -> np.ndarray:
    """One image as the engine feeds it: (1, 3, H, W) float32, normalised like core.engine.inference."""
    x = torch.from_numpy(np.array(pixels)).permute(2, 0, 1)[None].float()  # a writable copy
    return np.ascontiguousarray(normaliser(x).numpy())


def calibrate(model_set: ModelSet, fp32_paths: dict[str, Path], dataset: Dataset, indices: list[int],
              out: Path) -> None:
    """NNCF post-training quantisation of both graphs, each on the inputs it sees in the engine."""
    import nncf
    import openvino as ov

    core = ov.Core()
    normaliser = Normaliser.from_card(model_set.card)

    def image_input(index: int) -> np.ndarray:
        return network_input(normaliser, load_image(dataset.samples[index].image_path).pixels)

    classifier_fp32 = core.compile_model(str(fp32_paths["classifier"]), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})

    def decoder_inputs(index: int) -> dict[str, np.ndarray]:
        x = image_input(index)
        if not model_set.card.shared_encoder:
            pad_h, pad_w = (-x.shape[2]) % 32, (-x.shape[3]) % 32
            return {"x": F.pad(torch.from_numpy(x), (0, pad_w, 0, pad_h), mode="reflect").numpy()}
        outputs = classifier_fp32.create_infer_request().infer({"x": x})
        features = [outputs[port] for port in classifier_fp32.outputs][1:]
        return {"x": x, **dict(zip(FEATURES, features, strict=True))}

    out.mkdir(parents=True, exist_ok=True)
    transforms: dict[str, Callable] = {"classifier": lambda i: {"x": image_input(i)}, "segmenter": decoder_inputs}
    for part, transform in transforms.items():
        model = core.read_model(str(fp32_paths[part]))
        # NNCF draws its progress bars on stdout, which belongs to the command's JSON report.
        with contextlib.redirect_stdout(sys.stderr):
            quantized = nncf.quantize(model, nncf.Dataset(indices, transform), subset_size=len(indices))
        ov.save_model(quantized, out / f"{part}.xml", compress_to_fp16=False)


def quantize_model_set(folder: str | Path, calibration: str | Path, validation: str | Path | None = None,
                       samples: int = 64, report_splits: tuple[str, ...] = (), batch_size: int | str = 4,
                       log: Callable[[str], None] = print, limits: dict = GATE) -> QuantizeResult:
    from core.engine.backends.openvino_backend import OpenVinoBackend
    from core.engine.inference import Inspector
    from core.evaluation.evaluate import evaluate_indices

    folder = Path(folder)
    if "openvino-fp32" not in read_card(folder).exports:
        log("no OpenVINO fp32 export yet: exporting it first")
        export_model_set(folder, ("openvino",))
    model_set = load_model_set(folder, "cpu")
    card = model_set.card
    fp32_paths = verify_export(folder, card, "openvino-fp32")
    check_current(folder, card, "openvino-fp32")
    calibration_data = _open_matching(calibration, card)
    validation_data = calibration_data if validation is None else _open_matching(validation, card)
    calibration_indices, calibration_source = own_split(calibration_data, card, "train")
    calibration_indices = evenly(calibration_indices, samples)
    validation_indices, validation_source = own_split(validation_data, card, "val")
    log(f"calibrating on {len(calibration_indices)} images of {calibration} ({calibration_source})")
    staging = folder / EXPORTS_DIR / f".staging-{KEY}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        calibrate(model_set, fp32_paths, calibration_data, calibration_indices, staging)
        reference = Inspector(model_set, torch.device("cpu"), batch_size, precision="fp32", backend="torch")
        int8 = OpenVinoBackend({p: staging / f"{p}.xml" for p in ("classifier", "segmenter")}, card.shared_encoder,
                               "int8")
        candidate = Inspector(model_set, torch.device("cpu"), batch_size, precision="fp32", backend=int8)

        def figures(indices: list[int]) -> dict:
            return compare(evaluate_indices(reference, validation_data, indices, keep_scores=True),
                           evaluate_indices(candidate, validation_data, indices, keep_scores=True))

        log(f"gate: INT8 vs torch fp32 on {len(validation_indices)} images of {validation_data.root} "
            f"({validation_source})")
        gate = {**figures(validation_indices), "images_from": validation_source}
        reports = {}
        for split in report_splits:
            indices, source = own_split(validation_data, card, split)
            log(f"report: INT8 vs torch fp32 on {len(indices)} images ({source})")
            reports[split] = {**figures(indices), "images_from": source}
        failures = gate_failures(gate, limits)
        calibration_info = {"data": str(calibration), "data_fingerprint": calibration_data.fingerprint(),
                            "images": len(calibration_indices), "images_from": calibration_source}
        result = QuantizeResult(not failures, gate, failures, reports, calibration_info)
        if not failures:
            from core.modelsets.export import record_export

            record_export(folder, KEY, staging, weights=card.fingerprint, calibration=calibration_info,
                          gate={"limits": limits, "validation": gate, **reports})
            if card.domain:  # INT8 features score higher than fp32's: the export gets a domain of its own
                from core.engine.domain import fit_domain

                train_indices, train_source = own_split(calibration_data, card, "train")
                train_indices = evenly(train_indices, int(card.domain.get("images", len(train_indices))))
                log(f"fitting the INT8 export's own domain on {len(train_indices)} images ({train_source})")
                fit_domain(folder, calibration_data, train_indices, device="cpu", batch_size=batch_size,
                           percentile=float(card.domain.get("percentile", 99.0)), split=train_source,
                           note=card.domain.get("note", ""), backend="openvino", precision="auto")
        return result
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _open_matching(path: str | Path, card: ModelCard) -> Dataset:
    dataset = open_dataset(path)
    if len(dataset.class_names) != len(card.classes) or dataset.task != card.task:
        raise SteelScanError(path, f"is a {dataset.task} dataset of {len(dataset.class_names)} classes, the model "
                             f"set is {card.task} with {len(card.classes)}", "calibrate on the set's own training data")
    return dataset
