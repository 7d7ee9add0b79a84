"""Build the two networks a model card describes. No weights are ever downloaded here."""

from __future__ import annotations

import segmentation_models_pytorch as smp
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from core.contract.errors import ModelSetError

CLASSIFIER_ARCHITECTURES = ("resnet18", "resnet34", "resnet50")
# "avg": torchvision's average pool then the linear layer. "peak": the linear layer scores every
# position of the last feature map and each class keeps its strongest position (PeakResNet).
CLASSIFIER_POOLINGS = ("avg", "peak")
_RESNET_BLOCKS = {
    "resnet18": (torchvision.models.resnet.BasicBlock, [2, 2, 2, 2]),
    "resnet34": (torchvision.models.resnet.BasicBlock, [3, 4, 6, 3]),
    "resnet50": (torchvision.models.resnet.Bottleneck, [3, 4, 6, 3]),
}


class PeakResNet(torchvision.models.ResNet):
    """A ResNet whose class score is its strongest position's score.

    The linear head runs on every position of the last feature map (a 1x1 convolution with fc's
    own weights) and each class takes its maximum. A classifier trained on crops then scores a
    whole strip the same way it scored a crop: a scratch that fills 2% of a 1600x256 strip is as
    visible as one that fills a 128 px crop, where an average pool would dilute it fifty-fold.
    Same parameters and state-dict keys as torchvision's ResNet, so every loader works unchanged."""

    def head(self, top: torch.Tensor) -> torch.Tensor:
        scores = F.conv2d(top, self.fc.weight[:, :, None, None].to(top.dtype), self.fc.bias.to(top.dtype))
        return scores.amax(dim=(2, 3))

    def _forward_impl(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(backbone_features(self, x)[-1])


def build_classifier(architecture: str, num_classes: int, pooling: str = "avg") -> torchvision.models.ResNet:
    if architecture not in CLASSIFIER_ARCHITECTURES:
        raise ModelSetError("model card", f"classifier architecture {architecture!r} is unknown",
                            f"use one of {', '.join(CLASSIFIER_ARCHITECTURES)}")
    if pooling not in CLASSIFIER_POOLINGS:
        raise ModelSetError("model card", f"classifier pooling {pooling!r} is unknown",
                            f"use one of {', '.join(CLASSIFIER_POOLINGS)}")
    if pooling == "peak":
        block, layers = _RESNET_BLOCKS[architecture]
        return PeakResNet(block, layers, num_classes=num_classes)
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
    """Class logits from the last stage's feature map, with the classifier's own pooling."""
    if isinstance(classifier, PeakResNet):
        return classifier.head(top)
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
