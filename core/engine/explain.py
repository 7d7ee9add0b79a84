"""Grad-CAM on demand, through pytorch-grad-cam, paying only for the last stage's gradients.

The library's default backpropagates through the whole ResNet and computes every weight's
gradient. Grad-CAM needs neither: the target is the last stage's output, so stages 1-3 run
without a graph, and the weights never require gradients (the loaded networks are frozen).
Hooks sit on a per-call Identity module that only this call's wrapper runs, and are released
by the `with` block, so one shared model can serve many users at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torch import nn

from core.engine.inference import ImageSource, Inspector, to_loaded
from core.modelsets.networks import classifier_head


class _LastStageCam(nn.Module):
    """Forward of the classifier with a graph only from layer4 on, and a private hook point."""

    def __init__(self, classifier: nn.Module) -> None:
        super().__init__()
        self.classifier = classifier
        self.target = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.classifier
        with torch.no_grad():
            x = c.layer3(c.layer2(c.layer1(c.maxpool(c.relu(c.bn1(c.conv1(x)))))))
        top = self.target(c.layer4(x.requires_grad_(True)))
        return classifier_head(c, top)


@dataclass(frozen=True)
class Explanation:
    class_name: str
    probability: float
    heatmap: np.ndarray  # (H, W) float32 in [0, 1], the image's own size


def explain(inspector: Inspector, image: ImageSource, class_name: str) -> Explanation:
    """Grad-CAM heatmap of `class_name` for one image."""
    card = inspector.card
    if class_name not in card.class_names:
        raise ValueError(
            f"class {class_name!r} is not in model set {card.name}; choose from {', '.join(card.class_names)}"
        )
    index = card.class_names.index(class_name)
    loaded = to_loaded(image, inspector.max_pixels)
    with torch.inference_mode(False), torch.enable_grad():
        x = inspector.to_tensor([loaded.pixels])
        wrapper = _LastStageCam(inspector.model_set.classifier)
        with GradCAM(model=wrapper, target_layers=[wrapper.target]) as cam:
            heatmap = cam(input_tensor=x, targets=[ClassifierOutputTarget(index)])[0]
            logits = cam.outputs.detach().float()
    probs = torch.softmax(logits, 1) if card.task == "single-label" else torch.sigmoid(logits)
    if heatmap.shape != (loaded.height, loaded.width):  # the networks saw the image resized (card input_size)
        heatmap = cv2.resize(heatmap, (loaded.width, loaded.height), interpolation=cv2.INTER_LINEAR)
    return Explanation(class_name, float(probs[0, index]), heatmap.astype(np.float32))
