"""Build the two networks a model card describes. No weights are ever downloaded here."""

from __future__ import annotations

import segmentation_models_pytorch as smp
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from core.contract.errors import ModelSetError

CLASSIFIER_ARCHITECTURES = ("resnet18", "resnet34", "resnet50", "resnet-slim")
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


# resnet-slim: one BasicBlock a stage at a quarter of ResNet18's widths (1.2 M parameters, ~0.25 GFLOPs at 224 px),
# for a plant's own images on a CPU: it learns magnetic-tile from random weights in minutes where ResNet50 on the
# same two cores does not (README, Train on your own images).
SLIM_WIDTHS = (32, 64, 128, 256)
SLIM_LAYERS = [1, 1, 1, 1]


class SlimResNet(torchvision.models.ResNet):
    """torchvision's ResNet with narrower stages: the same modules and names (conv1 .. layer4, fc), so
    backbone_features, Grad-CAM, BatchNorm folding, export and the U-Net's shared encoder work unchanged."""

    def __init__(self, block: type = torchvision.models.resnet.BasicBlock, layers: list[int] = SLIM_LAYERS,
                 num_classes: int = 1000, widths: tuple[int, ...] = SLIM_WIDTHS) -> None:
        nn.Module.__init__(self)
        self._norm_layer, self.dilation, self.groups, self.base_width = nn.BatchNorm2d, 1, 1, 64
        self.inplanes = widths[0]
        self.conv1 = nn.Conv2d(3, widths[0], kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, widths[0], layers[0])
        self.layer2 = self._make_layer(block, widths[1], layers[1], stride=2)
        self.layer3 = self._make_layer(block, widths[2], layers[2], stride=2)
        self.layer4 = self._make_layer(block, widths[3], layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(widths[3] * block.expansion, num_classes)
        for module in self.modules():  # torchvision's ResNet initialisation
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.constant_(module.weight, 1)
                nn.init.constant_(module.bias, 0)


class PeakSlimResNet(PeakResNet, SlimResNet):
    """resnet-slim with peak pooling."""


class SlimResNetEncoder(smp.encoders.resnet.ResNetEncoder, SlimResNet):
    """resnet-slim as segmentation_models_pytorch's U-Net encoder (registered below as "resnet-slim")."""


smp.encoders.encoders.setdefault("resnet-slim", {
    "encoder": SlimResNetEncoder, "pretrained_settings": {},
    "params": {"out_channels": (3, SLIM_WIDTHS[0], *SLIM_WIDTHS), "block": torchvision.models.resnet.BasicBlock,
               "layers": SLIM_LAYERS},
})


def decoder_channels_for(architecture: str) -> tuple[int, ...]:
    """The U-Net decoder's widths: narrow for resnet-slim, whose full-resolution decoder blocks would
    otherwise cost more than its encoder (1.2 vs 1.6 s a 32-image training step at 224 px, 2-core CPU)."""
    return (64, 32, 16, 8, 4) if architecture == "resnet-slim" else (128, 64, 32, 16, 8)


def build_classifier(architecture: str, num_classes: int, pooling: str = "avg") -> torchvision.models.ResNet:
    if architecture not in CLASSIFIER_ARCHITECTURES:
        raise ModelSetError("model card", f"classifier architecture {architecture!r} is unknown",
                            f"use one of {', '.join(CLASSIFIER_ARCHITECTURES)}")
    if pooling not in CLASSIFIER_POOLINGS:
        raise ModelSetError("model card", f"classifier pooling {pooling!r} is unknown",
                            f"use one of {', '.join(CLASSIFIER_POOLINGS)}")
    if architecture == "resnet-slim":
        return (PeakSlimResNet if pooling == "peak" else SlimResNet)(num_classes=num_classes)
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
