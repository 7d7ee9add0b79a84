"""The exported graphs in ONNX Runtime (CPU execution provider, all graph optimisations)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.contract.errors import ModelSetError
from core.engine.backends.exported import ExportedBackend


class OnnxBackend(ExportedBackend):
    name = "onnx"

    def __init__(self, paths: dict[str, Path], shared_encoder: bool, precision: str = "fp32") -> None:
        import onnxruntime as ort

        super().__init__(paths, shared_encoder, precision)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self.sessions = {part: ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
                             for part, path in paths.items()}
        except Exception as exc:  # onnxruntime raises its own untyped errors for unreadable graphs
            raise ModelSetError(next(iter(paths.values())).parent, f"cannot be loaded by ONNX Runtime ({exc})",
                                "re-export with `steelscan models export SET`") from None

    def _run(self, part: str, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        return self.sessions[part].run(None, inputs)  # thread-safe: sessions serve concurrent calls
