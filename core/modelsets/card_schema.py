"""The model card's schema (pydantic): what card.json may hold, checked before anything is built from it.

A card is text from outside the program (copied between plants, edited by hand), and its class names and
colours reach the dashboard's HTML; so names are plain words, colours are `#rrggbb`, numbers lie in range.
Cards carry `schema_version`; `upgrade_card` turns an older card's dict into the current one (pure: returns a
new dict). A bad card gives one line naming the field and the fix.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from core.contract.errors import ModelSetError

CARD_SCHEMA_VERSION = 2
TASKS = ("multi-label", "single-label")
ARCHITECTURES = ("resnet18", "resnet34", "resnet50", "resnet-slim")  # core.modelsets.networks.CLASSIFIER_ARCHITECTURES
POOLINGS = ("avg", "peak")  # core.modelsets.networks.CLASSIFIER_POOLINGS
NORMALISATIONS = ("fixed", "per-image")  # core.modelsets.preprocess.NORMALISATIONS
HEX_COLOUR = r"^#[0-9a-fA-F]{6}$"
# Letters (any script), digits, space and . _ - + ( ) /: enough for "rolled-in_scale", never markup.
CLASS_NAME = r"^\w[\w .+()/-]{0,63}$"
SET_NAME = r"^\w[\w.+-]{0,127}$"
VERSION = r"^[0-9A-Za-z][0-9A-Za-z.+-]{0,63}$"
PATTERN_MEANS = {  # what each pattern asks for, in words for the error line
    HEX_COLOUR: "must be a colour written #rrggbb",
    CLASS_NAME: "must be 1-64 letters, digits, spaces or . _ - + ( ) /, starting with a letter or digit",
    SET_NAME: "must be 1-128 letters, digits or . _ - +, starting with a letter or digit",
    VERSION: "must be 1-64 letters, digits or . + -",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=False)


class ClassSchema(_Strict):
    name: str = Field(pattern=CLASS_NAME)
    color: str = Field(pattern=HEX_COLOUR)
    threshold: float = Field(0.5, ge=0.0, le=1.0)
    min_area: int = Field(0, ge=0, le=10**9)
    pixel_threshold: float = Field(0.5, ge=0.0, le=1.0)


class CardSchema(_Strict):
    schema_version: Literal[2]
    name: str = Field(pattern=SET_NAME)
    version: str = Field(pattern=VERSION)
    task: Literal[TASKS]
    classes: list[ClassSchema] = Field(min_length=1, max_length=256)
    classifier_architecture: Literal[ARCHITECTURES] = "resnet50"
    classifier_pooling: Literal[POOLINGS] = "avg"
    segmenter_encoder: Literal[ARCHITECTURES] = "resnet50"
    segmenter_encoder_source: Literal["classifier", "own"] = "classifier"
    decoder_channels: tuple[int, ...] = Field((128, 64, 32, 16, 8), min_length=5, max_length=5)
    normalisation: Literal[NORMALISATIONS] = "fixed"
    input_size: tuple[int, int] | None = None  # (height, width) the networks see; None: each image's own size
    test_time_flips: bool = False  # average over the image and its mirror images (core.modelsets.flips)
    class_scores: Literal["head", "head+mask"] = "head"  # core.engine.postprocess.class_scores
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.25, 0.25, 0.25)
    trained: bool = False
    pretrained: str | None = Field(None, max_length=1024)
    created: str = Field("", max_length=64)
    description: str = Field("", max_length=4000)
    data_fingerprint: str = Field("", max_length=256)
    metrics: dict[str, Any] = {}
    training: dict[str, Any] = {}
    sha256: dict[str, str] = {}
    exports: dict[str, Any] = {}  # exported copies of the networks (core.modelsets.export) and their sha256
    domain: dict[str, Any] = {}  # the training domain (core.engine.domain): statistics file, sizes, class counts
    lineage: dict[str, Any] = {}  # trained from the review log (core.retrain.lineage): parent, snapshot, gate

    @field_validator("decoder_channels")
    @classmethod
    def _positive_channels(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if not all(1 <= c <= 4096 for c in value):
            raise ValueError("each decoder channel count must lie in 1..4096")
        return value

    @field_validator("input_size")
    @classmethod
    def _network_size(cls, value: tuple[int, int] | None) -> tuple[int, int] | None:
        if value is not None and not all(32 <= v <= 4096 and v % 32 == 0 for v in value):
            raise ValueError("each side must be a multiple of 32 in 32..4096 (the U-Net halves it five times)")
        return value

    @field_validator("mean", "std")
    @classmethod
    def _unit_range(cls, value: tuple[float, ...], info) -> tuple[float, ...]:
        low = 0.0 if info.field_name == "mean" else 1e-6
        if not all(low <= v <= 1.0 for v in value):
            raise ValueError(f"each value must lie in {low:g}..1 (images are scaled to 0..1)")
        return value

    @field_validator("sha256")
    @classmethod
    def _hex_digests(cls, value: dict[str, str]) -> dict[str, str]:
        if not all(re.fullmatch(r"[0-9a-f]{64}", d) for d in value.values()):
            raise ValueError("each digest must be 64 lowercase hex digits")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> CardSchema:
        names = [c.name for c in self.classes]
        if len(set(names)) != len(names):
            raise ValueError(f"class names repeat ({', '.join(names)}); each class needs its own name")
        if self.segmenter_encoder_source == "classifier" and self.segmenter_encoder != self.classifier_architecture:
            raise ValueError("a shared encoder (segmenter_encoder_source 'classifier') must match "
                             "classifier_architecture")
        return self


def upgrade_card(data: dict) -> dict:
    """An older card's dict as the current schema reads it (a new dict; the input is left alone).

    Version 1 (no `schema_version`): cards from before pooling and normalisation were recorded mean
    average pooling and fixed normalisation; version 2 writes both out and records its version.
    """
    card = dict(data)
    version = card.get("schema_version", 1)
    if not isinstance(version, int) or version < 1:
        return card  # the schema names the bad value
    if version == 1:
        card.setdefault("classifier_pooling", "avg")
        card.setdefault("normalisation", "fixed")
        card["schema_version"] = 2
    return card


def _where(loc: tuple, data: dict) -> str:
    parts: list[str] = []
    for i, part in enumerate(loc):
        if isinstance(part, int):
            parts[-1] += f"[{part}]"
            if loc[i - 1] == "classes" and i + 1 < len(loc):  # name the class too: easier to find in the file
                try:
                    parts[-1] += f" ({data['classes'][part]['name']!r})"
                except (KeyError, IndexError, TypeError):
                    pass
        else:
            parts.append(str(part))
    return ".".join(parts) or "card"


def validate_card(data: Any, source: str) -> dict:
    """The card's dict upgraded and validated (defaults filled in); ModelSetError naming the field otherwise."""
    if not isinstance(data, dict):
        raise ModelSetError(source, "is not a valid model card (not a JSON object)", "re-create the model set")
    version = data.get("schema_version", 1)
    if isinstance(version, int) and version > CARD_SCHEMA_VERSION:
        raise ModelSetError(source, f"has schema_version {version}, newer than this SteelScan reads "
                            f"({CARD_SCHEMA_VERSION})", "update SteelScan, or use a card written by this version")
    upgraded = upgrade_card(data)
    try:
        return CardSchema.model_validate(upgraded).model_dump()
    except ValidationError as exc:
        error = exc.errors()[0]
        field = _where(error["loc"], upgraded)
        if error["type"] == "literal_error":
            raise ModelSetError(source, f"{field} {error['input']!r} is unknown",
                                f"use one of {error['ctx']['expected']}") from None
        if error["type"] == "missing":
            raise ModelSetError(source, f"is not a valid model card (field {field} is missing)",
                                "re-create the model set") from None
        shown = repr(error["input"])[:80] if error["type"] != "model_type" else ""
        said = PATTERN_MEANS.get(error.get("ctx", {}).get("pattern"), error["msg"].lower())
        reason = f"is not a valid model card: {field} {said}"
        if shown and error["loc"]:
            reason += f" (got {shown})"
        raise ModelSetError(source, reason, f"fix {field} in the card, or re-create the model set") from None
