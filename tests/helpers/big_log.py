"""A review log with many reviewed sheets, written in bulk (no images on disk, no model): for the Statistics
benchmark and the tests that the page's SQL aggregates match the per-row computation."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy import insert

from core.review.store import ReviewLog
from core.review.store.models import ImageRow, InferenceRow, ReviewRow

CLASSES = ("pits", "crazing", "scratches", "patches")
REVIEWERS = ("ann", "bob", "carol", "dmitri", "erin")


def fill_reviewed_sheets(log: ReviewLog, count: int, seed: int = 0, days: int = 30,
                         end: datetime | None = None, reviewed_share: float = 1.0) -> None:
    """`count` sheets inspected over `days` days before `end`, each with one verdict and (for `reviewed_share`
    of them) one review; about a fifth of the reviews override the model."""
    rng = np.random.default_rng(seed)
    end = end or datetime(2026, 11, 22, 12, 0)
    images, inferences, reviews = [], [], []
    for i in range(count):
        sha = hashlib.sha256(f"sheet-{seed}-{i}".encode()).hexdigest()
        at = end - timedelta(seconds=float(rng.uniform(0, days * 86_400)))
        probabilities = [round(float(p), 4) for p in rng.beta(0.6, 2.5, len(CLASSES))]
        present = [c for c, p in zip(CLASSES, probabilities, strict=True) if p >= 0.5]
        regions = [{"class": c, "area_px": int(rng.lognormal(7, 1.5)) + 1, "bbox": [0, 0, 10, 10],
                    "mean_probability": 0.8} for c in present for _ in range(int(rng.integers(1, 4)))]
        margin = min(abs(p - 0.5) for p in probabilities)
        name = f"line2_coil{i // 50:04d}_strip{i % 50:02d}.jpg"
        images.append({"sha256": sha, "original_name": name, "size_bytes": 100_000, "width": 1600, "height": 256,
                       "stored_path": f"{sha[:2]}/{sha}.jpg", "first_seen_at": at})
        inferences.append({
            "id": i + 1, "image_sha256": sha, "model_set": "severstal-synthetic", "model_version": "1.0.0",
            "model_fingerprint": "bench@1", "model_trained": True, "class_names": list(CLASSES),
            "probabilities": probabilities, "thresholds": [0.5] * 4, "classes_present": present,
            "regions": regions, "defective": bool(present), "margin": margin, "timings_ms": {}, "device": "cpu",
            "source": "bench", "verdict": {"image": name, "sha256": sha}, "created_at": at})
        if rng.random() < reviewed_share:
            override = rng.random() < 0.2
            classes = ([c for c in CLASSES if rng.random() < 0.3] if override else present)
            reviews.append({
                "image_sha256": sha, "inference_id": i + 1, "reviewer": REVIEWERS[int(rng.integers(len(REVIEWERS)))],
                "decision": "override" if override and classes != present else "accept",
                "model_classes": present, "classes": classes, "masks_rle": {}, "reason": "bench" if override else "",
                "page": "queue", "decided_at": at + timedelta(minutes=float(rng.uniform(1, 600))),
                "replaces_review_id": None})

    def work(session) -> None:
        for table, rows in ((ImageRow, images), (InferenceRow, inferences), (ReviewRow, reviews)):
            for start in range(0, len(rows), 2000):
                session.execute(insert(table), rows[start:start + 2000])

    log._write(work)
