"""The review log as training data: each reviewed sheet's part (evaluation or training), its label (the latest
decision) and its masks, and a snapshot that says exactly which decisions a model learnt from.

Torch-free: the Models page shows the dataset summary before anyone starts a job.

A sheet's part is drawn once, from its image hash, and stored (`sheet_parts`): changing the share later only
affects sheets reviewed afterwards, so an evaluation sheet never moves into training.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.contract.errors import SteelScanError
from core.datasets import Dataset, Sample
from core.datasets.severstal import write_severstal_csv
from core.review.store import ReviewLog
from core.review.store.models import SheetPartRow, utc_now

PARTS = ("eval", "train")


def draw_part(sha256: str, eval_share: float) -> str:
    """'eval' for a fixed share of image hashes: the hash is uniform, so the draw needs no random state."""
    return "eval" if int(sha256[:8], 16) / 16**8 < eval_share else "train"


def assign_parts(log: ReviewLog, shas: list[str], eval_share: float) -> dict[str, str]:
    """Each sheet's stored part; sheets seen for the first time are drawn and stored now."""
    def work(session: Session) -> dict[str, str]:
        stored = dict(session.execute(select(SheetPartRow.image_sha256, SheetPartRow.part)
                                      .where(SheetPartRow.image_sha256.in_(list(set(shas))))).all())
        for sha in sorted(set(shas) - set(stored)):
            stored[sha] = draw_part(sha, eval_share)
            session.add(SheetPartRow(image_sha256=sha, part=stored[sha], eval_share=eval_share,
                                     assigned_at=utc_now()))
        return stored

    return log._write(work) if shas else {}


@dataclass(frozen=True)
class Sheet:
    sha256: str
    image_path: Path
    image_name: str
    part: str
    classes: tuple[str, ...]  # the latest decision's classes
    masks_rle: dict[str, str]  # class -> RLE, for the classes that have a mask
    review_id: int
    decided_at: str

    @property
    def unmasked(self) -> tuple[str, ...]:
        return tuple(c for c in self.classes if c not in self.masks_rle)


@dataclass(frozen=True)
class ReviewData:
    """The labelled sheets of one class list, split into parts, with the snapshot of decisions behind them."""

    class_names: tuple[str, ...]
    sheets: tuple[Sheet, ...]
    snapshot: dict = field(default_factory=dict)

    def part(self, name: str) -> tuple[Sheet, ...]:
        return tuple(s for s in self.sheets if s.part == name)

    def summary(self) -> dict:
        """What the Models page shows before a job starts, and what the job records."""
        out = {"class_names": list(self.class_names), "snapshot": self.snapshot}
        for name in PARTS:
            sheets = self.part(name)
            out[name] = {"sheets": len(sheets), "clean": sum(not s.classes for s in sheets),
                         "defective": sum(bool(s.classes) for s in sheets),
                         "without_masks": sum(bool(s.unmasked) for s in sheets),
                         "per_class": {c: sum(c in s.classes for s in sheets) for c in self.class_names}}
        # The staged trainer learns a crop's labels from its mask: a present class without a mask would teach
        # "absent". Such sheets stay out of training (and in evaluation count for classes only, not Dice).
        out["train"]["usable"] = out["train"]["sheets"] - out["train"]["without_masks"]
        return out


def snapshot(reviews: pd.DataFrame) -> dict:
    """Decision count, date range and a hash of the sorted decision ids: the same log gives the same hash."""
    ids = sorted(int(i) for i in reviews["review_id"])
    if not ids:
        return {"decisions": 0, "first": None, "last": None, "decision_ids_sha256": None}
    digest = hashlib.sha256(",".join(map(str, ids)).encode()).hexdigest()
    return {"decisions": len(ids), "first": reviews["decided_at"].min().isoformat(),
            "last": reviews["decided_at"].max().isoformat(), "last_review_id": ids[-1],
            "decision_ids_sha256": digest}


def review_data(log: ReviewLog, class_names: tuple[str, ...], eval_share: float) -> ReviewData:
    """Every sheet reviewed with this class list, labelled by its latest decision."""
    reviews = log.reviews_frame()
    if not reviews.empty:
        reviews = reviews[reviews["class_names"].map(tuple) == tuple(class_names)]
    if reviews.empty:
        raise SteelScanError(log.display_url, f"holds no decisions on sheets with classes {', '.join(class_names)}",
                             "review some verdicts of this model set on the Inspect or Review queue page first")
    latest = reviews.groupby("image_sha256").tail(1)  # frame is in review order: last = latest
    parts = assign_parts(log, list(latest["image_sha256"]), eval_share)
    sheets = []
    for row in latest.itertuples(index=False):
        masks = {c: rle for c, rle in (row.masks_rle or {}).items() if c in row.classes and rle}
        sheets.append(Sheet(row.image_sha256, log.image_store / row.stored_path, row.image_name,
                            parts[row.image_sha256], tuple(row.classes), masks, int(row.review_id),
                            row.decided_at.isoformat()))
    return ReviewData(tuple(class_names), tuple(sheets), snapshot(latest))


def as_dataset(data: ReviewData, part: str, require_masks: bool) -> Dataset:
    """One part as the Dataset the trainer and the evaluation read (image files stay in the image store)."""
    samples, problems = [], []
    for sheet in data.part(part):
        if require_masks and sheet.unmasked:
            problems.append(f"{sheet.image_name} ({sheet.sha256[:12]}): classes {', '.join(sheet.unmasked)} have no "
                            "mask; paint them in the review panel to train on this sheet")
            continue
        labels = tuple(sorted(data.class_names.index(c) for c in sheet.classes))
        rles = {data.class_names.index(c): rle for c, rle in sheet.masks_rle.items()}
        samples.append(Sample(sheet.image_path, labels, rles))
    return Dataset(f"review-log-{part}", Path("review-log"), "review-log", data.class_names, "multi-label",
                   tuple(samples), tuple(problems))


def write_training_folder(data: ReviewData, out: Path) -> tuple[Path, Dataset]:
    """The training part as a Severstal folder (train.csv + links to the stored images + classes.txt), the layout
    `steelscan train` reads, so the job trains through the trainer's public entry point."""
    dataset = as_dataset(data, "train", require_masks=True)
    images = out / "train_images"
    images.mkdir(parents=True, exist_ok=True)
    labels: dict[str, dict[int, str]] = {}
    for sample in dataset.samples:
        image_id = sample.image_path.name
        link = images / image_id
        if not link.exists():
            os.symlink(sample.image_path.resolve(), link)
        labels[image_id] = dict(sample.rles)
    write_severstal_csv(labels, out / "train.csv", fmt="current", num_classes=len(data.class_names))
    (out / "classes.txt").write_text("\n".join(data.class_names) + "\n")
    if dataset.problems:
        (out / "left_out.txt").write_text("\n".join(dataset.problems) + "\n")
    return out, dataset
