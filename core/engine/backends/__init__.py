"""What runs the networks: torch, ONNX Runtime or OpenVINO, behind one small interface.

The Inspector owns everything around the networks (decoding, normalising, batching, thresholds,
the minimum-area rule, regions, the Verdict); a backend only turns a normalised batch into class
logits plus whatever the segmenter needs, and selected strips into mask logits. So every backend
keeps the backbone-once design and the same post-processing.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any, Protocol

import torch

from core.contract.errors import SteelScanError
from core.modelsets.modelset import ModelSet

BACKENDS = ("auto", "torch", "onnx", "openvino")


class Backend(Protocol):
    name: str  # torch | onnx | openvino
    precision: str  # fp32 | bf16 | fp16 | int8
    device_label: str

    def context(self) -> AbstractContextManager: ...

    def classify(self, x: torch.Tensor) -> tuple[torch.Tensor, Any]:
        """(N, 3, H, W) normalised input -> (N, classes) logits and the state `segment` needs."""

    def segment(self, x: torch.Tensor, state: Any, indices: list[int]) -> torch.Tensor:
        """Mask logits (len(indices), classes, H, W) for the strips at `indices` of the classified batch."""

    def top_features(self, state: Any) -> torch.Tensor:
        """The backbone's last feature map (N, C, h, w) of the classified batch: the out-of-domain score's input."""


def resolve_choice(choice: str, model_set: ModelSet, device: torch.device, precision: str) -> tuple[str, str]:
    """(backend, export precision) the choice means for this set on this device.

    auto: torch on a GPU; on a CPU OpenVINO INT8 (precision auto, and only if it passed the gate), then
    ONNX Runtime fp32, then OpenVINO fp32, then torch: the order measured fastest on a quiet 2-core AVX2 CPU
    (benchmarks/bench_backends.py: INT8 2.68, ONNX fp32 1.89, OpenVINO fp32 1.60, torch fp32 1.18 strips/s)."""
    if choice not in BACKENDS:
        raise SteelScanError("backend", f"{choice!r} is not a backend", f"use one of {', '.join(BACKENDS)}")
    exports = model_set.card.exports
    if choice == "torch" or (choice == "auto" and device.type != "cpu"):
        return "torch", precision
    if choice != "auto" and device.type != "cpu":
        raise SteelScanError("backend", f"the {choice} backend runs on the CPU, the device is {device}",
                             "use --backend torch on a GPU, or --device cpu")
    if choice == "auto":
        order = (["openvino-int8"] if precision == "auto" else []) + ["onnx-fp32", "openvino-fp32"]
        found = next((key for key in order if key in exports), None)
        return tuple(found.split("-")) if found else ("torch", precision)  # type: ignore[return-value]
    if choice == "openvino" and precision == "auto" and "openvino-int8" in exports:
        return "openvino", "int8"
    return choice, "fp32"


def open_backend(choice: str, model_set: ModelSet, device: torch.device, precision: str = "auto") -> Backend:
    name, export_precision = resolve_choice(choice, model_set, device, precision)
    if name == "torch":
        from core.engine.backends.torch_backend import TorchBackend

        return TorchBackend(model_set, device, precision)
    from core.modelsets.export import check_current, export_key, verify_export

    key = export_key(name, export_precision)
    paths = verify_export(model_set.folder, model_set.card, key)
    check_current(model_set.folder, model_set.card, key)
    if name == "onnx":
        from core.engine.backends.onnx_backend import OnnxBackend

        return OnnxBackend(paths, model_set.card.shared_encoder, export_precision)
    from core.engine.backends.openvino_backend import OpenVinoBackend

    return OpenVinoBackend(paths, model_set.card.shared_encoder, export_precision)
