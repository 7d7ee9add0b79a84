"""The exported graphs in OpenVINO on the CPU (fp32 IR, or the INT8 IR NNCF wrote)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.contract.errors import ModelSetError
from core.engine.backends.exported import ExportedBackend


class OpenVinoBackend(ExportedBackend):
    name = "openvino"

    def __init__(self, paths: dict[str, Path], shared_encoder: bool, precision: str = "fp32") -> None:
        import openvino as ov

        super().__init__(paths, shared_encoder, precision)
        core = ov.Core()
        # LATENCY: one request uses every core, which is how the engine calls it (one batch at a time).
        # f32: OpenVINO's CPU plugin otherwise runs an "fp32" graph in bf16 on CPUs with AMX, so the same set would
        # give other probabilities on an Intel Xeon than on an AMD EPYC. INT8 graphs keep their int8 layers.
        config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"}
        try:
            self.compiled = {part: core.compile_model(str(path), "CPU", config) for part, path in paths.items()}
        except RuntimeError as exc:
            raise ModelSetError(next(iter(paths.values())).parent, f"cannot be loaded by OpenVINO ({exc})",
                                "re-export with `steelscan models export SET`") from None

    def _run(self, part: str, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        compiled = self.compiled[part]
        # A request per call: compiled models are shared between threads, infer requests are not.
        results = compiled.create_infer_request().infer(inputs)
        return [results[output] for output in compiled.outputs]
