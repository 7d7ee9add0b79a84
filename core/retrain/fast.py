"""Every set a job trains runs fast: exported and quantised before the gate, so a promotion never falls back to
torch fp32.

The candidate gets its fp32 ONNX and OpenVINO graphs, then INT8 through the existing accuracy gate
(core.modelsets.quantize: calibrated on the job's training sheets, checked against fp32 on its validation sheets).
The engine's `auto` backend then picks the fastest export that passed (INT8, else ONNX fp32). A failed export is
reported and the set keeps torch: the job still succeeds, and its result says which backend the set will run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from core.contract.errors import SteelScanError

CALIBRATION_SAMPLES = 64


def make_fast(folder: Path, training_data: Path, log: Callable[[str], None] = print) -> dict:
    """Export and quantise the set in `folder`; returns what it will run on and why."""
    from core.modelsets.export import export_model_set
    from core.modelsets.quantize import quantize_model_set

    started = time.perf_counter()
    try:
        export_model_set(folder, ("onnx", "openvino"))
    except (SteelScanError, RuntimeError, OSError, ValueError) as exc:
        log(f"export failed, the set runs on torch: {exc}")
        return {"backend": "torch", "reason": f"export failed: {exc}", "seconds": round(time.perf_counter() - started)}
    try:
        result = quantize_model_set(folder, training_data, None, CALIBRATION_SAMPLES, log=log)
    except (SteelScanError, RuntimeError, OSError, ValueError) as exc:
        log(f"INT8 calibration failed, the set runs its fp32 export: {exc}")
        return {"backend": "onnx-fp32", "reason": f"INT8 calibration failed: {exc}",
                "seconds": round(time.perf_counter() - started)}
    if result.written:
        return {"backend": "openvino-int8", "reason": "INT8 passed its accuracy gate against fp32",
                "gate": result.gate, "seconds": round(time.perf_counter() - started)}
    log(f"INT8 refused, the set runs its fp32 export: {'; '.join(result.failures)}")
    return {"backend": "onnx-fp32", "reason": "INT8 refused by its accuracy gate: " + "; ".join(result.failures),
            "gate": result.gate, "seconds": round(time.perf_counter() - started)}
