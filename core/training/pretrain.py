"""Pre-train the steel backbone: a resnet-slim and its U-Net decoder that have seen steel before a plant's data.

    steelscan pretrain --out models/steel-backbone     # the shipped one: docs/training.md says how it was made

A plant brings a few dozen labelled defects and many clean images; from random weights, a network spends most of
its budget learning what a steel surface looks like. This command teaches that once, on the public steel data
(core.training.pretrain_data: NEU-DET, magnetic-tile, CR7-DET, the Severstal sample, synthetic strips), with
three tasks sharing one backbone:
- **the sources' own labels**: a head per source (its classes; softmax for single-label sources), scored at the
  strongest position of the last feature map (peak pooling, as the whole-image recipe scores);
- **pasted defects** (core.training.pasted_defects, DRAEM / CutPaste): half of the images get a synthetic
  defect; the decoder outlines real and pasted defects as one "defect" channel, where the pixels are known;
- **any defect?**: one more peak-pooled logit, real or pasted.
Only the backbone and decoder are kept; `steelscan train` starts whole-image recipes from them
(`--pretrained auto`, the default) and every card says so.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn
from tqdm import tqdm

from core.contract.errors import SteelScanError
from core.datasets.reserved import RESERVED_SHARE
from core.modelsets.devices import pick_device
from core.modelsets.networks import (
    backbone_features,
    build_classifier,
    build_segmenter,
    decode_masks,
    decoder_channels_for,
    share_encoder,
)
from core.training.joint import init_mask_prior
from core.training.loops import autocast, cosine_with_warmup
from core.training.pasted_defects import paste_defect
from core.training.pretrain_data import SIDE, Pool, build_pool

ARCH = "resnet-slim"
# Not card.json: models/ lists every folder with a card.json as a model set, and this is no model set.
WEIGHTS_FILE, CARD_FILE = "backbone.safetensors", "backbone.json"
MIN_STD = 4.0  # as core.modelsets.preprocess: per-image standardisation, flat images not stretched


@dataclass(frozen=True)
class PretrainConfig:
    sources: tuple[Path, ...]
    out: Path
    synthetic: int = 300  # fresh synthetic strips added as one more source
    clean_only: tuple[Path, ...] = ()  # datasets whose clean images alone are used (no labels: pasted defects)
    steps: int = 2000
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 5e-4
    paste_share: float = 0.5  # share of drawn images that get a pasted defect
    seed: int = 0
    device: str = "auto"
    run_dir: Path = Path("runs/steel-backbone")
    checkpoint_every: int = 100
    command: str = ""


class PretrainNet(nn.Module):
    """Backbone (classifier layers) + U-Net decoder with one "defect" channel + a peak head per source + any-defect."""

    def __init__(self, class_counts: list[int]) -> None:
        super().__init__()
        self.backbone = build_classifier(ARCH, 1, "peak")
        self.segmenter = build_segmenter(ARCH, 1, decoder_channels_for(ARCH))
        share_encoder(self.backbone, self.segmenter)
        width = self.backbone.fc.in_features
        self.heads = nn.ModuleList(nn.Conv2d(width, max(count, 1), 1) for count in class_counts)
        self.any_defect = nn.Conv2d(width, 1, 1)
        init_mask_prior(self.segmenter, 0.02)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor], torch.Tensor]:
        features = backbone_features(self.backbone, x)
        top = features[-1]
        masks = decode_masks(self.segmenter, features)
        return self.any_defect(top).amax((2, 3))[:, 0], [head(top).amax((2, 3)) for head in self.heads], masks

    def kept_state(self) -> dict[str, torch.Tensor]:
        """What ships: the backbone (no fc) and the decoder, under the names the trainer loads."""
        state = {f"backbone.{k}": v for k, v in self.backbone.state_dict().items() if not k.startswith("fc.")}
        state.update({f"decoder.{k}": v for k, v in self.segmenter.decoder.state_dict().items()})
        return {k: v.detach().float().contiguous().cpu() for k, v in state.items()}


def draw_batch(pool: Pool, rng: np.random.Generator, size: int, paste_share: float, weights: np.ndarray):
    """(inputs, any-defect targets, per-image (source, labels), masks, known) for one batch."""
    images, anys, labels, masks, known = [], [], [], [], []
    for index in rng.choice(len(pool), size=size, p=weights):
        image, defect, trusted = pool.images[index], pool.defects[index], pool.known[index]
        if rng.random() < paste_share:
            image, pasted = paste_defect(image, pool.images[int(rng.integers(len(pool)))], rng)
            defect, trusted = np.maximum(defect, pasted), np.maximum(trusted, pasted)
        if rng.random() < 0.5:
            image, defect, trusted = image[:, ::-1], defect[:, ::-1], trusted[:, ::-1]
        if rng.random() < 0.5:
            image, defect, trusted = image[::-1], defect[::-1], trusted[::-1]
        images.append(np.ascontiguousarray(image))
        masks.append(np.ascontiguousarray(defect))
        known.append(np.ascontiguousarray(trusted))
        anys.append(float(pool.labels[index].any() or defect.any()))
        labels.append((pool.source_of[index], pool.labels[index]))
    x = torch.from_numpy(np.stack(images)).float()[:, None]
    flat = x.flatten(1)
    x = (x - flat.mean(1).view(-1, 1, 1, 1)) / flat.std(1).clamp_min(MIN_STD).view(-1, 1, 1, 1)
    gain = torch.from_numpy(rng.uniform(0.8, 1.2, size)).float().view(-1, 1, 1, 1)
    x = (x * gain + torch.from_numpy(rng.normal(0, 0.1, size)).float().view(-1, 1, 1, 1)).expand(-1, 3, -1, -1)
    return (x.contiguous(), torch.tensor(anys), labels, torch.from_numpy(np.stack(masks)).float()[:, None],
            torch.from_numpy(np.stack(known)).float()[:, None])


def source_losses(logits: list[torch.Tensor], labels: list[tuple[int, np.ndarray]], tasks: list[str]) -> torch.Tensor:
    """Mean over the batch's images of their own source's classification loss."""
    total, count = logits[0].new_zeros(()), 0
    for source, task in enumerate(tasks):
        rows = [i for i, (s, _) in enumerate(labels) if s == source]
        if not rows or logits[source].shape[1] == 0:
            continue
        target = torch.from_numpy(np.stack([labels[i][1] for i in rows])).to(logits[source].device)
        if not target.shape[1]:
            continue
        out = logits[source][rows]
        if task == "single-label":
            total = total + F.cross_entropy(out, target.argmax(1), label_smoothing=0.1, reduction="sum")
        else:
            total = total + F.binary_cross_entropy_with_logits(out, target, reduction="none").mean(1).sum()
        count += len(rows)
    return total / max(count, 1)


def mask_loss(logits: torch.Tensor, masks: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
    """BCE where the pixels are known, plus soft Dice per image that shows a known defect."""
    bce = (F.binary_cross_entropy_with_logits(logits, masks, reduction="none") * known).sum() / known.sum().clamp_min(1)
    probs = torch.sigmoid(logits) * known
    truth = (masks * known).sum((1, 2, 3))
    shown = truth > 0
    if not shown.any():
        return bce
    dice = (2 * (probs * masks).sum((1, 2, 3)) + 1) / (probs.sum((1, 2, 3)) + truth + 1)
    return bce + (1 - dice[shown]).mean()


def cpu_name() -> str:
    """`lscpu`'s model name with the instruction sets that change speed and rounding (the card's CPU line)."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown CPU"
    model = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")),
                 platform.processor() or "unknown CPU")
    isa = [flag for flag in ("avx2", "avx512f", "amx_bf16") if f" {flag}" in info]
    return f"{model} ({os.cpu_count()} cores; {', '.join(isa) or 'no AVX2'})"


def pretrain(config: PretrainConfig) -> dict:
    """Pre-train, write `out/backbone.safetensors` and `out/backbone.json`; returns the card. Resumable: a checkpoint
    in `run_dir` is picked up when its configuration matches."""
    started = time.perf_counter()
    rng = np.random.default_rng(config.seed)
    torch.manual_seed(config.seed)
    device = pick_device(config.device)
    config.run_dir.mkdir(parents=True, exist_ok=True)
    tqdm.write(f"reading {len(config.sources)} labelled datasets, {len(config.clean_only)} for clean images only, "
               f"{config.synthetic} synthetic strips "
               f"(reserved images, {RESERVED_SHARE:.0%} by file-name hash, left out)")
    pool = build_pool(list(config.sources), config.synthetic, config.run_dir, config.clean_only)
    if len(pool) < config.batch_size:
        raise SteelScanError("pretrain", f"found only {len(pool)} usable images", "pass more dataset folders")
    counts = np.bincount(pool.source_of, minlength=len(pool.sources)).astype(float)
    # Sources drawn in proportion to the square root of their size: a 4,000-image source leads, a small one
    # still counts.
    per_source = np.sqrt(counts) / np.sqrt(counts).sum()
    weights = np.array([per_source[s] / counts[s] for s in pool.source_of])
    weights /= weights.sum()
    for source, count in zip(pool.sources, counts, strict=True):
        tqdm.write(f"  {source.name} ({source.layout}, {source.task}): {source.images_used} images -> {int(count)} "
                   f"at {SIDE}px, {source.reserved_left_out} reserved left out, {source.skipped} unreadable")
    tasks = [s.task for s in pool.sources]
    net = PretrainNet([len(s.class_names) for s in pool.sources]).to(device)
    optimizer = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    scheduler = cosine_with_warmup(optimizer, config.steps, max(1, min(config.steps // 10, 200)))
    checkpoint = config.run_dir / "pretrain-checkpoint.pt"
    key = json.dumps({k: str(v) for k, v in asdict(config).items() if k not in ("command", "device", "run_dir")})
    step, seconds_before, history = 0, 0.0, []
    if checkpoint.is_file():
        state = torch.load(checkpoint, map_location="cpu", weights_only=False)
        if state.get("key") == key:
            net.load_state_dict(state["net"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            step, seconds_before, history = state["step"], state["seconds"], state["history"]
            rng = np.random.default_rng([config.seed, step])
            tqdm.write(f"resumed at step {step} from {checkpoint}")
    loop_started = time.perf_counter()
    running: dict[str, float] = {}
    bar = tqdm(total=config.steps, initial=step, desc="pre-training", unit="step", dynamic_ncols=True, mininterval=5)
    while step < config.steps:
        net.train()
        x, anys, labels, masks, known = draw_batch(pool, rng, config.batch_size, config.paste_share, weights)
        x, anys, masks, known = x.to(device), anys.to(device), masks.to(device), known.to(device)
        with autocast(device, True):
            any_logit, logits, mask_logits = net(x)
        terms = {"labels": source_losses([t.float() for t in logits], labels, tasks),
                 "any": F.binary_cross_entropy_with_logits(any_logit.float(), anys),
                 "mask": mask_loss(mask_logits.float(), masks, known)}
        loss = sum(terms.values())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        step += 1
        for name, value in terms.items():
            running[name] = value.item() if name not in running else 0.98 * running[name] + 0.02 * value.item()
        bar.update(1)
        bar.set_postfix({k: f"{v:.3f}" for k, v in running.items()}, refresh=False)
        if step % config.checkpoint_every == 0 or step == config.steps:
            history.append({"step": step, **{k: round(v, 4) for k, v in running.items()}})
            seconds = seconds_before + time.perf_counter() - loop_started
            tmp = checkpoint.with_suffix(".tmp")
            torch.save({"key": key, "net": net.state_dict(), "optimizer": optimizer.state_dict(),
                        "scheduler": scheduler.state_dict(), "step": step, "seconds": seconds,
                        "history": history}, tmp)
            os.replace(tmp, checkpoint)
            tqdm.write(f"step {step}/{config.steps}: " + ", ".join(f"{k} {v:.3f}" for k, v in running.items()))
    bar.close()
    train_seconds = seconds_before + time.perf_counter() - loop_started
    return write_backbone(config, net, pool, history, train_seconds, time.perf_counter() - started, device)


def write_backbone(config: PretrainConfig, net: PretrainNet, pool: Pool, history: list, train_seconds: float,
                   total_seconds: float, device: torch.device) -> dict:
    config.out.mkdir(parents=True, exist_ok=True)
    weights_path = config.out / WEIGHTS_FILE
    save_file(net.kept_state(), str(weights_path), metadata={"architecture": ARCH})
    card = {
        "kind": "steel-backbone", "architecture": ARCH, "decoder_channels": list(decoder_channels_for(ARCH)),
        "input_size": [SIDE, SIDE], "normalisation": "per-image",
        "weights_file": WEIGHTS_FILE, "sha256": hashlib.sha256(weights_path.read_bytes()).hexdigest(),
        "command": config.command, "created": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "steps": config.steps, "batch_size": config.batch_size, "lr": config.lr, "paste_share": config.paste_share,
        "seed": config.seed, "training_minutes": round(train_seconds / 60, 1),
        "total_minutes": round(total_seconds / 60, 1), "device": str(device),
        "cpu": cpu_name() if device.type == "cpu" else torch.cuda.get_device_name(device),
        "torch": torch.__version__,
        "reserved_rule": f"images whose file name's SHA-256 falls in the first {RESERVED_SHARE:.0%} of the hash "
                         "space are never read (core.datasets.reserved); `steelscan train --holdout reserved` "
                         "holds out exactly those",
        "sources": [asdict(s) for s in pool.sources], "pool_images": len(pool),
        "history": history,
    }
    (config.out / CARD_FILE).write_text(json.dumps(card, indent=2) + "\n")
    tqdm.write(f"wrote {weights_path} ({weights_path.stat().st_size / 1e6:.1f} MB, sha256 {card['sha256'][:16]}) "
               f"in {total_seconds / 60:.1f} min")
    return card


def load_backbone(folder: Path) -> tuple[dict, dict[str, torch.Tensor]]:
    """(card, weights) of a steel backbone folder, its hash checked against its card."""
    card_path = folder / CARD_FILE
    try:
        card = json.loads(card_path.read_text())
    except (OSError, ValueError) as exc:
        raise SteelScanError(card_path, f"cannot be read as a steel backbone card ({exc})",
                             "re-copy the folder, or run `steelscan pretrain --out` again") from None
    weights_path = folder / card.get("weights_file", WEIGHTS_FILE)
    if not weights_path.is_file():
        raise SteelScanError(weights_path, "is missing", "re-copy the steel backbone folder, or pass --pretrained none")
    digest = hashlib.sha256(weights_path.read_bytes()).hexdigest()
    if digest != card.get("sha256"):
        raise SteelScanError(weights_path, f"has sha256 {digest[:16]}, its card says {str(card.get('sha256'))[:16]}",
                             "the file was changed or truncated: re-copy it, or pass --pretrained none")
    return card, load_file(str(weights_path))
