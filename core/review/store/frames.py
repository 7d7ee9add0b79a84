"""Tables for statistics and export: pandas frames of the latest verdict and label per image, and every decision."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.review.store.models import ImageRow, InferenceRow, ReviewRow


class ReviewFrames:
    """Mixed into ReviewLog: reads only, through its `_read` and `_latest_per_image`."""

    def images_frame(self) -> pd.DataFrame:
        """One row per image: its latest verdict and its latest review (the current label), if any."""
        latest = self._latest_per_image()

        def work(session: Session) -> pd.DataFrame:
            inferences = session.execute(
                select(InferenceRow.image_sha256, ImageRow.original_name, InferenceRow.id, InferenceRow.created_at,
                       InferenceRow.model_set, InferenceRow.model_version, InferenceRow.model_trained,
                       InferenceRow.class_names, InferenceRow.probabilities, InferenceRow.thresholds,
                       InferenceRow.classes_present, InferenceRow.defective, InferenceRow.margin,
                       InferenceRow.regions)
                .join(latest, InferenceRow.id == latest.c.id)
                .join(ImageRow, ImageRow.sha256 == InferenceRow.image_sha256)).all()
            reviews = session.execute(
                select(ReviewRow.image_sha256, ReviewRow.reviewer, ReviewRow.decision, ReviewRow.classes,
                       ReviewRow.decided_at).order_by(ReviewRow.id)).all()
            return inferences, reviews

        inferences, reviews = self._read(work)
        frame = pd.DataFrame(inferences, columns=[
            "image_sha256", "image_name", "inference_id", "inspected_at", "model_set", "model_version",
            "model_trained", "class_names", "probabilities", "thresholds", "model_classes", "defective", "margin",
            "regions"])
        history = pd.DataFrame(reviews, columns=["image_sha256", "reviewer", "decision", "final_classes",
                                                 "decided_at"])
        first = history.groupby("image_sha256")["decided_at"].min().rename("first_reviewed_at")
        current = history.groupby("image_sha256").last()
        frame = frame.join(current, on="image_sha256").join(first, on="image_sha256")
        frame["reviewed"] = frame["decision"].notna()
        frame["inspected_at"] = pd.to_datetime(frame["inspected_at"])
        for column in ("decided_at", "first_reviewed_at"):
            frame[column] = pd.to_datetime(frame[column])
        return frame

    def reviews_frame(self) -> pd.DataFrame:
        """Every decision ever recorded, oldest first, with the verdict it answered."""
        def work(session: Session):
            return session.execute(
                select(ReviewRow.id, ReviewRow.image_sha256, ImageRow.original_name, ReviewRow.inference_id,
                       InferenceRow.model_set, InferenceRow.model_version, InferenceRow.class_names,
                       ReviewRow.reviewer, ReviewRow.decision, ReviewRow.model_classes, ReviewRow.classes,
                       ReviewRow.masks_rle, ReviewRow.reason, ReviewRow.page, ReviewRow.decided_at,
                       ImageRow.stored_path, ReviewRow.mask_sources)
                .join(InferenceRow, InferenceRow.id == ReviewRow.inference_id)
                .join(ImageRow, ImageRow.sha256 == ReviewRow.image_sha256)
                .order_by(ReviewRow.id)).all()

        frame = pd.DataFrame(self._read(work), columns=[
            "review_id", "image_sha256", "image_name", "inference_id", "model_set", "model_version", "class_names",
            "reviewer", "decision", "model_classes", "classes", "masks_rle", "reason", "page", "decided_at",
            "stored_path", "mask_sources"])
        frame["decided_at"] = pd.to_datetime(frame["decided_at"])
        return frame
