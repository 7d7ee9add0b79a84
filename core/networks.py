"""Build the two networks a model card describes. No weights are ever downloaded here."""

from __future__ import annotations

import segmentation_models_pytorch as smp
import torch
import torchvision
from torch import nn

from core.errors import ModelSetError

CLASSIFIER_ARCHITECTURES = ("resnet18", "resnet34", "resnet50")


def build_classifier(architecture: str, num_classes: int) -> torchvision.models.ResNet:
    if architecture not in CLASSIFIER_ARCHITECTURES:
        raise ModelSetError("model card", f"classifier architecture {architecture!r} is unknown",
                            f"use one of {', '.join(CLASSIFIER_ARCHITECTURES)}")
    return getattr(torchvision.models, architecture)(weights=None, num_classes=num_classes)


def build_segmenter(encoder: str, num_classes: int, decoder_channels: tuple[int, ...]) -> smp.Unet:
    if encoder not in CLASSIFIER_ARCHITECTURES:
        raise ModelSetError("model card", f"segmenter encoder {encoder!r} is unknown",
                            f"use one of {', '.join(CLASSIFIER_ARCHITECTURES)}")
    return smp.Unet(encoder_name=encoder, encoder_weights=None, classes=num_classes,
                    decoder_channels=tuple(decoder_channels))


def backbone_features(classifier: torchvision.models.ResNet, x: torch.Tensor) -> list[torch.Tensor]:
    """The feature pyramid smp's ResNet encoder returns, computed by the classifier's own layers:
    [input, stem, layer1, layer2, layer3, layer4]. With a shared encoder the U-Net decoder runs on
    these, so the backbone runs once per strip instead of twice."""
    stem = classifier.relu(classifier.bn1(classifier.conv1(x)))
    f1 = classifier.layer1(classifier.maxpool(stem))
    f2 = classifier.layer2(f1)
    f3 = classifier.layer3(f2)
    return [x, stem, f1, f2, f3, classifier.layer4(f3)]


def classifier_head(classifier: torchvision.models.ResNet, top: torch.Tensor) -> torch.Tensor:
    return classifier.fc(torch.flatten(classifier.avgpool(top), 1))


def decode_masks(segmenter: smp.Unet, features: list[torch.Tensor]) -> torch.Tensor:
    """Mask logits from an encoder pyramid (the decoder resizes to each skip, so any size works)."""
    return segmenter.segmentation_head(segmenter.decoder(features))


def share_encoder(classifier: nn.Module, segmenter: smp.Unet) -> None:
    """Point the U-Net's encoder at the classifier's backbone weights (same tensors, no copy)."""
    state = {k: v for k, v in classifier.state_dict().items() if not k.startswith("fc.")}
    try:
        nn.Module.load_state_dict(segmenter.encoder, state, strict=True, assign=True)
    except RuntimeError:
        raise ModelSetError("model card", "classifier backbone does not fit the U-Net encoder",
                            "the segmenter's encoder must name the classifier's architecture") from None


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
