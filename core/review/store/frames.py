"""Tables for statistics and export: pandas frames of the latest verdict and label per image, and every decision.

JSON columns are fetched as text and decoded a column at a time (one json.loads over the whole column): decoding
each cell on its own was most of the Statistics page's time with 10,000 sheets in the log.
"""

from __future__ import annotations

import json

import pandas as pd
from sqlalchemy import Text, cast, func, literal, select
from sqlalchemy.orm import Session

from core.review.store.models import ImageRow, InferenceRow, ReviewRow
from core.review.store.sampling import SAMPLE_KEY


def _as_text(column):
    # CAST, not type_coerce: PostgreSQL's driver would otherwise hand back decoded objects.
    return cast(column, Text).label(column.key)


def _decode(texts) -> list:
    """Many JSON documents decoded in one call (NULLs stay None)."""
    return json.loads("[" + ",".join(t if t is not None else "null" for t in texts) + "]")


def _frame(rows, columns: list[str], json_columns: tuple[str, ...]) -> pd.DataFrame:
    """Rows to a frame built column by column (plain lists: no per-cell pandas work), JSON columns decoded."""
    data = {name: [row[i] for row in rows] for i, name in enumerate(columns)}
    for column in json_columns:
        data[column] = _decode(data[column])
    frame = pd.DataFrame({name: pd.Series(values, dtype=object if name in json_columns else None)
                          for name, values in data.items()}, columns=columns)
    return frame


def refreshed(images: pd.DataFrame, fresh: pd.DataFrame) -> pd.DataFrame:
    """A cached images frame with the rows of `fresh`'s images replaced (or added)."""
    if fresh.empty:
        return images
    kept = images[~images["image_sha256"].isin(fresh["image_sha256"])]
    return pd.concat([kept, fresh], ignore_index=True) if not kept.empty else fresh.reset_index(drop=True)


class ReviewFrames:
    """Mixed into ReviewLog: reads only, through its `_read` and `_latest_per_image`."""

    def log_version(self) -> tuple[int, int]:
        """(newest inference id, newest review id): changes whenever anything the frames show changes (both
        tables are append-only), so it keys caches of them safely."""
        return self._read(lambda s: (s.scalar(select(func.max(InferenceRow.id))) or 0,
                                     s.scalar(select(func.max(ReviewRow.id))) or 0))

    def images_frame(self, shas: list[str] | None = None) -> pd.DataFrame:
        """One row per image: its latest verdict and its latest review (the current label, its reason), if any;
        `sampled` is why the queue took a sheet it does not flag (None: it did not), `ood_score` and `domain_level`
        how unfamiliar the sheet looked to its set (None without a domain).
        `shas`: only these images (to refresh a cached frame after a few new rows)."""
        latest = self._latest_per_image()
        last_review = select(func.max(ReviewRow.id).label("id"), func.min(ReviewRow.decided_at).label("first"),
                             ReviewRow.image_sha256).group_by(ReviewRow.image_sha256)
        if shas is not None:
            latest = (select(func.max(InferenceRow.id).label("id")).where(InferenceRow.image_sha256.in_(shas))
                      .group_by(InferenceRow.image_sha256).subquery())
            last_review = last_review.where(ReviewRow.image_sha256.in_(shas))
        last_review = last_review.subquery()
        json_columns = ("class_names", "probabilities", "thresholds", "model_classes", "regions")

        def work(session: Session):
            inferences = session.execute(
                select(InferenceRow.image_sha256, ImageRow.original_name, InferenceRow.id, InferenceRow.created_at,
                       InferenceRow.model_set, InferenceRow.model_version, InferenceRow.model_trained,
                       _as_text(InferenceRow.class_names), _as_text(InferenceRow.probabilities),
                       _as_text(InferenceRow.thresholds), _as_text(InferenceRow.classes_present),
                       InferenceRow.defective, InferenceRow.margin, _as_text(InferenceRow.regions),
                       InferenceRow.verdict[SAMPLE_KEY].as_string(), InferenceRow.verdict["ood_score"].as_float(),
                       InferenceRow.verdict["domain_level"].as_string(),
                       InferenceRow.verdict["out_of_domain"].as_boolean())
                .join(latest, InferenceRow.id == latest.c.id)
                .join(ImageRow, ImageRow.sha256 == InferenceRow.image_sha256)).all()
            # The label: each image's latest review, and when it was first reviewed (aggregated in the database).
            reviews = session.execute(
                select(ReviewRow.image_sha256, ReviewRow.reviewer, ReviewRow.decision, _as_text(ReviewRow.classes),
                       ReviewRow.decided_at, last_review.c.first, ReviewRow.reason)
                .join(last_review, ReviewRow.id == last_review.c.id)).all()
            return inferences, reviews

        inferences, reviews = self._read(work)
        frame = _frame(inferences, [
            "image_sha256", "image_name", "inference_id", "inspected_at", "model_set", "model_version",
            "model_trained", "class_names", "probabilities", "thresholds", "model_classes", "defective", "margin",
            "regions", "sampled", "ood_score", "domain_level", "out_of_domain"], json_columns)
        # Verdicts from before the graded levels have only the flag (core.contract.verdict reads them the same way).
        before_levels = frame["domain_level"].isna() & frame["ood_score"].notna()
        frame.loc[before_levels, "domain_level"] = frame.loc[before_levels, "out_of_domain"].map(
            lambda out: "out of domain" if out else "familiar")
        frame = frame.drop(columns="out_of_domain")
        current = _frame(reviews, ["image_sha256", "reviewer", "decision", "final_classes", "decided_at",
                                   "first_reviewed_at", "reason"], ("final_classes",)).set_index("image_sha256")
        frame = frame.join(current, on="image_sha256")
        frame["reviewed"] = frame["decision"].notna()
        frame["inspected_at"] = pd.to_datetime(frame["inspected_at"])
        for column in ("decided_at", "first_reviewed_at"):
            frame[column] = pd.to_datetime(frame[column])
        return frame

    def model_scores_frame(self, model_fingerprint: str) -> pd.DataFrame:
        """One row per image inferred by exactly these weights: that model's latest inference of it (when, the
        class names, the probabilities) and the image's latest review (the inspectors' label), if any.

        By fingerprint, not by the image's latest inference: a sheet another set looked at later still counts,
        and two sets' scores never mix."""
        mine = (select(func.max(InferenceRow.id).label("id"))
                .where(InferenceRow.model_fingerprint == model_fingerprint)
                .group_by(InferenceRow.image_sha256).subquery())
        last_review = (select(func.max(ReviewRow.id).label("id")).group_by(ReviewRow.image_sha256)).subquery()

        def work(session: Session):
            inferences = session.execute(
                select(InferenceRow.image_sha256, InferenceRow.id, InferenceRow.created_at,
                       _as_text(InferenceRow.class_names), _as_text(InferenceRow.probabilities))
                .join(mine, InferenceRow.id == mine.c.id).order_by(InferenceRow.id)).all()
            seen = select(InferenceRow.image_sha256).where(InferenceRow.model_fingerprint == model_fingerprint)
            labels = session.execute(
                select(ReviewRow.image_sha256, _as_text(ReviewRow.classes), ReviewRow.decided_at)
                .join(last_review, ReviewRow.id == last_review.c.id)
                .where(ReviewRow.image_sha256.in_(seen))).all()
            return inferences, labels

        inferences, labels = self._read(work)
        frame = _frame(inferences, ["image_sha256", "inference_id", "inferred_at", "class_names", "probabilities"],
                       ("class_names", "probabilities"))
        label = _frame(labels, ["image_sha256", "label_classes", "decided_at"], ("label_classes",))
        frame = frame.join(label.set_index("image_sha256"), on="image_sha256")
        frame["reviewed"] = frame["decided_at"].notna()
        frame["inferred_at"] = pd.to_datetime(frame["inferred_at"])
        frame["decided_at"] = pd.to_datetime(frame["decided_at"])
        return frame

    def changed_shas(self, since: tuple[int, int]) -> list[str]:
        """Images with an inference or a review newer than `since` (a log_version)."""
        inference_id, review_id = since
        return self._read(lambda s: sorted(
            set(s.scalars(select(InferenceRow.image_sha256).where(InferenceRow.id > inference_id)))
            | set(s.scalars(select(ReviewRow.image_sha256).where(ReviewRow.id > review_id)))))

    def reviews_frame(self, with_masks: bool = True, after_id: int = 0) -> pd.DataFrame:
        """Every decision ever recorded (or those after review `after_id`), oldest first, with the verdict it
        answered (statistics skip the masks)."""
        masks = _as_text(ReviewRow.masks_rle) if with_masks else literal(None, Text).label("masks_rle")

        def work(session: Session):
            return session.execute(
                select(ReviewRow.id, ReviewRow.image_sha256, ImageRow.original_name, ReviewRow.inference_id,
                       InferenceRow.model_set, InferenceRow.model_version, _as_text(InferenceRow.class_names),
                       ReviewRow.reviewer, ReviewRow.decision, _as_text(ReviewRow.model_classes),
                       _as_text(ReviewRow.classes), masks, ReviewRow.reason, ReviewRow.page,
                       ReviewRow.decided_at, ImageRow.stored_path,
                       _as_text(ReviewRow.mask_sources))
                .join(InferenceRow, InferenceRow.id == ReviewRow.inference_id)
                .join(ImageRow, ImageRow.sha256 == ReviewRow.image_sha256)
                .where(ReviewRow.id > after_id).order_by(ReviewRow.id)).all()

        frame = _frame(self._read(work), [
            "review_id", "image_sha256", "image_name", "inference_id", "model_set", "model_version", "class_names",
            "reviewer", "decision", "model_classes", "classes", "masks_rle", "reason", "page", "decided_at",
            "stored_path", "mask_sources"], ("class_names", "model_classes", "classes", "masks_rle", "mask_sources"))
        frame["decided_at"] = pd.to_datetime(frame["decided_at"])
        return frame
