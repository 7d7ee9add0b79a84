"""Where a training run's weights start: the shipped steel backbone, a checkpoint the user has, or random.

`--pretrained auto` (the default) starts every recipe whose network is the steel backbone's (resnet-slim: whole
images) from `models/steel-backbone` (core.training.pretrain), its hash checked; other recipes (ResNet50 on
strips and boxes) start from random weights, and the log and the card say why. `none` always starts from random
weights; a path names a steel backbone folder, a torchvision checkpoint, or a **model set** (a warm start, as a
review-log job starts from the active set: every weight whose shape fits is loaded, the heads too when the classes
match; an untrained set or another network falls back to `auto`, and the card says so); `hub` takes
torchvision's file from the torch hub cache. Nothing is ever downloaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from core.contract.errors import SteelScanError

STEEL_BACKBONE = Path(__file__).resolve().parents[2] / "models" / "steel-backbone"
HUB_FILES = {"resnet18": "resnet18-", "resnet34": "resnet34-", "resnet50": "resnet50-"}


@dataclass(frozen=True)
class Start:
    kind: str  # "steel-backbone" | "model-set" | "torchvision" | "random"
    path: str | None = None
    sha256: str | None = None
    reason: str = ""

    def describe(self) -> str:
        if self.kind == "steel-backbone":
            return f"steel backbone {self.path} (sha256 {self.sha256[:16]})"
        if self.kind == "torchvision":
            return f"torchvision checkpoint {self.path}"
        if self.kind == "model-set":
            return f"model set {self.path} ({self.sha256})"
        return f"random initialisation ({self.reason})"

    def to_dict(self) -> dict:
        return {"kind": self.kind, "path": self.path, "sha256": self.sha256, "reason": self.reason}


def resolve_start(spec: str | None, architecture: str, steel_backbone: Path = STEEL_BACKBONE) -> Start:
    """What `--pretrained SPEC` means for a network of `architecture`; raises when a named start cannot be used."""
    from core.training.pretrain import CARD_FILE, load_backbone

    spec = spec or "auto"
    if spec == "none":
        return Start("random", reason="--pretrained none")
    if spec == "auto":
        if not (steel_backbone / CARD_FILE).is_file():
            return Start("random", reason=f"no steel backbone at {steel_backbone}")
        card, _ = load_backbone(steel_backbone)
        if card["architecture"] != architecture:
            return Start("random", reason=f"the steel backbone is {card['architecture']}, this recipe's network is "
                                          f"{architecture}")
        return Start("steel-backbone", str(steel_backbone), card["sha256"])
    if spec == "hub":
        return Start("torchvision", str(hub_checkpoint(architecture)))
    path = Path(spec)
    if path.is_dir() and (path / "card.json").is_file():
        return model_set_start(path, architecture, steel_backbone)
    if path.is_dir():
        card, _ = load_backbone(path)
        if card["architecture"] != architecture:
            raise SteelScanError(path, f"is a {card['architecture']} backbone, this recipe trains {architecture}",
                                 f"add --arch {card['architecture']}, or pass --pretrained none")
        return Start("steel-backbone", str(path), card["sha256"])
    if not path.is_file():
        raise SteelScanError(path, "pretrained checkpoint not found",
                             "pass a steel backbone folder, a .pth file, auto or none")
    return Start("torchvision", str(path))


def model_set_start(folder: Path, architecture: str, steel_backbone: Path) -> Start:
    """A warm start from a trained set of the same network; otherwise `auto`'s start, with the reason."""
    from core.modelsets.modelset import read_card

    card = read_card(folder)
    why = ("is untrained" if not card.trained else f"is {card.classifier_architecture}, this recipe trains "
           f"{architecture}" if card.classifier_architecture != architecture else "")
    if why:
        fallback = resolve_start("auto", architecture, steel_backbone)
        return Start(fallback.kind, fallback.path, fallback.sha256,
                     f"the set {folder.name} {why}" + (f"; {fallback.reason}" if fallback.reason else ""))
    return Start("model-set", str(folder), card.fingerprint)


def hub_checkpoint(architecture: str) -> Path:
    folder = Path(torch.hub.get_dir()) / "checkpoints"
    if architecture not in HUB_FILES:
        raise SteelScanError("command line", f"torchvision has no {architecture} checkpoint",
                             "pass --pretrained PATH to a checkpoint of this network, or --pretrained none")
    found = sorted(folder.glob(f"{HUB_FILES[architecture]}*.pth")) if folder.is_dir() else []
    if not found:
        raise SteelScanError(folder, f"holds no torchvision {architecture} checkpoint",
                             "copy one there (e.g. resnet50-0676ba61.pth) or pass --pretrained none")
    return found[0]


def apply_start(start: Start, classifier: torch.nn.Module, segmenter: torch.nn.Module | None) -> list[str]:
    """Load the start's weights into the networks; returns what was loaded, for the log. Random starts make each
    residual block the identity (deep ResNets train faster from scratch so)."""
    if start.kind == "random":
        zero_init_residuals(classifier)
        return []
    if start.kind == "torchvision":
        load_torchvision(classifier, Path(start.path))
        return ["backbone"]
    if start.kind == "model-set":
        return load_model_set_weights(Path(start.path), classifier, segmenter)
    from core.training.pretrain import load_backbone

    _, weights = load_backbone(Path(start.path))
    backbone = {k.removeprefix("backbone."): v for k, v in weights.items() if k.startswith("backbone.")}
    missing, unexpected = classifier.load_state_dict(backbone, strict=False)
    if unexpected or [m for m in missing if not m.startswith("fc.")]:
        raise SteelScanError(start.path, f"does not fit the classifier (unexpected {unexpected[:2]}, "
                                         f"missing {missing[:2]})", "pass --pretrained none")
    loaded = ["backbone"]
    decoder = {k.removeprefix("decoder."): v for k, v in weights.items() if k.startswith("decoder.")}
    if segmenter is not None and decoder:
        own = segmenter.decoder.state_dict()
        if own.keys() == decoder.keys() and all(own[k].shape == decoder[k].shape for k in own):
            segmenter.decoder.load_state_dict(decoder)
            loaded.append("U-Net decoder")
    return loaded


def load_model_set_weights(folder: Path, classifier: torch.nn.Module, segmenter: torch.nn.Module | None) -> list[str]:
    """Every weight of the set whose name and shape fit: backbone, head (same classes), decoder, mask head."""
    from core.modelsets.modelset import load_model_set

    source = load_model_set(folder, "cpu")

    def fitting(own: dict, theirs: dict, prefix: str) -> dict:
        return {k: v.float() for k, v in theirs.items() if k.startswith(prefix) and k in own
                and own[k].shape == v.shape}

    loaded = []
    own, theirs = classifier.state_dict(), source.classifier.state_dict()
    body = fitting(own, theirs, "")
    classifier.load_state_dict(body, strict=False)
    loaded.append("backbone")
    if any(k.startswith("fc.") for k in body):
        loaded.append("head")
    if segmenter is not None:
        own, theirs = segmenter.state_dict(), source.segmenter.state_dict()
        for prefix, name in (("decoder.", "U-Net decoder"), ("segmentation_head.", "mask head")):
            part = fitting(own, theirs, prefix)
            if part and len(part) == sum(k.startswith(prefix) for k in own):
                segmenter.load_state_dict(part, strict=False)
                loaded.append(name)
    return loaded


def load_torchvision(classifier: torch.nn.Module, path: Path) -> None:
    state = torch.load(path, map_location="cpu", weights_only=True)
    state = state.get("state_dict", state) if isinstance(state, dict) else state
    state = {k.removeprefix("module."): v for k, v in state.items() if not k.removeprefix("module.").startswith("fc.")}
    missing, unexpected = classifier.load_state_dict(state, strict=False)
    if unexpected or [m for m in missing if not m.startswith("fc.")]:
        raise SteelScanError(path, f"does not fit the classifier (unexpected {unexpected[:2]}, missing {missing[:2]})",
                             "use a torchvision checkpoint of the same architecture")


def zero_init_residuals(classifier: torch.nn.Module) -> None:
    """Each residual block starts as the identity: deep ResNets train faster from scratch so."""
    for module in classifier.modules():
        last_bn = getattr(module, "bn3", None) or (getattr(module, "bn2", None) if hasattr(module, "conv2")
                                                    and not hasattr(module, "conv3") else None)
        if last_bn is not None and hasattr(module, "downsample"):
            torch.nn.init.zeros_(last_bn.weight)
