"""Export a model set's networks for CPU runtimes: ONNX (ONNX Runtime) and OpenVINO IR, fp32.

INT8 comes from core.modelsets.quantize. Two graphs per set, the engine's own split, so the
backbone still runs once and the segmenter only on strips the classifier calls defective:

- classifier: x -> logits and the feature pyramid (stem, layer1..layer4);
- segmenter, shared encoder: (x, stem, layer1..layer4) -> mask logits (x only gives the output size);
  own encoder: x, padded to multiples of 32 -> mask logits.

Batch, height and width stay dynamic. Files go to <set>/exports/<backend>-<precision>/ and their
sha256 into the card's `exports`; loading checks them like the safetensors weights.
"""

from __future__ import annotations

import shutil
import warnings
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import torch
from torch import nn

from core.contract.errors import ModelSetError
from core.modelsets.modelset import CARD_FILE, ModelCard, ModelSet, sha256_file, verify_files, write_card
from core.modelsets.networks import backbone_features, classifier_head, decode_masks

EXPORTS_DIR = "exports"
FEATURES = ("stem", "layer1", "layer2", "layer3", "layer4")
KEYS = ("onnx-fp32", "openvino-fp32", "openvino-int8")
ONNX_OPSET = 17


def export_key(backend: str, precision: str) -> str:
    return f"{backend}-{precision}"


def graph_paths(folder: Path, key: str) -> dict[str, Path]:
    """The classifier and segmenter graph files of one export (OpenVINO's .bin lies beside its .xml)."""
    suffix = ".onnx" if key.startswith("onnx") else ".xml"
    return {part: folder / EXPORTS_DIR / key / f"{part}{suffix}" for part in ("classifier", "segmenter")}


def how_to_make(key: str, folder: Path) -> str:
    if key.endswith("int8"):
        return f"run `steelscan models quantize {folder} --calibration DATA` (DATA: the set's training data)"
    return f"run `steelscan models export {folder}`"


def verify_export(folder: Path, card: ModelCard, key: str) -> dict[str, Path]:
    """The export's graph paths, after checking every file against the card's sha256."""
    entry = card.exports.get(key)
    if not entry or not entry.get("files"):
        raise ModelSetError(folder / CARD_FILE, f"has no {key} export", how_to_make(key, folder))
    verify_files(folder, entry["files"], how_to_make(key, folder))
    return graph_paths(folder, key)


def record_export(folder: Path, key: str, source: Path, **info) -> ModelCard:
    """Move a finished export from `source` into place and write its hashes into the card."""
    from core.modelsets.modelset import read_card

    target = folder / EXPORTS_DIR / key
    if target.exists():
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(source), str(target))
    files = {str(p.relative_to(folder)): sha256_file(p) for p in sorted(target.iterdir()) if p.is_file()}
    card = read_card(folder)
    entry = {"files": files, "created": datetime.now(UTC).isoformat(timespec="seconds"), **info}
    card = replace(card, exports={**card.exports, key: entry})
    write_card(folder, card)
    return card


class ClassifierGraph(nn.Module):
    """The classifier as the engine runs it: logits plus the pyramid the U-Net decoder reads."""

    def __init__(self, classifier: nn.Module) -> None:
        super().__init__()
        self.classifier = classifier

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        features = backbone_features(self.classifier, x)
        return (classifier_head(self.classifier, features[-1]), *features[1:])


class DecoderGraph(nn.Module):
    def __init__(self, segmenter: nn.Module) -> None:
        super().__init__()
        self.segmenter = segmenter

    def forward(self, x: torch.Tensor, *features: torch.Tensor) -> torch.Tensor:
        return decode_masks(self.segmenter, [x, *features])


def _dynamic(name: str) -> dict[int, str]:
    return {0: "batch", 2: f"{name}_height", 3: f"{name}_width"}


def _onnx_export(module: nn.Module, example: tuple[torch.Tensor, ...], path: Path, inputs: list[str],
                 outputs: list[str]) -> None:
    axes = {name: _dynamic(name) for name in inputs + outputs}
    if "logits" in axes:
        axes["logits"] = {0: "batch"}
    with warnings.catch_warnings(), torch.no_grad():
        # The TorchScript exporter handles the decoder's shape-dependent resizes with dynamic sizes;
        # it warns that it is deprecated in favour of the dynamo exporter.
        warnings.simplefilter("ignore")
        torch.onnx.export(module, example, str(path), input_names=inputs, output_names=outputs, dynamic_axes=axes,
                          opset_version=ONNX_OPSET, dynamo=False)


def export_onnx(model_set: ModelSet, out: Path, height: int = 256, width: int = 256) -> None:
    """classifier.onnx and segmenter.onnx in `out`, traced on fp32 CPU copies of the networks."""
    out.mkdir(parents=True, exist_ok=True)
    classifier = ClassifierGraph(model_set.classifier).float().cpu().eval()
    x = torch.randn(1, 3, height, width)
    _onnx_export(classifier, (x,), out / "classifier.onnx", ["x"], ["logits", *FEATURES])
    if model_set.card.shared_encoder:
        with torch.no_grad():
            features = classifier(x)[1:]
        decoder = DecoderGraph(model_set.segmenter).float().cpu().eval()
        _onnx_export(decoder, (x, *features), out / "segmenter.onnx", ["x", *FEATURES], ["masks"])
    else:
        _onnx_export(model_set.segmenter.float().cpu().eval(), (x,), out / "segmenter.onnx", ["x"], ["masks"])


def onnx_to_openvino(onnx_dir: Path, out: Path) -> None:
    import openvino as ov

    out.mkdir(parents=True, exist_ok=True)
    for part in ("classifier", "segmenter"):
        # fp32 weights in the IR: this is the reference the INT8 gate compares with.
        ov.save_model(ov.convert_model(onnx_dir / f"{part}.onnx"), out / f"{part}.xml", compress_to_fp16=False)


def export_model_set(folder: str | Path, formats: tuple[str, ...] = ("onnx", "openvino")) -> ModelCard:
    """Write the fp32 exports `formats` asks for into the set's folder; returns the updated card."""
    from core.modelsets.modelset import load_model_set

    folder = Path(folder)
    unknown = set(formats) - {"onnx", "openvino"}
    if unknown:
        raise ModelSetError("--format", f"{', '.join(sorted(unknown))} is not an export format", "use onnx, openvino")
    model_set = load_model_set(folder, "cpu")
    staging = folder / EXPORTS_DIR / ".staging"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        onnx_dir = staging / "onnx-fp32"
        export_onnx(model_set, onnx_dir)
        card = model_set.card
        info = {"opset": ONNX_OPSET, "torch": torch.__version__, "weights": card.fingerprint}
        if "openvino" in formats:
            import openvino as ov

            onnx_to_openvino(onnx_dir, staging / "openvino-fp32")
            card = record_export(folder, "openvino-fp32", staging / "openvino-fp32", openvino=ov.__version__,
                                 weights=card.fingerprint)
        if "onnx" in formats:
            card = record_export(folder, "onnx-fp32", onnx_dir, **info)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return card


def check_current(folder: Path, card: ModelCard, key: str) -> None:
    """An export made from other weights than the set's current ones would silently disagree with Grad-CAM
    and the card's metrics: refuse it."""
    made_from = card.exports.get(key, {}).get("weights")
    if made_from and made_from != card.fingerprint:
        raise ModelSetError(folder / EXPORTS_DIR / key, f"was made from {made_from}, the set is now {card.fingerprint}",
                            how_to_make(key, folder))
