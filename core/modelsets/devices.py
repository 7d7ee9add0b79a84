"""Device choice: CUDA when present, then Apple MPS, else CPU; a named device must exist."""

from __future__ import annotations

import torch

from core.contract.errors import SteelScanError
from core.contract.settings import parse_batch_size

CHOICES = ("auto", "cpu", "cuda", "mps")


def pick_device(preference: str = "auto") -> torch.device:
    preference = preference.lower()
    if preference not in CHOICES:
        raise SteelScanError("device", f"{preference!r} is not a device choice", f"use one of {', '.join(CHOICES)}")
    cuda, mps = torch.cuda.is_available(), torch.backends.mps.is_available()
    if preference == "auto":
        return torch.device("cuda" if cuda else "mps" if mps else "cpu")
    if preference == "cuda" and not cuda:
        raise SteelScanError("device", "CUDA was asked for but no CUDA GPU is visible", "use --device cpu or auto")
    if preference == "mps" and not mps:
        raise SteelScanError("device", "MPS was asked for but is not available", "use --device cpu or auto")
    return torch.device(preference)


# How many images the engine runs as one batch when batch_size is "auto". On a CPU one at a time: batching
# makes a CPU no faster a strip and makes every verdict wait for the whole batch (benchmarks/bench_batch_size.py,
# 2-core AMD EPYC, AVX2 only, 24 strips: OpenVINO INT8 0.54 s a strip and the first verdict after 0.63 s at 1,
# 0.71 s and 7.2 s at 8; torch fp32 0.82 s / 1.1 s at 1, 1.11 s / 9.4 s at 8). On a GPU batches fill the device.
AUTO_BATCH = {"cpu": 1, "cuda": 8, "mps": 8}


def pick_batch_size(setting: int | str, device: torch.device) -> int:
    """The engine's batch size: a number as given, "auto" by device (AUTO_BATCH)."""
    try:
        size = parse_batch_size(setting, ValueError)
    except ValueError as exc:
        raise SteelScanError("batch size", str(exc), "use auto (1 on a CPU, 8 on a GPU) or a number") from None
    return AUTO_BATCH.get(device.type, 1) if size == "auto" else size


PRECISIONS = ("auto", "fp32")


def cpu_bf16_supported() -> bool:
    """Intel AMX runs bfloat16 convolutions several times faster than fp32."""
    check = getattr(torch.cpu, "_is_amx_tile_supported", None)
    return bool(check and check())


def inference_dtype(device: torch.device, precision: str = "auto") -> torch.dtype:
    """The autocast dtype inference and training use: fp16 on CUDA, bf16 on CPUs with AMX, else fp32.

    On this project's 2-core AMX machine bf16 runs the ResNet50 + decoder about 2.8x faster than
    fp32; `precision="fp32"` (setting or --precision) turns it off."""
    if precision not in PRECISIONS:
        raise SteelScanError("precision", f"{precision!r} is not a precision choice",
                             f"use one of {', '.join(PRECISIONS)}")
    if precision == "fp32":
        return torch.float32
    if device.type == "cuda":
        return torch.float16
    if device.type == "cpu" and cpu_bf16_supported():
        return torch.bfloat16
    return torch.float32


def autocast(device: torch.device, dtype: torch.dtype):
    """The autocast context for `dtype` (from inference_dtype); fp32 turns autocast off."""
    if dtype == torch.float32:
        return torch.autocast(device.type, enabled=False)
    return torch.autocast(device.type, dtype=dtype)
