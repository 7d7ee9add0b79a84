"""The one result that flows from inference to page to store, unchanged."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from core.imaging.rle import rle_decode, rle_encode


@dataclass(frozen=True)
class Region:
    """One connected defect area of one class."""

    class_name: str
    class_index: int
    area_px: int
    bbox: tuple[int, int, int, int]  # x0, y0, x1, y1 inclusive
    mean_probability: float


def _read_only(array: np.ndarray) -> np.ndarray:
    array = np.ascontiguousarray(array, dtype=bool)
    array.flags.writeable = False
    return array


# A sheet's coil and position are not in the Verdict: they are the line's context, not the model's output (the same
# image re-inspected by another set lies at the same place; an upload has none). They are recorded beside it, in the
# inference's columns (core.contract.coil.CoilPlace, InferenceRow.coil/.position), and travel in its message.
@dataclass(frozen=True, eq=False)
class Verdict:
    image_name: str
    image_sha256: str
    width: int
    height: int
    class_names: tuple[str, ...]
    probabilities: tuple[float, ...]  # classifier, per class (sigmoid or softmax per the card's task)
    thresholds: tuple[float, ...]
    defective: bool
    classes_present: tuple[str, ...]
    masks: np.ndarray  # (classes, height, width) bool after thresholds and the minimum-area rule
    regions: tuple[Region, ...]
    model_set: str
    model_version: str
    model_fingerprint: str
    model_trained: bool
    device: str
    segmenter_ran: bool
    timings_ms: Mapping[str, float] = field(default_factory=dict)
    created_at: str = ""
    # How unlike the model's training images this one looks (core.engine.domain): 1.0 = the
    # calibration limit, above = out of domain. None when the model set records no domain
    # (and for verdicts stored before the score existed).
    ood_score: float | None = None
    out_of_domain: bool = False
    # familiar | unusual | out of domain (core.engine.domain.LEVELS, the set's card's cut-offs); "" with no domain
    domain_level: str = ""
    # Whitened principal coordinates of its features in the set's domain: the review queue's "far from what was
    # reviewed" (core.review.queue). () with no domain.
    embedding: tuple[float, ...] = ()
    backend: str = "torch"  # what ran the networks: torch, onnx (ONNX Runtime) or openvino
    precision: str = "fp32"  # fp32, bf16, fp16 (torch autocast) or int8 (a quantized export)

    def __post_init__(self) -> None:
        object.__setattr__(self, "masks", _read_only(self.masks))
        object.__setattr__(self, "timings_ms", MappingProxyType(dict(self.timings_ms)))

    @property
    def top_class(self) -> str:
        return self.class_names[int(np.argmax(self.probabilities))]

    @property
    def top_probability(self) -> float:
        return float(max(self.probabilities))

    @property
    def label(self) -> str:
        return "defective" if self.defective else "clean"

    def margin(self) -> float:
        """Smallest distance of any class probability from its threshold: small = uncertain."""
        return float(min(abs(p - t) for p, t in zip(self.probabilities, self.thresholds, strict=True)))

    def mask_area(self, class_name: str) -> int:
        return int(self.masks[self.class_names.index(class_name)].sum())

    def mask_rles(self) -> dict[str, str]:
        """Non-empty class masks as Severstal RLE strings."""
        return {name: rle_encode(self.masks[i]) for i, name in enumerate(self.class_names) if self.masks[i].any()}

    def summary(self) -> dict:
        """Everything but the masks, JSON-ready (the CLI's --json line)."""
        return {
            "image": self.image_name,
            "sha256": self.image_sha256,
            "size": [self.width, self.height],
            "verdict": self.label,
            "classes": list(self.classes_present),
            "probabilities": dict(zip(self.class_names, (round(p, 4) for p in self.probabilities), strict=True)),
            "regions": [
                {
                    "class": r.class_name,
                    "area_px": r.area_px,
                    "bbox": list(r.bbox),
                    "mean_probability": round(r.mean_probability, 4),
                }
                for r in self.regions
            ],
            "model_set": self.model_set,
            "model_version": self.model_version,
            "model_trained": self.model_trained,
            "device": self.device,
            "segmenter_ran": self.segmenter_ran,
            "backend": self.backend,
            "precision": self.precision,
            "timings_ms": {k: round(v, 2) for k, v in self.timings_ms.items()},
            "created_at": self.created_at,
            "ood_score": None if self.ood_score is None else round(self.ood_score, 4),
            "out_of_domain": self.out_of_domain,
            "domain_level": self.domain_level,
        }

    def to_dict(self) -> dict:
        """Lossless and JSON-ready: masks travel as RLE; `from_dict` rebuilds an equal Verdict."""
        data = self.summary()
        data.update(
            probabilities=list(self.probabilities),
            thresholds=list(self.thresholds),
            class_names=list(self.class_names),
            masks_rle=self.mask_rles(),
            model_fingerprint=self.model_fingerprint,
            defective=self.defective,
            ood_score=self.ood_score,
            embedding=list(self.embedding),
            timings_ms=dict(self.timings_ms),
            regions=[
                {
                    "class": r.class_name,
                    "area_px": r.area_px,
                    "bbox": list(r.bbox),
                    "mean_probability": r.mean_probability,
                }
                for r in self.regions
            ],
        )
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Verdict:
        names = tuple(data["class_names"])
        width, height = data["size"]
        masks = np.zeros((len(names), height, width), dtype=bool)
        for name, rle in data["masks_rle"].items():
            masks[names.index(name)] = rle_decode(rle, (height, width)).astype(bool)
        regions = tuple(
            Region(r["class"], names.index(r["class"]), r["area_px"], tuple(r["bbox"]), r["mean_probability"])
            for r in data["regions"]
        )
        return cls(
            image_name=data["image"],
            image_sha256=data["sha256"],
            width=width,
            height=height,
            class_names=names,
            probabilities=tuple(data["probabilities"]),
            thresholds=tuple(data["thresholds"]),
            defective=data["defective"],
            classes_present=tuple(data["classes"]),
            masks=masks,
            regions=regions,
            model_set=data["model_set"],
            model_version=data["model_version"],
            model_fingerprint=data["model_fingerprint"],
            model_trained=data["model_trained"],
            device=data["device"],
            segmenter_ran=data["segmenter_ran"],
            timings_ms=data["timings_ms"],
            created_at=data["created_at"],
            ood_score=data.get("ood_score"),
            out_of_domain=bool(data.get("out_of_domain", False)),
            # Verdicts stored before the graded levels had one cut-off: out of domain or not.
            domain_level=data.get("domain_level") or _level_before_grading(data),
            embedding=tuple(data.get("embedding") or ()),
            # Verdicts stored before backends existed all ran in torch; their precision is in the device label.
            backend=data.get("backend", "torch"),
            precision=data.get("precision") or _precision_from_device(data["device"]),
        )


def _level_before_grading(data: dict) -> str:
    if data.get("ood_score") is None:
        return ""
    return "out of domain" if data.get("out_of_domain") else "familiar"


def _precision_from_device(device: str) -> str:
    """'cpu/bf16' -> 'bf16', 'cuda/fp16' -> 'fp16', a bare device ran in fp32 (the old engine's labels)."""
    _, _, dtype = device.partition("/")
    return dtype or "fp32"
