"""What the ONNX Runtime and OpenVINO backends share: numpy in and out, the same graph split as torch."""

from __future__ import annotations

import contextlib
from contextlib import AbstractContextManager
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from core.modelsets.export import FEATURES


class ExportedBackend:
    """Subclasses set `name` and implement `_run(part, inputs) -> list of outputs`."""

    name = "exported"
    device_label = "cpu"

    def __init__(self, paths: dict[str, Path], shared_encoder: bool, precision: str) -> None:
        self.paths = paths
        self.shared_encoder = shared_encoder
        self.precision = precision

    def context(self) -> AbstractContextManager:
        return contextlib.nullcontext()

    def _run(self, part: str, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        raise NotImplementedError

    def classify(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[np.ndarray, list[np.ndarray]]]:
        # The engine's batch is channels_last in memory; the runtimes want plain NCHW.
        pixels = np.ascontiguousarray(x.cpu().numpy(), dtype=np.float32)
        outputs = self._run("classifier", {"x": pixels})
        return torch.from_numpy(outputs[0]), (pixels, outputs[1:])

    def top_features(self, state: tuple[np.ndarray, list[np.ndarray]]) -> torch.Tensor:
        return torch.from_numpy(state[1][-1])  # layer4: the classifier graph outputs the whole pyramid

    def segment(self, x: torch.Tensor, state: tuple[np.ndarray, list[np.ndarray]], indices: list[int]) -> torch.Tensor:
        pixels, features = state
        everything = len(indices) == len(pixels)
        pick = (lambda a: a) if everything else (lambda a: np.ascontiguousarray(a[indices]))
        if self.shared_encoder:
            inputs = {"x": pick(pixels), **{name: pick(f) for name, f in zip(FEATURES, features, strict=True)}}
            return torch.from_numpy(self._run("segmenter", inputs)[0])
        height, width = pixels.shape[-2:]
        pad_h, pad_w = (-height) % 32, (-width) % 32  # as the torch backend: the U-Net needs multiples of 32
        chosen = torch.from_numpy(pick(pixels))
        padded = F.pad(chosen, (0, pad_w, 0, pad_h), mode="reflect") if pad_h or pad_w else chosen
        masks = self._run("segmenter", {"x": np.ascontiguousarray(padded.numpy())})[0]
        return torch.from_numpy(np.ascontiguousarray(masks[..., :height, :width]))
