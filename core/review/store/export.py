"""Export reviewed images for retraining: Severstal layout (train.csv + train_images/ + classes.txt)
plus decisions.csv, every decision ever made. `python -m core.export` runs it from the shell.

Each image's label is its latest review. Each present class's mask is the one the inspector painted
with that decision, else the model's; a class the reviewer added without painting it has no mask,
so such an image goes to needs_masks.csv for annotation rather than into train.csv with a wrong
(empty) mask. decisions.csv names the classes whose masks an inspector painted.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from core.contract.csvsafe import frame_to_csv, write_rows
from core.datasets.severstal import write_severstal_csv
from core.review.store.db import StoreError
from core.review.store.reviews import ReviewLog


@dataclass(frozen=True)
class ExportSummary:
    folder: Path
    class_names: tuple[str, ...]
    images: int
    defective: int
    clean: int
    needs_masks: int
    decisions: int


def class_sets(reviews: pd.DataFrame) -> dict[tuple[str, ...], list[str]]:
    """Class-name tuples among the reviews -> the model sets that used them."""
    sets: dict[tuple[str, ...], list[str]] = {}
    for names, model_set in zip(reviews["class_names"], reviews["model_set"], strict=True):
        users = sets.setdefault(tuple(names), [])
        if model_set not in users:
            users.append(model_set)
    return sets


def choose_classes(reviews: pd.DataFrame, model_set: str | None) -> tuple[str, ...]:
    sets = class_sets(reviews)
    if model_set is not None:
        chosen = [names for names, users in sets.items() if model_set in users]
        if not chosen:
            known = sorted({m for users in sets.values() for m in users})
            raise StoreError("export", f"no reviews were made with model set {model_set!r}",
                             f"reviewed model sets: {', '.join(known)}")
        return chosen[-1]
    if len(sets) > 1:
        listing = "; ".join(f"{'/'.join(users)} ({', '.join(names)})" for names, users in sets.items())
        raise StoreError("export", f"reviews use {len(sets)} different class lists: {listing}",
                         "choose one with --model-set NAME")
    return next(iter(sets))


def export_training_set(log: ReviewLog, out: str | Path, model_set: str | None = None,
                        overwrite: bool = False) -> ExportSummary:
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise StoreError(out, "is not empty", "choose a new folder, or pass --overwrite to replace its contents")
    reviews = log.reviews_frame()
    if reviews.empty:
        raise StoreError(log.display_url, "holds no reviews yet", "accept or override some verdicts first")
    names = choose_classes(reviews, model_set)
    if out.exists() and overwrite:
        shutil.rmtree(out)
    images_dir = out / "train_images"
    images_dir.mkdir(parents=True)

    same_classes = reviews[reviews["class_names"].map(tuple) == names]
    current = same_classes.groupby("image_sha256").tail(1)  # frame is in review order: last = latest
    labels: dict[str, dict[int, str]] = {}
    missing_masks: list[list[str]] = []
    exported: dict[str, str] = {}
    for row in current.itertuples(index=False):
        image_id = f"{row.image_sha256[:16]}{Path(row.stored_path).suffix}"
        unmasked = [c for c in row.classes if c not in row.masks_rle]
        if unmasked:
            missing_masks.append([image_id, row.image_sha256, row.image_name, ";".join(unmasked), row.reviewer])
            continue
        shutil.copyfile(log.image_store / row.stored_path, images_dir / image_id)
        labels[image_id] = {names.index(c): row.masks_rle[c] for c in row.classes}
        exported[row.image_sha256] = image_id

    write_severstal_csv(labels, out / "train.csv", fmt="current", num_classes=len(names))
    (out / "classes.txt").write_text("\n".join(names) + "\n")
    _write_decisions(reviews, exported, out / "decisions.csv")
    if missing_masks:
        write_rows(out / "needs_masks.csv",
                   ["image_id", "image_sha256", "original_name", "classes_without_mask", "reviewer"], missing_masks)
    defective = sum(1 for v in labels.values() if v)
    return ExportSummary(out, names, len(labels), defective, len(labels) - defective, len(missing_masks),
                         len(reviews))


def _write_decisions(reviews: pd.DataFrame, exported: dict[str, str], path: Path) -> None:
    table = pd.DataFrame({
        "review_id": reviews["review_id"],
        "decided_at_utc": reviews["decided_at"].dt.strftime("%Y-%m-%dT%H:%M:%S.%f").str[:-3],
        "reviewer": reviews["reviewer"],
        "decision": reviews["decision"],
        "image_sha256": reviews["image_sha256"],
        "original_name": reviews["image_name"],
        "exported_as": reviews["image_sha256"].map(exported).fillna(""),
        "model_set": reviews["model_set"],
        "model_version": reviews["model_version"],
        "inference_id": reviews["inference_id"],
        "model_classes": reviews["model_classes"].map(";".join),
        "classes": reviews["classes"].map(";".join),
        "reason": reviews["reason"],
        "page": reviews["page"],
        "masks_painted": reviews["mask_sources"].map(
            lambda sources: ";".join(c for c, who in (sources or {}).items() if who == "inspector")),
    })
    frame_to_csv(table, path)
