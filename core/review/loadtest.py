"""Many reviewers at once against one review log: does every decision land exactly once?

    python -m core.loadtest --database-url URL [--processes 8] [--decisions 250]

Each process signs its decisions with a unique reason, so afterwards every one can be looked for
and counted. Prints decisions written, decisions found, duplicates, errors that reached a
"user" (a worker), and the wall time. Used by the tests on SQLite and PostgreSQL.
"""

from __future__ import annotations

import hashlib
import io
import multiprocessing as mp
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from sqlalchemy import func, select

from core.contract.verdict import Verdict
from core.review.store import Decision, DecisionConflict, ReviewLog
from core.review.store.models import ReviewRow

CLASSES = ("pits", "crazing", "scratches", "patches")


def fake_inference(log: ReviewLog, seed: int) -> int:
    """Record one small image with a made-up verdict (no model needed) and return its inference id."""
    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buffer, format="PNG")
    data = buffer.getvalue()
    masks = np.zeros((4, 64, 64), bool)
    masks[0, 10:20, 10:20] = True
    verdict = Verdict(
        image_name=f"load_{seed}.png", image_sha256=hashlib.sha256(data).hexdigest(), width=64, height=64,
        class_names=CLASSES, probabilities=(0.9, 0.1, 0.1, 0.1), thresholds=(0.5,) * 4, defective=True,
        classes_present=("pits",), masks=masks, regions=(), model_set="loadtest", model_version="0",
        model_fingerprint="loadtest@0", model_trained=False, device="cpu", segmenter_ran=True,
        timings_ms={}, created_at="")
    return log.record_inference(verdict, data, source="loadtest")


def decide_against_latest(log: ReviewLog, inference_id: int, reviewer: str, kind: str, classes: tuple[str, ...],
                          reason: str, page: str = "loadtest", attempts: int = 100) -> tuple[int, int]:
    """Record a decision against the image's label as read now, as a person changing it would; when a colleague
    decided in between (DecisionConflict, nothing recorded), read again and retry. Returns (review id, conflicts)."""
    sha = log.inference_image(inference_id)[0]
    for conflicts in range(attempts):
        current = log.current_label(sha)
        try:
            decision = Decision(kind, classes, reason, current.review_id if current else None)
            return log.add_review(inference_id, reviewer, decision, page=page), conflicts
        except DecisionConflict:
            continue
    raise RuntimeError(f"{reason}: still in conflict after {attempts} attempts")


def _reviewer(args: tuple) -> tuple[int, list[str], float, int]:
    url, store, tag, worker, count, inference_ids = args
    log = ReviewLog(url, store)
    written, errors, conflicts = 0, [], 0
    start = time.perf_counter()
    for i in range(count):
        inference_id = inference_ids[(worker + i) % len(inference_ids)]
        # The reason carries a unique tag, so every decision can be found and counted afterwards.
        kind, classes = ("accept", ("pits",)) if i % 3 else ("override", ("scratches",))
        try:
            conflicts += decide_against_latest(log, inference_id, f"reviewer-{worker}", kind, classes,
                                               f"{tag} w{worker} #{i}")[1]
            written += 1
        except Exception as exc:  # anything here would have reached a person as an error
            errors.append(f"{type(exc).__name__}: {exc}")
    log.close()
    return written, errors, time.perf_counter() - start, conflicts


@dataclass(frozen=True)
class LoadResult:
    processes: int
    decisions_each: int
    written: int
    found: int
    distinct: int
    errors: tuple[str, ...]
    seconds: float
    conflicts: int = 0  # decisions refused because a colleague's landed first (then retried on the new label)
    broken_chains: int = 0  # reviews whose replaces_review_id is not the review before them on that image

    @property
    def expected(self) -> int:
        return self.processes * self.decisions_each

    def line(self) -> str:
        return (f"{self.processes} processes x {self.decisions_each} decisions: written {self.written}, "
                f"found {self.found}, distinct {self.distinct}, duplicates {self.found - self.distinct}, "
                f"errors {len(self.errors)}, conflicts retried {self.conflicts}, broken chains {self.broken_chains}, "
                f"{self.seconds:.1f} s ({self.written / self.seconds:.0f} decisions/s)")


def run_load(url: str, image_store: str | Path, processes: int = 8, decisions: int = 250) -> LoadResult:
    tag = f"load-{uuid.uuid4().hex[:8]}"
    log = ReviewLog(url, image_store)
    inference_ids = [fake_inference(log, seed) for seed in range(4)]
    jobs = [(url, str(image_store), tag, w, decisions, inference_ids) for w in range(processes)]
    start = time.perf_counter()
    with mp.get_context("spawn").Pool(processes) as pool:
        results = pool.map(_reviewer, jobs)
    seconds = time.perf_counter() - start
    with log.engine.connect() as connection:
        mine = ReviewRow.reason.like(f"{tag} %")
        found = connection.execute(select(func.count()).where(mine)).scalar_one()
        distinct = connection.execute(select(func.count(func.distinct(ReviewRow.reason))).where(mine)).scalar_one()
        chains = connection.execute(select(ReviewRow.image_sha256, ReviewRow.id, ReviewRow.replaces_review_id)
                                    .where(mine).order_by(ReviewRow.image_sha256, ReviewRow.id)).all()
    log.close()
    previous: dict[str, int | None] = {}
    broken = 0
    for sha, review_id, replaces in chains:  # each decision must replace exactly the one before it
        broken += replaces != previous.get(sha)
        previous[sha] = review_id
    return LoadResult(processes, decisions, sum(r[0] for r in results), found, distinct,
                      tuple(e for r in results for e in r[1]), seconds, sum(r[3] for r in results), broken)
