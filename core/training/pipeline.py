"""Train a model set (classifier + U-Net) on a dataset folder or on fresh synthetic strips.

    python -m core.train DATA --out models/NAME [--epochs 12 --batch-size 32 --crop 128 ...]
    python -m core.train --synthetic 400 --out models/severstal-synthetic

DATA is any layout core.datasets reads: Severstal (train.csv in either format + train_images/,
also the dashboard's export), NEU-DET (images/<class>/ + VOC annotations/), or images/ + masks/ +
classes.txt. The result is a model set folder the engine loads as it is.
"""

from __future__ import annotations

import argparse
import os
import random
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from core.contract.errors import SteelScanError
from core.datasets import Dataset, open_dataset
from core.engine.postprocess import class_scores
from core.modelsets.devices import inference_dtype, pick_device
from core.modelsets.modelset import build_networks, new_card, save_model_set
from core.modelsets.networks import PeakResNet, decoder_channels_for, share_encoder
from core.modelsets.preprocess import Normaliser
from core.training.data import (
    CropDataset,
    ImageCache,
    Split,
    WholeImageDataset,
    make_sampler,
    split_dataset,
)
from core.training.joint import (
    BACKBONE_LR_WARM,
    MAX_STEPS,
    WHOLE_MAX_STEPS,
    init_mask_prior,
    schedule_steps,
    silence_masks,
    train_joint,
)
from core.training.loops import (
    fit_head,
    head_scores,
    pooled_features,
    train_classifier,
    train_decoder,
    whole_image_outputs,
)
from core.training.operating_point import OperatingRule
from core.training.recipe import parse_size, pick_recipe
from core.training.start import apply_start, resolve_start
from core.training.tuning import TuningData, tune_classes


def log(message: str) -> None:
    tqdm.write(f"[{time.strftime('%H:%M:%S')}] {message}")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def tune_thresholds(card, classifier: torch.nn.Module, segmenter: torch.nn.Module, dataset: Dataset,
                    cache: ImageCache, indices, device: torch.device, amp: bool, rule: OperatingRule | None = None,
                    tune_min_area: bool = True) -> tuple[tuple, dict]:
    """(classes with tuned thresholds, the tuning table) from the images `indices`, scored as the engine
    scores them (the card's input size, normalisation, test-time flips and class scores)."""
    normaliser, data = Normaliser.from_card(card), TuningData.empty()
    for index in tqdm(indices, desc="tuning thresholds", unit="img", dynamic_ncols=True, mininterval=5):
        probs, pixel_probs = whole_image_outputs(classifier, segmenter, card.shared_encoder, cache.pixels(index),
                                                 normaliser, device, dataset.task, amp, card.test_time_flips)
        probs = class_scores(card.class_scores, probs, pixel_probs)
        data.add(probs, pixel_probs, cache.masks(index), dataset.label_matrix()[index])
    return tune_classes(card.classes, data, dataset.task, tune_min_area=tune_min_area, rule=rule)


def operating_rule(args: argparse.Namespace) -> OperatingRule:
    return OperatingRule(false_alarm_budget=None if args.best_f1 else args.false_alarm_budget,
                         target_recall=args.target_recall, critical=tuple(args.critical or ()))


def limit_defective(dataset: Dataset, split: Split, count: int | None, seed: int) -> Split:
    """Keep only `count` defective training images (seeded pick; clean ones all stay) for a learning
    curve: validation and hold-out stay exactly as the full run's, so the points compare."""
    if not count:
        return split
    defective = [i for i in split.train if dataset.samples[i].labels]
    if count >= len(defective):
        return split
    keep = set(np.random.default_rng(seed).choice(defective, size=count, replace=False).tolist())
    train = tuple(i for i in split.train if not dataset.samples[i].labels or i in keep)
    return Split(train, split.val, split.holdout)


def limit_per_class(dataset: Dataset, split: Split, count: int | None, seed: int) -> Split:
    """Keep only `count` training images of each class (by an image's first label; clean counts as a class),
    seeded, for a learning curve: validation and hold-out stay as the full run's."""
    if not count:
        return split
    rng = np.random.default_rng(seed)
    groups: dict[int, list[int]] = {}
    for i in split.train:
        groups.setdefault(dataset.samples[i].labels[0] if dataset.samples[i].labels else -1, []).append(i)
    keep = {int(i) for members in groups.values()
            for i in (members if len(members) <= count else rng.choice(members, size=count, replace=False))}
    return Split(tuple(i for i in split.train if i in keep), split.val, split.holdout)


def image_level_ap(targets: np.ndarray, probs: np.ndarray) -> float | None:
    """Average precision of 'defective (any class)' vs clean, scored by the top class probability;
    None when the images are all clean or all defective."""
    from sklearn.metrics import average_precision_score

    defective = targets.any(1)
    if defective.all() or not defective.any():
        return None
    return float(average_precision_score(defective, probs.max(1)))


def resolve_data(args: argparse.Namespace, run_dir: Path) -> tuple[Dataset, dict]:
    if args.synthetic:
        from core.datasets.synthetic import write_dataset

        folder = run_dir / f"synthetic-{args.synthetic_seed}-{args.synthetic}"
        seeds = list(range(args.synthetic_seed, args.synthetic_seed + args.synthetic))
        if not (folder / "train.csv").is_file():
            log(f"generating {len(seeds)} synthetic strips in {folder}")
            write_dataset(folder, seeds)
        return open_dataset(folder), {"synthetic_seeds": [seeds[0], seeds[-1]]}
    if args.data is None:
        raise SteelScanError("command line", "no dataset given", "pass a dataset folder or --synthetic N")
    return open_dataset(args.data), {"data": str(args.data)}


def run(args: argparse.Namespace, command: str) -> dict:
    """Train and write the model set; returns the card and the per-step losses of both stages."""
    started = time.perf_counter()
    name = args.name or args.out.name
    run_dir = args.run_dir or Path("runs") / name
    run_dir.mkdir(parents=True, exist_ok=True)
    seed_everything(args.seed)
    device = pick_device(args.device)
    amp = not args.no_amp
    dataset, data_info = resolve_data(args, run_dir)
    split = split_dataset(dataset, args.val_fraction, args.holdout_fraction, args.seed,
                          reserved_holdout=args.holdout == "reserved")
    split = limit_defective(dataset, split, args.train_defective, args.seed)
    split = limit_per_class(dataset, split, args.train_per_class, args.seed)
    for problem in dataset.problems:  # left out of training, never taken as clean
        log(f"skipped: {problem}")
    if not split.train or not split.val:
        raise SteelScanError(dataset.root, f"has too few images ({len(dataset.samples)}) for a train/validation split",
                             "add images or change --val-fraction")
    log(f"{dataset.layout} dataset {dataset.name}: {len(dataset.samples)} images, "
        f"classes {', '.join(dataset.class_names)}"
        f" ({dataset.task}); train {len(split.train)}, validation {len(split.val)}, held out {len(split.holdout)}")
    cache = ImageCache(dataset)
    recipe = pick_recipe(args, dataset, cache, split.train)
    # From here on the options read as resolved (a copy: the caller's namespace is left as given).
    args = argparse.Namespace(**{**vars(args), "trainer": recipe.trainer, "arch": recipe.arch,
                                 "normalisation": recipe.normalisation, "pooling": recipe.pooling,
                                 "weight_decay": recipe.weight_decay, "image_weight": recipe.image_weight,
                                 "seg_dice": recipe.seg_dice, "seg_weight": recipe.seg_weight})
    start = resolve_start(args.pretrained, recipe.arch)
    trainer, geometry, input_size = recipe.trainer, recipe.geometry, recipe.input_size
    log(f"recipe: {'whole-image classifier' if recipe.seg_weight == 0 and trainer == 'joint' else trainer + ' trainer'}"
        f", {recipe.arch}, input "
        + (f"whole images resized to {input_size[0]}x{input_size[1]}" if input_size else f"native ({geometry})")
        + f", {recipe.normalisation} normalisation, {recipe.pooling} pooling, weight decay {recipe.weight_decay:g}"
        + (", test-time flips" if recipe.test_time_flips else "")
        + (", classes scored by head and mask" if recipe.class_scores == "head+mask" else "")
        + f"; because the data is {recipe.why}; start: {start.describe()}")
    card = new_card(name, dataset.class_names, dataset.task, version=args.version,
                    classifier_architecture=recipe.arch, classifier_pooling=recipe.pooling,
                    normalisation=recipe.normalisation, input_size=input_size,
                    test_time_flips=recipe.test_time_flips, class_scores=recipe.class_scores,
                    decoder_channels=decoder_channels_for(recipe.arch),
                    segmenter_encoder=recipe.arch, segmenter_encoder_source=args.encoder_source,
                    pretrained=start.describe() if start.kind != "random" else None,
                    description=args.description or f"trained on {dataset.name} ({dataset.layout})")
    classifier, segmenter = build_networks(card)
    loaded = apply_start(start, classifier, segmenter)
    args.keep_mask_head = "mask head" in loaded  # a warm start keeps its mask head (no prior reset)
    log(f"start: {start.describe()}" + (f" ({' and '.join(loaded)} loaded)" if loaded else ""))
    if args.backbone_lr == "auto":
        args.backbone_lr = BACKBONE_LR_WARM if loaded and start.kind != "random" else 1.0
    dtype = inference_dtype(device, "auto" if amp else "fp32")
    precision = {torch.float16: "fp16 autocast", torch.bfloat16: "bf16 autocast"}.get(dtype, "fp32")
    log(f"device {device_name(device)}, {torch.get_num_threads()} CPU threads, {precision}")

    crop = parse_size(args.crop)
    normaliser = Normaliser.from_card(card)
    metric = "accuracy" if dataset.task == "single-label" else "macro_roc_auc"
    val_targets = dataset.label_matrix()[list(split.val)]

    def validate(model: torch.nn.Module) -> dict:
        logits = pooled_features(model, cache, split.val, normaliser, device, amp, desc="validation", logits=True)
        scores = head_scores(dataset.task, logits, val_targets)
        # AUC is undefined when a class is missing from validation: fall back to macro F1.
        scores["score"] = scores[metric] if scores[metric] is not None else scores["macro_f1"]
        if trainer == "joint" and dataset.task == "multi-label":
            # What a plant asks first: is this sheet defective at all (any class vs clean)?
            scores["image_ap"] = image_level_ap(val_targets, torch.sigmoid(logits).numpy())
            if scores["image_ap"] is not None:
                scores["score"] = scores["image_ap"]
        return scores

    if trainer == "joint":
        history, seg_history, head_info, per_epoch, seg_crop = train_jointly(
            args, classifier, segmenter, cache, split, dataset, geometry, crop, normaliser, device, amp, validate)
    else:
        history, seg_history, head_info, per_epoch, seg_crop = train_staged(
            args, card, classifier, segmenter, cache, split, dataset, geometry, crop, normaliser, device, amp,
            validate, metric, val_targets, run_dir)

    labels_only = trainer == "joint" and recipe.seg_weight == 0
    if labels_only:
        silence_masks(segmenter)
    tune_start = time.perf_counter()
    rule = operating_rule(args)
    log(f"thresholds: {rule.describe()}")
    classes, tuning = tune_thresholds(card, classifier, segmenter, dataset, cache, split.val, device, amp, rule,
                                      tune_min_area=not labels_only)
    tune_seconds = time.perf_counter() - tune_start
    for name_, row in tuning.items():
        log(f"  {name_}: " + ", ".join(f"{k} {v}" for k, v in row.items() if k != "curve"))

    training = {
        "command": command, "trainer": trainer, "steps": len(history.losses), "epochs": args.epochs,
        "epochs_run": len(history.epochs), "best_epoch": history.best_epoch,
        "stopped_early": history.stopped_early, "segmenter_epochs": args.seg_epochs, "batch_size": args.batch_size,
        "crop": list(crop), "input_size": list(input_size) if input_size else "native", "pooling": args.pooling,
        "normalisation": args.normalisation,
        "segmenter_crop": list(seg_crop), "geometry": geometry, "lr": args.lr,
        "weight_decay": args.weight_decay, "crops_per_epoch": per_epoch, "class_balanced": not args.no_balance,
        "augment": not args.no_augment, "photometric": args.photometric, "clean_share": args.clean_share,
        "seg_weight": args.seg_weight, "image_weight": args.image_weight, "seg_dice": args.seg_dice,
        "backbone_lr": args.backbone_lr,
        "recipe_reason": recipe.why, "threshold_rule": rule.describe(), "critical": list(rule.critical),
        "start": {**start.to_dict(), "loaded": loaded},
        "seed": args.seed, "val_fraction": args.val_fraction, "holdout": args.holdout,
        "holdout_fraction": args.holdout_fraction, "split_seed": args.seed,
        "train_defective_limit": args.train_defective, "train_per_class_limit": args.train_per_class,
        "split_sizes": {"train": len(split.train), "val": len(split.val), "holdout": len(split.holdout)},
        "device": str(device), "device_name": device_name(device), "cpu_threads": torch.get_num_threads(),
        "mixed_precision": dtype != torch.float32,
        "durations_s": {"classifier": round(history.seconds, 1), "head_refit": head_info.pop("seconds"),
                        "segmenter": round(seg_history.seconds, 1), "tuning": round(tune_seconds, 1)},
        "history": history.epochs, "head_refit": head_info, "torch": torch.__version__, **data_info,
    }
    card = replace(card, classes=classes, trained=True, data_fingerprint=dataset.fingerprint(), training=training,
                   metrics={"tuning": tuning})
    save_model_set(args.out, card, classifier, segmenter)

    from core.engine.inference import Inspector
    from core.evaluation.evaluate import evaluate_indices

    inspector = Inspector.load(args.out, args.device)
    log("validation through the engine (core.engine.inference.Inspector)")
    validation = evaluate_indices(inspector, dataset, split.val)
    training["durations_s"]["total"] = round(time.perf_counter() - started, 1)
    card = replace(card, training=training, metrics={"validation": validation["summary"], "tuning": tuning})
    card = save_model_set(args.out, card, classifier, segmenter)
    log(f"validation: {validation['summary']}")
    from core.engine.domain import fit_domain

    log(f"training domain: feature statistics of the {len(split.train)} training images (out-of-domain score)")
    card = fit_domain(args.out, dataset, split.train, device=args.device)
    log(f"wrote {args.out} ({card.fingerprint}) in {(time.perf_counter() - started) / 60:.1f} min")
    return {"card": card, "classifier_losses": history.losses, "segmenter_losses": seg_history.losses}


def train_staged(args, card, classifier, segmenter, cache, split, dataset, geometry, crop, normaliser, device, amp,
                 validate, metric, val_targets, run_dir):
    """The two-stage trainer: classifier on image labels (epochs), head refit, then the U-Net decoder
    on the frozen backbone. Kept for box-only data (NEU-DET), where it reaches 99.65% hold-out accuracy."""
    per_epoch = max(1, int(round(len(split.train) * args.crops_per_image)))
    train_set = CropDataset(cache, split.train, geometry, crop, dataset.task, normaliser, augment=not args.no_augment,
                            seed=args.seed, photometric=args.photometric)
    loader = DataLoader(train_set, batch_size=args.batch_size, drop_last=len(split.train) > args.batch_size,
                        sampler=make_sampler(dataset, split.train, per_epoch, not args.no_balance, args.seed),
                        num_workers=args.workers, persistent_workers=args.workers > 0)
    resume = torch.load(args.resume, map_location="cpu", weights_only=True) if args.resume else None
    checkpoint_path = run_dir / "checkpoint.pt"

    def checkpoint(state: dict) -> None:
        tmp = checkpoint_path.with_suffix(".tmp")
        torch.save(state, tmp)
        os.replace(tmp, checkpoint_path)

    log(f"classifier: {geometry} crops {crop[0]}x{crop[1]}, {per_epoch} per epoch, batch {args.batch_size}, "
        f"{args.epochs} epochs, lr {args.lr}, {card.classifier_pooling} pooling, validation metric {metric}")
    history = train_classifier(classifier, loader, dataset.task, args.epochs, args.lr, args.weight_decay, device,
                               validate, "score", args.patience, amp, args.label_smoothing, args.max_steps,
                               checkpoint, resume)
    log(f"classifier done in {history.seconds / 60:.1f} min; best epoch {history.best_epoch} "
        f"{metric} (or macro F1)={history.best_metric:.4f}")

    head_info = refit_head(args, classifier, cache, split, dataset, normaliser, device, amp, metric, val_targets)

    if card.shared_encoder:
        share_encoder(classifier, segmenter)
    elif args.arch == card.segmenter_encoder:
        state = {k: v for k, v in classifier.state_dict().items() if not k.startswith("fc.")}
        segmenter.encoder.load_state_dict(state)
    seg_crop = parse_size(args.seg_crop or args.crop)
    seg_set = CropDataset(cache, split.train, geometry, seg_crop, dataset.task, normaliser,
                          augment=not args.no_augment, defect_bias=0.8, seed=args.seed + 1,
                          photometric=args.photometric)
    seg_loader = DataLoader(seg_set, batch_size=args.seg_batch_size or args.batch_size,
                            drop_last=len(split.train) > args.batch_size,
                            sampler=make_sampler(dataset, split.train, per_epoch, not args.no_balance, args.seed + 1),
                            num_workers=args.workers, persistent_workers=args.workers > 0)
    log(f"segmenter ({'shared frozen backbone' if card.shared_encoder else 'own encoder'}): crops "
        f"{seg_crop[0]}x{seg_crop[1]}, {args.seg_epochs} epochs")
    seg_history = train_decoder(classifier, segmenter, seg_loader, args.seg_epochs, args.seg_lr, device,
                                own_encoder=not card.shared_encoder, amp=amp, max_steps=args.max_steps)
    log(f"segmenter done in {seg_history.seconds / 60:.1f} min")
    return history, seg_history, head_info, per_epoch, seg_crop


def train_jointly(args, classifier, segmenter, cache, split, dataset, geometry, crop, normaliser, device, amp,
                  validate):
    """Backbone, decoder and head trained together on crops around defects and on clean areas
    (core.training.joint), for a number of optimiser steps scaled to the training images."""
    total = schedule_steps(len(split.train), args.steps, WHOLE_MAX_STEPS if geometry == "whole" else MAX_STEPS)
    clean_share = args.clean_share
    if geometry == "whole":
        # Whole images: half clean, half defective (class-balanced among themselves), as a line's output is
        # judged mostly on clean sheets while the defects carry the signal.
        clean_share = 0.5 if clean_share is None else clean_share
        args.clean_share = clean_share  # the card records what was used (args is run()'s resolved copy)
        train_set = WholeImageDataset(cache, split.train, dataset.task, normaliser, augment=not args.no_augment,
                                      seed=args.seed, photometric=args.photometric)
        what = f"whole images at {normaliser.size[0]}x{normaliser.size[1]}"
    else:
        train_set = CropDataset(cache, split.train, geometry, crop, dataset.task, normaliser,
                                augment=not args.no_augment, defect_bias=args.defect_bias, seed=args.seed,
                                photometric=args.photometric)
        what = f"{geometry} crops {crop[0]}x{crop[1]} ({args.defect_bias:.0%} centred on a defect)"
    loader = DataLoader(train_set, batch_size=args.batch_size, drop_last=len(split.train) > args.batch_size,
                        sampler=make_sampler(dataset, split.train, total * args.batch_size, not args.no_balance,
                                             args.seed, clean_share),
                        num_workers=args.workers, persistent_workers=args.workers > 0)
    log(("joint training (backbone + U-Net decoder + head, pixel and image losses): " if args.seg_weight else
         "whole-image classifier training (backbone + head; image labels only, no masks): ") + what
        + (f"; {clean_share:.0%} from clean images" if clean_share is not None else "")
        + f"; photometric augmentation {args.photometric:g}; batch {args.batch_size}, {total} steps "
        f"({total * args.batch_size / len(split.train):.0f} draws per training image), lr {args.lr}, "
        f"validation every {max(1, total // args.validations)} steps")
    if not getattr(args, "keep_mask_head", False):
        init_mask_prior(segmenter)
    history, seg_history = train_joint(classifier, segmenter, loader, dataset.task, total, args.lr,
                                       args.weight_decay, device, validate, "score", amp, args.label_smoothing,
                                       seg_weight=args.seg_weight, validations=args.validations,
                                       image_weight=args.image_weight, dice_per_image=args.seg_dice == "image",
                                       backbone_lr_scale=args.backbone_lr)
    log(f"joint training done in {history.seconds / 60:.1f} min; best at step {history.best_epoch} "
        f"score={history.best_metric:.4f}")
    head_info = {"used": False, "reason": "joint training scores whole images with the head it trained",
                 "seconds": 0.0}
    return history, seg_history, head_info, total * args.batch_size, crop


def refit_head(args, classifier, cache, split, dataset, normaliser, device, amp, metric, val_targets) -> dict:
    """Refit the last layer on whole images; keep it only if whole-image validation improves.
    Peak pooling needs no refit: it scores a whole image as it scored a crop."""
    if args.no_head_refit or isinstance(classifier, PeakResNet):
        return {"used": False, "seconds": 0.0}
    start = time.perf_counter()
    train_features = pooled_features(classifier, cache, split.train, normaliser, device, amp, desc="head features")
    val_features = pooled_features(classifier, cache, split.val, normaliser, device, amp, desc="validation features")
    fc = classifier.fc.float().cpu()
    with torch.no_grad():
        before = head_scores(dataset.task, fc(val_features), val_targets)
    refit = fit_head(fc, train_features, dataset.label_matrix()[list(split.train)], dataset.task)
    with torch.no_grad():
        after = head_scores(dataset.task, refit(val_features), val_targets)
    used = (after[metric] or 0.0) > (before[metric] or 0.0)
    if used:
        classifier.fc.load_state_dict(refit.state_dict())
    classifier.to(device)
    log(f"head refit on whole images: {metric} {before[metric]} -> {after[metric]} "
        f"({'kept' if used else 'discarded'})")
    return {"used": bool(used), "before": before, "after": after, "seconds": round(time.perf_counter() - start, 1)}


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({os.cpu_count()} cores)"
