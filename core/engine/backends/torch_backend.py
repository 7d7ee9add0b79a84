"""The networks in eager PyTorch: channels_last, autocast (fp16 on CUDA, bf16 on AMX CPUs), any device."""

from __future__ import annotations

from contextlib import AbstractContextManager

import torch
import torch.nn.functional as F

from core.modelsets.devices import autocast, inference_dtype
from core.modelsets.modelset import ModelSet
from core.modelsets.networks import backbone_features, classifier_head, decode_masks

DTYPE_NAMES = {torch.float32: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16"}


class TorchBackend:
    name = "torch"

    def __init__(self, model_set: ModelSet, device: torch.device, precision: str = "auto") -> None:
        self.model_set = model_set
        self.device = device
        self.dtype = inference_dtype(device, precision)
        self.precision = DTYPE_NAMES[self.dtype]
        self.device_label = str(device) if self.dtype == torch.float32 else f"{device}/{self.precision}"

    def context(self) -> AbstractContextManager:
        return autocast(self.device, self.dtype)

    def classify(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        features = backbone_features(self.model_set.classifier, x)
        return classifier_head(self.model_set.classifier, features[-1]).float(), features

    def top_features(self, features: list[torch.Tensor]) -> torch.Tensor:
        return features[-1]

    def segment(self, x: torch.Tensor, features: list[torch.Tensor], indices: list[int]) -> torch.Tensor:
        index = torch.tensor(indices, device=x.device)
        every = indices == list(range(x.shape[0]))  # then no copy of the feature pyramid (~60 ms a strip)

        def pick(t: torch.Tensor) -> torch.Tensor:
            return t if every else t.index_select(0, index)

        if self.model_set.card.shared_encoder:
            return decode_masks(self.model_set.segmenter, [pick(f) for f in features]).float()
        return self._run_full_unet(pick(x)).float()

    def _run_full_unet(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        pad_h, pad_w = (-height) % 32, (-width) % 32  # the U-Net's encoder needs multiples of 32
        padded = F.pad(x, (0, pad_w, 0, pad_h), mode="reflect") if pad_h or pad_w else x
        return self.model_set.segmenter(padded)[..., :height, :width]
