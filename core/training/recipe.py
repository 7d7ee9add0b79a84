"""What `auto` means for a dataset: the trainer, the networks' input size, the network, the normalisation,
the pooling and the weight decay, each chosen from the data unless the command line names it.

Three recipes, each the one measured best on its kind of data (docs/training.md):
- **whole images** for a plant's own photographs outlined by pixel masks (mask PNGs, YOLO / COCO polygons,
  RLEs): every image resized to about 224 x 224 (its aspect kept), a slim ResNet whose backbone, U-Net decoder
  and head learn together from the masks and the labels, each image standardised on its own. It learns
  magnetic-tile from random weights on a 2-core CPU, where crops at native scale did not.
- **whole-image classifier** for photographs with image labels only (plain class folders): the same network
  and input, the classifier head alone (no masks to learn; Grad-CAM shows where).
- **native scale** for long strips (Severstal, 1600 x 256: a median long side at least STRIP_ASPECT times the
  short one) and box-only data (NEU-DET): ResNet50 + U-Net, the staged trainer behind the shipped sets.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass

import numpy as np

from core.contract.errors import SteelScanError
from core.datasets import Dataset
from core.datasets.base import is_box_shape
from core.training.data import NATIVE_GEOMETRIES, ImageCache

STRIP_ASPECT = 4.0  # median long side / short side from which images are strips (Severstal: 6.25)
WHOLE_SIDE = 224  # whole images are resized to about this many pixels squared
SQUARE_ASPECTS = (0.75, 4 / 3)  # a median width / height in this range is resized to a square
ASPECT_SAMPLE = 200  # training images whose shapes decide (evenly spaced)
WHOLE_WEIGHT_DECAY, NATIVE_WEIGHT_DECAY = 5e-4, 0.05
WHOLE_IMAGE_WEIGHT = 1.0  # whole images: the any-defect loss beside the class losses


@dataclass(frozen=True)
class Recipe:
    trainer: str  # "joint" or "staged"
    geometry: str  # "whole", "strip", "tile" or "patch" (core.training.data)
    input_size: tuple[int, int] | None  # None: each image at its own size
    arch: str
    normalisation: str
    pooling: str
    weight_decay: float
    test_time_flips: bool  # the card's: score each image with its mirror images (core.modelsets.flips)
    image_weight: float  # joint, multi-label: weight of the any-defect loss (core.training.joint.any_defect_loss)
    seg_dice: str  # joint: soft Dice per "image" and class or over the "batch" (core.training.loops.dice_bce_loss)
    class_scores: str  # the card's: "head" or "head+mask" (core.engine.postprocess.class_scores)
    seg_weight: float  # joint: weight of the pixel loss; 0 for image labels only (no masks to learn)
    why: str  # one line: what in the data chose this recipe (the first log line and the card say it)


def has_pixel_masks(dataset: Dataset) -> bool:
    """True when defects are outlined pixel by pixel (RLEs, mask PNGs, YOLO / COCO polygons), not only boxed."""
    return any(s.rles or s.mask_path is not None or any(not is_box_shape(shape) for shape in s.shapes)
               for s in dataset.samples)


def has_boxes(dataset: Dataset) -> bool:
    """True when some defects are located by boxes (VOC, YOLO detection, COCO bbox-only)."""
    return any(s.boxes or any(is_box_shape(shape) for shape in s.shapes) for s in dataset.samples)


def median_aspect(cache: ImageCache, indices: tuple[int, ...]) -> float:
    """Median width / height of up to ASPECT_SAMPLE evenly spaced images."""
    step = max(1, len(indices) // ASPECT_SAMPLE)
    shapes = [cache.pixels(i).shape[:2] for i in indices[::step]]
    return float(np.median([width / height for height, width in shapes]))


def is_strip(aspect: float) -> bool:
    return max(aspect, 1 / aspect) >= STRIP_ASPECT


def whole_image_size(aspect: float, side: int = WHOLE_SIDE) -> tuple[int, int]:
    """(height, width) of about side x side pixels with the images' median aspect, multiples of 32."""
    if SQUARE_ASPECTS[0] <= aspect <= SQUARE_ASPECTS[1]:
        return side, side

    def to_32(value: float) -> int:
        return max(32, int(round(value / 32)) * 32)

    return to_32(side / math.sqrt(aspect)), to_32(side * math.sqrt(aspect))


def native_geometry(cache: ImageCache, indices: tuple[int, ...], trainer: str) -> str:
    """'strip' for long images (trained on native-scale crops); for roughly square photos 'tile'
    (native-scale crops around defects and clean areas) when training jointly on pixel masks, else
    'patch' (zoomed crops that keep the image's label)."""
    if is_strip(median_aspect(cache, indices)):
        return "strip"
    return "tile" if trainer == "joint" else "patch"


def parse_size(text: str) -> tuple[int, int]:
    """'128' -> (128, 128); '256x512' -> (256, 512) as height x width."""
    parts = [int(p) for p in text.lower().split("x")]
    return (parts[0], parts[0]) if len(parts) == 1 else (parts[0], parts[1])


def pick_recipe(args: argparse.Namespace, dataset: Dataset, cache: ImageCache, train: tuple[int, ...]) -> Recipe:
    """Resolve every `auto` option of `steelscan train` for this dataset; what the user named is kept."""
    masks, boxes = has_pixel_masks(dataset), has_boxes(dataset)
    labels_only = not masks and not boxes
    aspect = median_aspect(cache, train)
    strip = is_strip(aspect)
    if args.trainer == "joint" and not masks and not labels_only:
        raise SteelScanError(dataset.root, "has boxes but no pixel masks",
                             "train it with --trainer staged (or auto)")
    # Whole images for photographs: outlined by masks (joint), or labelled only (the classifier alone).
    whole_candidate = (masks or labels_only) and not strip
    trainer = args.trainer if args.trainer != "auto" else ("joint" if whole_candidate else "staged")
    shape = f"median aspect {max(aspect, 1 / aspect):.1f}:1"
    if strip:
        why = f"long strips ({shape}, at least {STRIP_ASPECT:g}:1)"
    elif masks:
        why = f"photographs outlined by pixel masks ({shape})"
    elif labels_only:
        why = f"photographs with image labels only, no masks or boxes ({shape})"
    else:
        why = f"defects located by boxes only ({shape})"
    if args.input_size == "auto":
        input_size = whole_image_size(aspect) if trainer == "joint" and not is_strip(aspect) else None
    else:
        input_size = None if args.input_size == "native" else parse_size(args.input_size)
    if input_size is not None and trainer != "joint":
        raise SteelScanError("command line", "--input-size needs the joint trainer (whole images and their masks)",
                             "add --trainer joint, or pass --input-size native")
    geometry = "whole" if input_size else native_geometry(cache, train, trainer)
    whole = geometry == "whole"
    arch = args.arch if args.arch != "auto" else ("resnet-slim" if whole else "resnet50")
    normalisation = args.normalisation if args.normalisation != "auto" else ("per-image" if whole else "fixed")
    pooling = args.pooling
    if pooling == "auto":
        # peak: each class scored at its strongest position, so a small defect is not averaged away
        native = geometry in NATIVE_GEOMETRIES and dataset.task == "multi-label"
        pooling = "peak" if whole or native else "avg"
    weight_decay = args.weight_decay
    if weight_decay is None:
        weight_decay = WHOLE_WEIGHT_DECAY if whole else NATIVE_WEIGHT_DECAY
    flips = args.test_time_flips
    # auto: whole images are trained with both flips, so their mirror images are as valid a look as the image
    test_time_flips = (whole and not args.no_augment) if flips == "auto" else flips == "on"
    image_weight = args.image_weight
    if image_weight is None:  # measured on whole images only (README): hold-out AP 0.91 -> 0.93 on magnetic-tile
        image_weight = WHOLE_IMAGE_WEIGHT if whole else 0.0
    # auto: per image for whole images, measured on magnetic-tile (README): over the batch, blowholes and cracks
    # were never outlined. Native-scale joint crops keep the batch Dice they were measured with.
    seg_dice = args.seg_dice if args.seg_dice != "auto" else ("image" if whole else "batch")
    # auto: whole images take the masks into the decision (README: hold-out AP 0.95 -> 1.00 on magnetic-tile)
    scores = args.class_scores if args.class_scores != "auto" else ("head+mask" if whole else "head")
    seg_weight = args.seg_weight
    if labels_only and trainer == "joint":
        seg_weight, scores = 0.0, "head"  # nothing to outline: the head decides alone
    return Recipe(trainer, geometry, input_size, arch, normalisation, pooling, weight_decay, test_time_flips,
                  image_weight, seg_dice, scores, seg_weight, why)
