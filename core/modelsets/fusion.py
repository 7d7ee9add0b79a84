"""Fold each BatchNorm into the convolution before it, for inference only.

An eval-mode BatchNorm is a per-channel scale and shift, so the convolution before it can absorb it: one pass over
the activations instead of two. Measured by benchmarks/bench_fold.py on the shipped ResNet50 + U-Net set, one
1600x256 strip at a time on the 2-core AMD EPYC (AVX2): 0.80 s -> 0.75-0.79 s a strip (2-6%, two runs), class
probabilities equal to 2e-7. The folded networks have other state-dict keys, so only an engine that owns its
networks folds them (`Inspector.load`); training, export and quantisation load their own unfolded copies. Folded
weights keep the loaded networks' channels_last layout (a fused weight is the loaded one times a per-channel scale,
which keeps its memory format), so nothing is moved again.
"""

from __future__ import annotations

import segmentation_models_pytorch as smp
import torchvision
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from core.modelsets.modelset import ModelSet

_RESNET_PAIRS = (("conv1", "bn1"), ("conv2", "bn2"), ("conv3", "bn3"))
_BACKBONE_PARTS = ("conv1", "bn1", "layer1", "layer2", "layer3", "layer4")


def fold_resnet(network: nn.Module) -> int:
    """Fold the stem's and every block's conv/bn pairs and the downsample branches; returns how many were folded."""
    folded = 0
    for child in network.children():
        folded += fold_resnet(child)
    for conv, norm in _RESNET_PAIRS:
        if isinstance(getattr(network, norm, None), nn.BatchNorm2d) and isinstance(getattr(network, conv), nn.Conv2d):
            setattr(network, conv, fuse_conv_bn_eval(getattr(network, conv), getattr(network, norm)))
            setattr(network, norm, nn.Identity())
            folded += 1
    branch = getattr(network, "downsample", None)
    if isinstance(branch, nn.Sequential) and len(branch) == 2 and isinstance(branch[1], nn.BatchNorm2d):
        branch[0], branch[1] = fuse_conv_bn_eval(branch[0], branch[1]), nn.Identity()
        folded += 1
    return folded


def fold_sequential(network: nn.Module) -> int:
    """Fold conv -> bn neighbours inside every nn.Sequential (smp's decoder blocks are Conv2dReLU sequences)."""
    folded = 0
    for child in network.children():
        if isinstance(child, nn.Sequential):
            for i in range(len(child) - 1):
                if isinstance(child[i], nn.Conv2d) and isinstance(child[i + 1], nn.BatchNorm2d):
                    child[i], child[i + 1] = fuse_conv_bn_eval(child[i], child[i + 1]), nn.Identity()
                    folded += 1
        folded += fold_sequential(child)
    return folded


def fold_for_inference(model_set: ModelSet) -> int:
    """Fold the set's classifier, U-Net encoder and decoder in place (eval mode); returns the pairs folded.
    A shared encoder keeps sharing: it is pointed at the classifier's folded stages, so no second copy is kept."""
    classifier, segmenter = model_set.classifier, model_set.segmenter
    if classifier.training or segmenter.training:
        raise ValueError("fold_for_inference needs eval-mode networks: BatchNorm folds only with running statistics")
    folded = fold_resnet(classifier) if isinstance(classifier, torchvision.models.ResNet) else 0
    encoder = getattr(segmenter, "encoder", None)
    if model_set.card.shared_encoder and encoder is not None:
        for part in _BACKBONE_PARTS:
            setattr(encoder, part, getattr(classifier, part))
    elif encoder is not None:
        folded += fold_resnet(encoder)
    if isinstance(segmenter, smp.Unet):
        folded += fold_sequential(segmenter.decoder)
    return folded
