"""Proof that the loop learns: a labelled dataset played through the engine as if it came from the line.

Sheets arrive one by one (a fixed hold-out never arrives), at the line's pace (`line_rate` sheets an hour, so the
queue's hourly sampling of sheets that teach sees the day it would on the line); each is inspected by the active set
and recorded (`record_inference`); a careful inspector answers exactly what the review queue holds, from the ground
truth, masks included (`add_review`); at each round's decision count a training job runs through the job code, its
gate decides, and a recommended candidate is promoted. After every round the active set is measured on the hold-out:
one JSON line per round, and a learning-curve plot at the end.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

import numpy as np

from core.contract.settings import Settings
from core.datasets import Dataset, open_dataset
from core.engine.inference import Inspector
from core.evaluation.evaluate import evaluate_indices
from core.imaging.rle import rle_encode
from core.modelsets.modelset import create_untrained
from core.retrain import jobs
from core.retrain.promotion import promote
from core.retrain.runner import run_job
from core.review.active import ActiveEngine, resolve_active
from core.review.store import Decision, ReviewLog
from core.review.store.models import utc_now
from core.training.data import split_dataset

INSPECTOR = "replay-inspector"
START_SET = "replay-r0"


@dataclass(frozen=True)
class ReplayOptions:
    dataset: Path
    out: Path
    rounds: tuple[int, ...]  # decision counts at which a job trains and gates a new set
    holdout_share: float = 0.2
    eval_share: float = 0.2
    preset: str = "quick"
    review: str = "queue"  # queue: only flagged sheets are answered, as on the line; all: every sheet
    seed: int = 0
    device: str = "cpu"
    max_sheets: int | None = None  # stop the stream early (tests)
    # "reserved": the hold-out is exactly the images the steel backbone never read (core.datasets.reserved), so a
    # round that starts from the backbone is measured on images no stage of it has seen.
    holdout: str = "share"
    # Sheets an hour the stream is recorded at (its times end now): the queue samples at most queue_explore_per_hour
    # sheets an hour beyond the flagged ones, so the pace decides how many of them a replay meets.
    line_rate: float = 120.0
    explore_per_hour: int = 6  # the queue_explore_per_hour setting the replayed line runs with


def careful_decision(verdict, dataset: Dataset, index: int) -> Decision:
    """The ground truth's classes and masks, as an inspector who checks every class and paints every outline."""
    sample = dataset.samples[index]
    names = dataset.class_names
    truth = tuple(names[k] for k in sample.labels)
    masks = sample.masks(verdict.height, verdict.width, len(names))
    painted = {names[k]: rle_encode(masks[k]) for k in sample.labels if masks[k].any()}
    if truth == tuple(verdict.classes_present):
        decision = Decision.accept(verdict)
    else:
        decision = Decision.override(verdict, truth, "ground truth of the replayed dataset")
    return replace(decision, masks_rle=painted)


def holdout_metrics(folder: Path, dataset: Dataset, holdout: tuple[int, ...], device: str) -> dict:
    summary = evaluate_indices(Inspector.load(folder, device, backend="torch"), dataset, holdout)["summary"]
    return {k: summary.get(k) for k in ("images", "image_ap", "macro_f1", "macro_dice", "macro_dice_positive")}


def run_round(log: ReviewLog, settings: Settings, preset: str, seed: int) -> dict:
    """One job through the job code (queued, claimed, run), its output in the job's log; promotion if the gate
    recommends it."""
    job_id = jobs.submit(log, INSPECTOR, {"preset": preset, "seed": seed})
    started = jobs.start_next(log, settings, launcher=lambda command, path, cwd, env: _own_pid())
    if started != job_id:
        raise RuntimeError(f"job {job_id} did not start (another job is active: {started})")
    row = jobs.job(log, job_id)
    Path(row.log_path).parent.mkdir(parents=True, exist_ok=True)
    with open(row.log_path, "a") as out, contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        result = run_job(log, job_id, settings)
    row = jobs.job(log, job_id)
    if row.status != "succeeded":
        return {"job": job_id, "status": row.status, "error": row.error.splitlines()[0] if row.error else "",
                "promoted": False}
    gate = result["gate"]
    promoted = gate["recommend"] == "promote"
    if promoted:
        promote(log, settings.models_dir, result["candidate"], INSPECTOR, f"replay gate: {gate['reason']}")
    return {"job": job_id, "status": "succeeded", "candidate": result["candidate"], "promoted": promoted,
            "gate": {"recommend": gate["recommend"], "reason": gate["reason"], "sheets": gate["sheets"],
                     "candidate": _brief(gate["candidate"]), "active": _brief(gate["active"])},
            "trained_on": result["summary"]["train"]["usable"]}


def _brief(summary: dict | None) -> dict | None:
    return {k: summary.get(k) for k in ("agreement", "image_ap", "dice")} if summary else None


def _own_pid() -> int:
    import os

    return os.getpid()


def replay(options: ReplayOptions, emit: Callable[[dict], None] = lambda line: print(json.dumps(line), flush=True)
           ) -> list[dict]:
    dataset = open_dataset(options.dataset)
    holdout = split_dataset(dataset, 0.0, options.holdout_share, options.seed,
                            reserved_holdout=options.holdout == "reserved").holdout
    stream = [i for i in range(len(dataset.samples)) if i not in set(holdout)]
    np.random.default_rng(options.seed).shuffle(stream)
    if options.max_sheets:
        stream = stream[: options.max_sheets]
    out = Path(options.out)
    settings = Settings(models_dir=out / "models", model_set=START_SET, database_url=f"sqlite:///{out / 'review.db'}",
                        image_store=out / "images", runs_dir=out / "runs", eval_share=options.eval_share,
                        device=options.device, queue_explore_per_hour=options.explore_per_hour)
    if not (settings.models_dir / START_SET).is_dir():
        create_untrained(settings.models_dir / START_SET, START_SET, dataset.class_names, dataset.task,
                         seed=options.seed, classifier_architecture="resnet18", segmenter_encoder="resnet18")
    log = ReviewLog.from_settings(settings)
    engine = ActiveEngine(log, settings, refresh_s=0.0)
    rounds, lines, decisions, seen, sampled = list(options.rounds), [], 0, 0, 0
    started = time.perf_counter()
    first_at = utc_now() - timedelta(hours=len(stream) / options.line_rate)
    index_of: dict[int, int] = {}  # inference id -> dataset index, for the sheets this replay recorded

    def measure(extra: dict) -> None:
        active = resolve_active(log, settings.models_dir, settings.model_set)
        line = {"decisions": decisions, "sheets_seen": seen, "queue_sampled": sampled, "active_set": active.name,
                **extra, "holdout": holdout_metrics(active.folder, dataset, holdout, options.device),
                "elapsed_s": round(time.perf_counter() - started, 1)}
        lines.append(line)
        emit(line)
        # Written after every round: an interrupted replay still leaves its curve so far.
        write_curve(lines, out / "learning_curve.png")
        (out / "rounds.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))

    measure({"round": 0, "promoted": False})
    for index in stream:
        if not rounds:
            break
        path = dataset.samples[index].image_path
        verdict = engine.current().inspect(path)
        at = first_at + timedelta(hours=seen / options.line_rate)
        inference_id = log.record_inference(verdict, path.read_bytes(), source="replay", at=at)
        index_of[inference_id] = index
        seen += 1
        if options.review == "all":
            decided = verdict.image_sha256 in log.reviewed_shas([verdict.image_sha256])  # same bytes met before
            answer = [] if decided else [inference_id]
        else:  # the queue as the Review queue page has it, flagged and sampled (not a rerun's leftovers)
            answer = [row.id for row in log.flagged_unreviewed(settings.uncertainty_band, "oldest")
                      if row.id in index_of]
        for queued_id in answer:
            queued = verdict if queued_id == inference_id else log.verdict(queued_id)
            log.add_review(queued_id, INSPECTOR, careful_decision(queued, dataset, index_of[queued_id]),
                           page="replay")
            decisions += 1
            sampled += log.sampled_reason(queued_id) is not None
        if decisions >= rounds[0]:
            round_start = time.perf_counter()
            outcome = run_round(log, settings, options.preset, options.seed)
            rounds.pop(0)
            measure({"round": len(lines), **outcome, "round_s": round(time.perf_counter() - round_start, 1)})
    if rounds:
        emit({"note": f"the stream ended before rounds at {rounds} decisions", "decisions": decisions})
    return lines


def write_curve(lines: list[dict], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = [line["decisions"] for line in lines]
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=120)
    for key, label in (("image_ap", "image-level AP"), ("macro_dice_positive", "Dice (defective sheets)"),
                       ("macro_f1", "macro F1")):
        ys = [line["holdout"].get(key) for line in lines]
        ax.plot(xs, [np.nan if y is None else y for y in ys], marker="o", label=label)
    for line in lines:
        if line.get("promoted"):
            ax.axvline(line["decisions"], color="grey", lw=0.6, ls=":")
    ax.set_xlabel("decisions in the review log")
    ax.set_ylabel("active set on the fixed hold-out")
    ax.set_ylim(0, 1)
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title("Replay learning curve (dotted: promotion)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
