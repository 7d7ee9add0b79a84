"""Device choice: CUDA when present, then Apple MPS, else CPU; a named device must exist."""

from __future__ import annotations

import torch

from core.errors import SteelScanError

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
