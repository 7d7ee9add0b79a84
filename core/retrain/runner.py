"""One training job's work, in its own process: the review log's training part -> `core.training.pipeline.run`
(the trainer's public entry point, through the same argument parser as `steelscan train`) -> the gate -> lineage
in the new set's card -> the job's row. Progress and ETA reach the row through the trainer's progress bars.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import time
import traceback
from dataclasses import replace
from pathlib import Path

from tqdm import tqdm

from core.contract.errors import SteelScanError
from core.modelsets.modelset import read_card, write_card
from core.retrain import jobs
from core.retrain.gate import compare
from core.retrain.parts import review_data, write_training_folder
from core.review.active import resolve_active
from core.review.store import ReviewLog
from core.review.store.models import utc_now

MIN_TRAINING_SHEETS = 4  # a train/validation split needs a few; fewer is a message, not a crash
# Stage -> (start, width) of the whole job's progress; the rest is the gate.
STAGES = {"classifier": (0.05, 0.60), "segmenter": (0.65, 0.15), "tuning thresholds": (0.80, 0.05),
          "validation": (0.85, 0.05), "training domain": (0.90, 0.02)}


class Cancelled(Exception):
    """SIGTERM from Cancel: stop where the trainer is."""


def candidate_name(parent: str, job_id: int) -> str:
    base = re.sub(r"-r\d+$", "", parent)  # a candidate of a candidate: my-line-r7 -> my-line-r9
    return f"{base}-r{job_id}"


class _Progress:
    """Turns the trainer's tqdm bars ('classifier 2/4', 'segmenter 1/2', ...) into the job's progress, written to
    its row at most every `every_s` seconds."""

    def __init__(self, log: ReviewLog, job_id: int, started, every_s: float = 2.0) -> None:
        self.log, self.job_id, self.started, self.every_s = log, job_id, started, every_s
        self._last = 0.0

    def report(self, desc: str, done: float, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < self.every_s:
            return
        self._last = now
        stage, fraction = desc or "training", None
        match = re.match(r"(classifier|segmenter) (\d+)/(\d+)", stage)
        if match:
            start, width = STAGES[match[1]]
            fraction = start + width * (int(match[2]) - 1 + done) / int(match[3])
        elif stage in STAGES:
            start, width = STAGES[stage]
            fraction = start + width * done
        if fraction is not None:
            jobs.report_progress(self.log, self.job_id, stage, fraction, self.started)

    def bar_class(self):
        progress = self

        class ReportingBar(tqdm):
            def __iter__(self):
                count = 0
                for item in super().__iter__():
                    yield item
                    count += 1
                    progress.report(getattr(self, "desc", ""), count / self.total if self.total else 0.0)

        return ReportingBar


def _hook_progress(progress: _Progress) -> None:
    """The trainer reports through tqdm; its modules get a tqdm that also writes the job's row."""
    import core.engine.domain as domain
    import core.training.loops as loops
    import core.training.pipeline as pipeline

    bar = progress.bar_class()
    for module in (loops, pipeline, domain):
        if hasattr(module, "tqdm"):
            module.tqdm = bar


def _on_sigterm(signum, frame) -> None:
    raise Cancelled()


def run_job(log: ReviewLog, job_id: int, settings) -> dict:
    """Run a claimed job to its end; the row says how it ended (succeeded, failed, or cancelled by someone).
    Only a job that reaches the gate installs its candidate; any other end removes what it had built."""
    signal.signal(signal.SIGTERM, _on_sigterm)
    row = jobs.job(log, job_id)
    started = row.started_at or utc_now()
    progress = _Progress(log, job_id, started)
    staged: list[Path] = []  # the candidate's staging folder, once named
    try:
        result = _work(log, row, settings, progress, staged)
        final = Path(settings.models_dir) / result["candidate"]
        if not jobs.install(log, job_id, staged[0], final, result):
            print(f"job {job_id}: cancelled before it could install {result['candidate']}; nothing installed",
                  flush=True)
            return {}
    except Cancelled:
        _discard(staged)
        jobs.finish(log, job_id, "cancelled", error="stopped by Cancel")
        print(f"job {job_id}: cancelled; nothing installed", flush=True)
        return {}
    except SteelScanError as exc:
        _discard(staged)
        jobs.finish(log, job_id, "failed", error=str(exc))
        print(f"job {job_id} failed: {exc}", flush=True)
        return {}
    except Exception as exc:  # a bug or a crash: the row and the log say so, with the traceback in the log
        traceback.print_exc()
        _discard(staged)
        jobs.finish(log, job_id, "failed", error=f"{type(exc).__name__}: {exc} (traceback in the job's log)")
        return {}
    print(f"job {job_id}: succeeded; candidate {result['candidate']}: {result['gate']['recommend']} "
          f"({result['gate']['reason']})", flush=True)
    return result


def _discard(staged: list[Path]) -> None:
    for folder in staged:
        jobs.discard(folder)


def _work(log: ReviewLog, row, settings, progress: _Progress, staged: list[Path]) -> dict:
    options = row.options
    models_dir = Path(settings.models_dir)
    parent = resolve_active(log, models_dir, settings.model_set) if not options.get("parent") else None
    parent_name = options.get("parent") or parent.name
    parent_folder = models_dir / parent_name
    parent_card = read_card(parent_folder)
    run_dir = Path(settings.runs_dir) / f"review-job-{row.id}"
    jobs.report_progress(log, row.id, "reading the review log", 0.01, progress.started)
    data = review_data(log, parent_card.class_names, settings.eval_share)
    summary = data.summary()
    print(f"review log: {summary['snapshot']['decisions']} labelled sheets; train {summary['train']['usable']} "
          f"usable ({summary['train']['without_masks']} without masks left out), eval {summary['eval']['sheets']}",
          flush=True)
    if summary["train"]["usable"] < MIN_TRAINING_SHEETS:
        raise SteelScanError(log.display_url, f"has {summary['train']['usable']} training sheets with masks "
                             f"(need {MIN_TRAINING_SHEETS})", "review more sheets, then start the job again")
    folder, _ = write_training_folder(data, run_dir / "data")
    name = options.get("name") or candidate_name(parent_name, row.id)
    if (models_dir / name).exists():
        raise SteelScanError(models_dir / name, "already exists", "choose another name for the new model set")
    out = jobs.staging_folder(models_dir, name, row.id)  # installed by run_job only once the gate has judged it
    staged.append(out)
    jobs.discard(out)  # a leftover of a killed earlier attempt
    out.parent.mkdir(parents=True, exist_ok=True)
    from core.cli.train import build_parser
    from core.training.pipeline import run as train

    argv = [str(folder), "--out", str(out), "--name", name, "--run-dir", str(run_dir), "--device",
            options.get("device", settings.device), "--seed", str(options.get("seed", 0)),
            "--description", f"trained from the review log (job {row.id}) on top of {parent_name}",
            "--pretrained", str(parent_folder),  # a warm start (core.training.start falls back when it cannot)
            *jobs.preset_args(options.get("preset", "quick")), *[str(a) for a in options.get("extra_args", [])]]
    if options.get("epochs"):
        argv += ["--epochs", str(options["epochs"])]
    args = build_parser().parse_args(argv)
    _hook_progress(progress)
    train(args, "steelscan train " + " ".join(shlex.quote(a) for a in argv))

    fast = {"backend": "torch", "reason": "the tiny preset skips the export"}
    if options.get("export", options.get("preset", "quick") != "tiny"):
        jobs.report_progress(log, row.id, "export + INT8 gate", 0.88, progress.started)
        from core.retrain.fast import make_fast

        fast = make_fast(out, folder, log=lambda message: print(message, flush=True))
    jobs.report_progress(log, row.id, "gate: candidate vs active", 0.93, progress.started)
    active = resolve_active(log, models_dir, settings.model_set)
    gate = compare(out, active.folder, data, options.get("device", settings.device))
    # "parent": the set that ran when the job started, which the candidate replaces; the weights themselves are
    # trained afresh on the whole review log (the trainer's public entry point has no warm start from a set).
    lineage = {"parent": parent_name, "parent_fingerprint": parent_card.fingerprint, "job": row.id,
               "weights_from": read_card(out).training.get("start", {}),
               "requested_by": row.requested_by, "snapshot": summary["snapshot"], "runs_on": fast,
               "parts": {p: summary[p]["sheets"] for p in ("train", "eval")},
               "trained_on": summary["train"]["usable"], "eval_share": settings.eval_share,
               "gate": {k: gate[k] for k in ("sheets", "candidate", "active", "active_set", "recommend", "reason",
                                             "disagreement_count")},
               "promotions": []}
    card = read_card(out)
    write_card(out, replace(card, lineage=lineage))
    return {"candidate": name, "parent": parent_name, "summary": summary, "gate": gate, "runs_on": fast,
            "command": " ".join(argv), "pid": os.getpid()}
