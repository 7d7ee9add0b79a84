"""Training data: deterministic splits, an in-memory image cache, crops with their labels.

Long strips and images with pixel masks ('tile') are trained on crops at native scale (the engine
inspects whole images unresized); crops lean towards defects so rare classes and small defects are
seen often enough, and the rest are drawn anywhere, so clean surface is seen too.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.model_selection import train_test_split
from torch.utils.data import Dataset as TorchDataset
from torch.utils.data import WeightedRandomSampler

from core.datasets import Dataset, Sample
from core.datasets.reserved import is_reserved
from core.imaging.imageio import load_image
from core.modelsets.preprocess import Normaliser
from core.training.augment import patch_pipeline, strip_pipeline

NATIVE_GEOMETRIES = ("strip", "tile")
MIN_CROP_PIXELS = 12  # a crop shows a class when it holds at least this much of its mask


@dataclass(frozen=True)
class Split:
    train: tuple[int, ...]
    val: tuple[int, ...]
    holdout: tuple[int, ...]


def stratify_keys(dataset: Dataset, indices: list[int]) -> list[str]:
    """One key per sample (its label set); keys too rare to split fall back to their first label."""
    keys = ["+".join(map(str, dataset.samples[i].labels)) or "clean" for i in indices]
    counts = Counter(keys)
    keys = [k if counts[k] >= 4 else k.split("+")[0] for k in keys]
    counts = Counter(keys)
    return [k if counts[k] >= 4 else "rare" for k in keys]


def _split(indices: list[int], keys: list[str], fraction: float, seed: int) -> tuple[list[int], list[int]]:
    if fraction <= 0 or len(indices) < 2:
        return indices, []
    stratify = keys if min(Counter(keys).values()) >= 2 else None
    try:
        kept, taken = train_test_split(indices, test_size=fraction, random_state=seed, stratify=stratify)
    except ValueError:  # too few samples per key for a stratified split
        kept, taken = train_test_split(indices, test_size=fraction, random_state=seed)
    return sorted(kept), sorted(taken)


def split_dataset(dataset: Dataset, val_fraction: float, holdout_fraction: float = 0.0, seed: int = 0,
                  reserved_holdout: bool = False) -> Split:
    """Deterministic stratified split: holdout first (never used by training), then validation.
    The same dataset, fractions and seed give the same split on every machine.

    A dataset with its own split (YOLO / COCO exports) keeps it: its val and test parts are the
    validation and hold-out; a part it lacks is carved from its train part by the fraction.
    `reserved_holdout`: the hold-out is exactly the images the steel backbone's pre-training never read
    (core.datasets.reserved), whatever the seed; the seed then varies the validation part only."""
    order = sorted(range(len(dataset.samples)), key=lambda i: dataset.samples[i].image_path.name)
    if reserved_holdout:
        held = {i for i in order if is_reserved(dataset.samples[i].image_path)}
        # A dataset's own test images stay out of training even when they are not reserved (left unused).
        rest = [i for i in order if i not in held and dataset.samples[i].split != "test"]
        own_val = {i for i in rest if dataset.samples[i].split == "val"}
        train, val = (([i for i in rest if i not in own_val], sorted(own_val)) if own_val else
                      _split(rest, stratify_keys(dataset, rest), val_fraction, seed + 1))
        return Split(tuple(train), tuple(val), tuple(sorted(held)))
    if dataset.own_split:
        own = {name: [i for i in order if dataset.samples[i].split == name] for name in ("train", "val", "test")}
        rest, holdout = own["train"], own["test"]
        if not holdout:
            rest, holdout = _split(rest, stratify_keys(dataset, rest), holdout_fraction, seed)
        train, val = (rest, own["val"]) if own["val"] else _split(rest, stratify_keys(dataset, rest), val_fraction,
                                                                  seed + 1)
        return Split(tuple(train), tuple(val), tuple(holdout))
    rest, holdout = _split(order, stratify_keys(dataset, order), holdout_fraction, seed)
    train, val = _split(rest, stratify_keys(dataset, rest), val_fraction, seed + 1)
    return Split(tuple(train), tuple(val), tuple(holdout))


class ImageCache:
    """Decoded RGB images kept in memory: decoding JPEGs every step would dominate CPU time."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset
        self._pixels: dict[int, np.ndarray] = {}

    def pixels(self, index: int) -> np.ndarray:
        if index not in self._pixels:
            self._pixels[index] = load_image(self.dataset.samples[index].image_path).pixels
        return self._pixels[index]

    def forget(self, index: int) -> None:
        """Drop one decoded image (a caller that keeps its own smaller copy); it is decoded again if asked for."""
        self._pixels.pop(index, None)

    def masks(self, index: int) -> np.ndarray:
        """(classes, H, W) uint8; drawn on demand (RLEs and boxes are cheap, full masks are not)."""
        pixels = self.pixels(index)
        return self.dataset.samples[index].masks(pixels.shape[0], pixels.shape[1], len(self.dataset.class_names))


def balanced_weights(samples: list[Sample], num_classes: int) -> np.ndarray:
    """Sampling weight per sample: the mean inverse frequency of its classes (clean is a class),
    so a rare class is drawn about as often as a common one."""
    counts = np.zeros(num_classes + 1)
    for sample in samples:
        for k in sample.labels or (num_classes,):
            counts[k] += 1
    inverse = 1.0 / np.maximum(counts, 1)
    return np.array([np.mean([inverse[k] for k in (s.labels or (num_classes,))]) for s in samples])


def clean_share_weights(samples: list[Sample], num_classes: int, clean_share: float) -> np.ndarray:
    """Sampling weights that draw clean images `clean_share` of the time and defective ones class-balanced
    among themselves. Class balance alone makes clean one class among K + 1, so with five defect classes
    only 1 draw in 6 is a clean image, while the image-level score is judged mostly on clean images
    (most of a line's output)."""
    balanced = balanced_weights(samples, num_classes)
    clean = np.array([not s.labels for s in samples])
    if clean.all() or not clean.any():
        return balanced
    defect = np.where(clean, 0.0, balanced)
    return np.where(clean, clean_share / clean.sum(), (1.0 - clean_share) * defect / defect.sum())


def make_sampler(dataset: Dataset, indices: tuple[int, ...], num_samples: int, balanced: bool,
                 seed: int, clean_share: float | None = None) -> WeightedRandomSampler:
    samples = [dataset.samples[i] for i in indices]
    if clean_share is not None:
        weights = clean_share_weights(samples, len(dataset.class_names), clean_share)
    else:
        weights = balanced_weights(samples, len(dataset.class_names)) if balanced else np.ones(len(samples))
    generator = torch.Generator().manual_seed(seed)
    return WeightedRandomSampler(weights.tolist(), num_samples=num_samples, replacement=True, generator=generator)


class CropDataset(TorchDataset):
    """Position i of `indices` -> (normalised CHW image, label vector, (K,h,w) mask) of one crop.

    `geometry` 'strip' or 'tile': fixed-size crops at native scale, centred on a defect with probability
    `defect_bias` (elsewhere anywhere), labels from what the crop holds; an image smaller than the crop
    is padded by reflection (its mask with background). 'patch': zoomed square crops (NEU-style
    photographs) that keep the image's label.
    """

    def __init__(self, cache: ImageCache, indices: tuple[int, ...], geometry: str, crop: tuple[int, int],
                 task: str, normaliser: Normaliser, augment: bool = True,
                 defect_bias: float = 0.6, seed: int = 0, with_masks: bool = False,
                 photometric: float = 1.0) -> None:
        self.cache, self.indices, self.geometry, self.crop, self.task = cache, indices, geometry, crop, task
        self.num_classes = len(cache.dataset.class_names)
        self.augment, self.defect_bias, self.with_masks = augment, defect_bias, with_masks
        native = geometry in NATIVE_GEOMETRIES
        self.pipeline = (strip_pipeline(augment, photometric) if native
                         else patch_pipeline(crop[0], augment, strength=photometric))
        self.normaliser = normaliser
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, position: int):
        index = self.indices[position]
        sample = self.cache.dataset.samples[index]
        pixels, masks = self.cache.pixels(index), self.cache.masks(index)
        if self.geometry in NATIVE_GEOMETRIES:
            pixels, masks = self._strip_crop(pixels, masks, sample.labels)
        out = self.pipeline(image=pixels, mask=np.ascontiguousarray(masks.transpose(1, 2, 0)))
        image, mask = out["image"], out["mask"].transpose(2, 0, 1)
        # torch.tensor copies: cached images are read-only, and the crop is small.
        x = self.normaliser(torch.tensor(image).permute(2, 0, 1)[None].float())[0].contiguous()
        target = np.zeros(self.num_classes, dtype=np.float32)
        if self.task == "single-label":
            target[list(sample.labels)] = 1.0
        else:
            target[mask.reshape(self.num_classes, -1).sum(1) >= MIN_CROP_PIXELS] = 1.0
        return x, torch.from_numpy(target), torch.from_numpy(np.ascontiguousarray(mask, dtype=np.float32))

    def _strip_crop(self, pixels: np.ndarray, masks: np.ndarray, labels: tuple[int, ...]):
        pixels, masks = pad_to(pixels, masks, self.crop)
        height, width = pixels.shape[:2]
        ch, cw = min(self.crop[0], height), min(self.crop[1], width)
        ys = xs = ()
        if labels and self.rng.random() < self.defect_bias:
            ys, xs = np.nonzero(masks[self.rng.choice(labels)])
        if len(ys):
            pick = self.rng.integers(len(ys))
            cy = ys[pick] + self.rng.integers(-ch // 3, ch // 3 + 1)
            cx = xs[pick] + self.rng.integers(-cw // 3, cw // 3 + 1)
            y0, x0 = int(np.clip(cy - ch // 2, 0, height - ch)), int(np.clip(cx - cw // 2, 0, width - cw))
        else:
            y0, x0 = int(self.rng.integers(0, height - ch + 1)), int(self.rng.integers(0, width - cw + 1))
        return pixels[y0 : y0 + ch, x0 : x0 + cw], masks[:, y0 : y0 + ch, x0 : x0 + cw]


def pad_to(pixels: np.ndarray, masks: np.ndarray, crop: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Pad an image smaller than the crop (reflection) and its (K,H,W) masks (background) up to it,
    so every crop of a batch has one size."""
    pad_h, pad_w = max(0, crop[0] - pixels.shape[0]), max(0, crop[1] - pixels.shape[1])
    if not (pad_h or pad_w):
        return pixels, masks
    top, left = pad_h // 2, pad_w // 2
    spec = ((top, pad_h - top), (left, pad_w - left))
    mode = "reflect" if min(pixels.shape[:2]) > max(pad_h, pad_w) else "edge"
    return np.pad(pixels, (*spec, (0, 0)), mode=mode), np.pad(masks, ((0, 0), *spec))


def seed_worker(worker_id: int) -> None:
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)


class WholeImageDataset(TorchDataset):
    """Position i of `indices` -> (network input, label vector, (K, h, w) masks) of one whole image at the
    card's input size (`normaliser.size`): the network sees every defect in its context, as the engine will.

    Each image is normalised and resized once (then cached); masks are area-averaged to that size, so a
    one-pixel crack stays in the target at a fraction instead of vanishing. Augmentation: flips on both
    axes, and a gain and an offset on the normalised input (after normalisation, so per-image
    normalisation does not cancel them), scaled by `photometric`."""

    def __init__(self, cache: ImageCache, indices: tuple[int, ...], task: str, normaliser: Normaliser,
                 augment: bool = True, seed: int = 0, photometric: float = 1.0) -> None:
        if normaliser.size is None:
            raise ValueError("whole-image training needs a fixed input size (card input_size)")
        self.cache, self.indices, self.task, self.normaliser = cache, indices, task, normaliser
        self.num_classes = len(cache.dataset.class_names)
        self.augment, self.photometric = augment, photometric
        self.rng = np.random.default_rng(seed)
        self._resized: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def __len__(self) -> int:
        return len(self.indices)

    def resized(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(network input, masks) of one image at the input size, as float32."""
        if index not in self._resized:
            pixels, masks = self.cache.pixels(index), self.cache.masks(index)
            x = self.normaliser(torch.tensor(pixels).permute(2, 0, 1)[None].float())[0]
            target = torch.nn.functional.interpolate(torch.from_numpy(masks)[None].float(), size=self.normaliser.size,
                                                     mode="area")[0]
            # Kept small (fp16 input, masks in 1/255 steps: ~0.4 MB an image at 224 px with 5 classes) and the
            # full-size decode dropped: 10,000 photographs of 2,000 px would otherwise hold over 100 GB.
            self._resized[index] = (x.half().contiguous(), (target * 255).round().to(torch.uint8))
            self.cache.forget(index)
        x, masks = self._resized[index]
        return x.float(), masks.float() / 255

    def __getitem__(self, position: int):
        index = self.indices[position]
        x, masks = self.resized(index)
        if self.augment:
            dims = [d for d, flip in ((1, self.rng.random() < 0.5), (2, self.rng.random() < 0.5)) if flip]
            if dims:
                x, masks = x.flip(dims), masks.flip(dims)
            if self.photometric:
                gain = 1.0 + self.rng.uniform(-0.2, 0.2) * self.photometric
                x = x * gain + float(self.rng.normal(0.0, 0.1 * self.photometric))
        target = np.zeros(self.num_classes, dtype=np.float32)
        target[list(self.cache.dataset.samples[index].labels)] = 1.0
        return x, torch.from_numpy(target), masks
