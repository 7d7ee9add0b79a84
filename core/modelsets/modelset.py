"""Model sets on disk: models/<name>/card.json + safetensors weights, hash-checked on load.

A card describes itself fully: loading rebuilds both networks from it, never unpickles anything,
and refuses a weight file whose sha256 differs from the card's.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from core.contract.errors import ModelSetError
from core.imaging.palette import PALETTE as _PALETTE
from core.modelsets.card_schema import CARD_SCHEMA_VERSION, TASKS, validate_card  # noqa: F401 (TASKS re-exported)
from core.modelsets.networks import build_classifier, build_segmenter, share_encoder

CARD_FILE = "card.json"
CLASSIFIER_FILE = "classifier.safetensors"
SEGMENTER_FILE = "segmenter.safetensors"
PALETTE = _PALETTE  # one palette for overlays and charts (core.imaging.palette)


@dataclass(frozen=True)
class ClassSpec:
    name: str
    color: str  # "#rrggbb"
    threshold: float = 0.5  # classifier probability at which the class is called present
    min_area: int = 0  # a class mask smaller than this (px) is dropped, and the class with it
    pixel_threshold: float = 0.5  # segmenter probability at which a pixel belongs to the mask


@dataclass(frozen=True)
class ModelCard:
    name: str
    version: str
    task: str
    classes: tuple[ClassSpec, ...]
    classifier_architecture: str = "resnet50"
    classifier_pooling: str = "avg"  # "avg" or "peak" (core.modelsets.networks.PeakResNet)
    segmenter_encoder: str = "resnet50"
    # "classifier": the U-Net encoder is the classifier's backbone (frozen while the decoder
    # trained), so inference runs the backbone once; "own": the U-Net has its own encoder.
    segmenter_encoder_source: str = "classifier"
    decoder_channels: tuple[int, ...] = (128, 64, 32, 16, 8)
    normalisation: str = "fixed"  # "fixed" (mean/std below) or "per-image" (core.modelsets.preprocess)
    # (height, width) every image is resized to before the networks, masks resized back to the image's size;
    # None: the networks see each image at its own size (strips).
    input_size: tuple[int, int] | None = None
    # Score each image with its mirror images too and average (core.modelsets.flips): whole-image sets.
    test_time_flips: bool = False
    # "head": a class's probability is the classifier head's; "head+mask": the mean of the head's and the
    # U-Net's strongest 5x5-averaged pixel of that class (core.engine.postprocess.class_scores).
    class_scores: str = "head"
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.25, 0.25, 0.25)
    trained: bool = False
    pretrained: str | None = None  # where initial weights came from, if anywhere
    created: str = ""
    description: str = ""
    data_fingerprint: str = ""
    metrics: dict = field(default_factory=dict)
    training: dict = field(default_factory=dict)
    sha256: dict = field(default_factory=dict)  # weight file name -> hex digest
    # The training domain (core.engine.domain): data fingerprint, image sizes, class counts and the
    # feature statistics' file with its sha256. Not part of `fingerprint`: fitting it changes no weights.
    domain: dict = field(default_factory=dict)
    schema_version: int = CARD_SCHEMA_VERSION  # card_schema.upgrade_card reads older cards
    # Exported copies of the networks (core.modelsets.export), e.g. "openvino-int8" -> {"files": {relative
    # path: sha256}, ...}. Kept apart from `sha256` so exporting never changes the set's fingerprint.
    exports: dict = field(default_factory=dict)
    # Sets trained from the review log (core.retrain): parent set, review-log snapshot, the gate's evaluation
    # and who promoted it. Not part of `fingerprint` either: promotion adds to it without changing weights.
    lineage: dict = field(default_factory=dict)

    @property
    def class_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.classes)

    @property
    def shared_encoder(self) -> bool:
        return self.segmenter_encoder_source == "classifier"

    @property
    def fingerprint(self) -> str:
        """Name, version and weight hashes: the cache key and the provenance a verdict records."""
        digest = hashlib.sha256(json.dumps(self.sha256, sort_keys=True).encode()).hexdigest()[:12]
        return f"{self.name}@{self.version}+{digest}"

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_dict(cls, data: dict, source: str = CARD_FILE) -> ModelCard:
        """A card from its JSON dict: upgraded from older schema versions, then validated (card_schema)."""
        valid = validate_card(data, source)
        classes = tuple(ClassSpec(**c) for c in valid.pop("classes"))
        return cls(classes=classes, **{k: tuple(v) if isinstance(v, list) else v for k, v in valid.items()})


@dataclass(frozen=True)
class ModelSet:
    """A loaded model set: read-only networks in eval mode, shared by every caller."""

    card: ModelCard
    folder: Path
    classifier: nn.Module
    segmenter: nn.Module


def new_card(name: str, class_names: tuple[str, ...], task: str = "multi-label", **overrides) -> ModelCard:
    classes = tuple(ClassSpec(n, PALETTE[i % len(PALETTE)]) for i, n in enumerate(class_names))
    created = datetime.now(UTC).isoformat(timespec="seconds")
    return replace(ModelCard(name=name, version="0.0.0", task=task, classes=classes, created=created), **overrides)


def build_networks(card: ModelCard) -> tuple[nn.Module, nn.Module]:
    classifier = build_classifier(card.classifier_architecture, len(card.classes), card.classifier_pooling)
    segmenter = build_segmenter(card.segmenter_encoder, len(card.classes), card.decoder_channels)
    if card.shared_encoder:
        share_encoder(classifier, segmenter)
    return classifier, segmenter


def segmenter_state(card: ModelCard, segmenter: nn.Module) -> dict[str, torch.Tensor]:
    """What a segmenter file stores: without the encoder when the classifier provides it."""
    state = segmenter.state_dict()
    if card.shared_encoder:
        state = {k: v for k, v in state.items() if not k.startswith("encoder.")}
    return state


def save_model_set(folder: str | Path, card: ModelCard, classifier: nn.Module, segmenter: nn.Module) -> ModelCard:
    """Write fp16 safetensors and the card with their hashes; returns the card as written."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    hashes = {}
    for file_name, state in (
        (CLASSIFIER_FILE, classifier.state_dict()),
        (SEGMENTER_FILE, segmenter_state(card, segmenter)),
    ):
        # fp16 halves the files; BatchNorm's integer step counter stays as it is.
        half = {
            k: (v.detach().half() if v.is_floating_point() else v.detach()).contiguous().cpu() for k, v in state.items()
        }
        save_file(half, str(folder / file_name), metadata={"model_set": card.name, "version": card.version})
        hashes[file_name] = sha256_file(folder / file_name)
    card = replace(card, sha256=hashes)
    (folder / CARD_FILE).write_text(card.to_json() + "\n")
    return card


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_card(folder: str | Path) -> ModelCard:
    folder = Path(folder)
    path = folder / CARD_FILE
    if not path.is_file():
        raise ModelSetError(path, "is missing", f"a model set folder needs {CARD_FILE}; re-create or re-copy it")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ModelSetError(
            path, f"is not valid JSON ({exc.msg}, line {exc.lineno})", "re-copy the model set"
        ) from None
    return ModelCard.from_dict(data, str(path))


def write_card(folder: Path, card: ModelCard) -> None:
    """Replace card.json atomically: a crash mid-write never leaves a set without a readable card."""
    temporary = folder / f".{CARD_FILE}.tmp"
    temporary.write_text(card.to_json() + "\n")
    temporary.replace(folder / CARD_FILE)


def verify_weights(folder: Path, card: ModelCard) -> None:
    verify_files(folder, {name: card.sha256.get(name) for name in (CLASSIFIER_FILE, SEGMENTER_FILE)},
                 "re-save the model set")


def verify_files(folder: Path, expected_hashes: dict[str, str | None], fix_missing_hash: str) -> None:
    """Each file must exist and match the card's sha256, or loading stops naming the file."""
    for file_name, expected in expected_hashes.items():
        path = folder / file_name
        if not path.is_file():
            raise ModelSetError(path, "is missing", "re-copy the model set folder")
        if not expected:
            raise ModelSetError(folder / CARD_FILE, f"has no sha256 for {file_name}", fix_missing_hash)
        actual = sha256_file(path)
        if actual != expected:
            raise ModelSetError(
                path,
                f"sha256 {actual[:12]}… does not match the card's {expected[:12]}… (truncated, corrupted or replaced)",
                "re-copy the model set folder",
            )


def load_model_set(folder: str | Path, device: torch.device | str = "cpu") -> ModelSet:
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelSetError(
            folder, "is not a model set folder", "list installed sets with `python -m core.predict --list`"
        )
    card = read_card(folder)
    verify_weights(folder, card)
    classifier, segmenter = build_networks(card)
    _load_state(folder / CLASSIFIER_FILE, classifier)
    _load_state(folder / SEGMENTER_FILE, segmenter, skip_prefix="encoder." if card.shared_encoder else None)
    for network in (classifier, segmenter):
        network.eval().requires_grad_(False)  # shared and read-only; Grad-CAM needs no weight gradients
        network.to(device=device, memory_format=torch.channels_last)
    if card.shared_encoder:
        share_encoder(classifier, segmenter)  # after the move, so both hold the very same tensors
    return ModelSet(card=card, folder=folder, classifier=classifier, segmenter=segmenter)


def _load_state(path: Path, network: nn.Module, skip_prefix: str | None = None) -> None:
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError) as exc:
        raise ModelSetError(path, f"is not a readable safetensors file ({exc})", "re-copy the model set") from None
    expected = {k: v for k, v in network.state_dict().items() if not (skip_prefix and k.startswith(skip_prefix))}
    if set(state) != set(expected):
        extra, missing = sorted(set(state) - set(expected)), sorted(set(expected) - set(state))
        raise ModelSetError(
            path,
            f"does not match the card's architecture (missing {missing[:2]}, extra {extra[:2]})",
            "the card and weights come from different models; re-save the model set",
        )
    for key, tensor in state.items():
        if tensor.shape != expected[key].shape:
            raise ModelSetError(
                path,
                f"{key} has shape {tuple(tensor.shape)}, the card's model needs {tuple(expected[key].shape)}",
                "re-save the model set",
            )
    network.load_state_dict({k: v.to(expected[k].dtype) for k, v in state.items()}, strict=skip_prefix is None)


def list_model_sets(models_dir: str | Path) -> list[str]:
    root = Path(models_dir)
    return sorted(p.name for p in root.iterdir() if (p / CARD_FILE).is_file()) if root.is_dir() else []


def create_untrained(
    folder: str | Path, name: str, class_names: tuple[str, ...], task: str = "multi-label", seed: int = 0, **overrides
) -> ModelCard:
    """A randomly initialised model set: runs end to end, and its verdicts say it is untrained."""
    torch.manual_seed(seed)
    card = new_card(
        name, class_names, task, trained=False, description="untrained (random initialisation)", **overrides
    )
    classifier, segmenter = build_networks(card)
    return save_model_set(folder, card, classifier, segmenter)
