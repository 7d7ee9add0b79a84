"""Training jobs: queued in the review log's database, one running at a time, each in its own OS process.

The dashboard never trains inside its server: `start_next` spawns `python -m core.cli.main train
--from-review-log --job ID` detached (its own session, output to the job's log file), and the page only reads the
job's row and log. Because everything lives in the database and on disk, a reloaded page or a restarted app finds
the job again; `reap` marks a job whose process is gone as failed, with its log's tail.

Torch-free: the Models page and `steelscan train --status` import it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.contract.errors import SteelScanError
from core.review.store import ReviewLog
from core.review.store.decisions import check_reviewer
from core.review.store.models import TrainingJobRow, utc_now

ACTIVE = ("queued", "running")
FINISHED = ("succeeded", "failed", "cancelled")
PROJECT_ROOT = Path(__file__).resolve().parents[2]


class JobError(SteelScanError):
    """A training job that cannot be started, cancelled or found as asked."""


# Trainer options per preset (flags of `steelscan train`). "quick" is the replay's: a ResNet18, a short schedule,
# minutes on two CPU cores. "tiny" only proves the plumbing (tests).
# How long, not which network: every job trains with `steelscan train`'s own recipe for the reviewed sheets
# (core.training.recipe: whole images for photographs, strips for strips) and starts from the active set's weights
# (core.training.start: a warm start; the steel backbone when the active set is untrained or another network).
PRESETS: dict[str, list[str]] = {
    "quick": ["--steps", "400", "--epochs", "4", "--seg-epochs", "2", "--patience", "0"],
    "thorough": [],  # the trainer's own schedule for the data
    "tiny": ["--trainer", "staged", "--arch", "resnet18", "--epochs", "1", "--seg-epochs", "1", "--batch-size", "4",
             "--crop", "64", "--max-steps", "2", "--patience", "0", "--no-head-refit", "--no-augment"],
}
LEGACY_PRESETS = {"standard": "thorough", "masks": "thorough"}  # names older jobs were queued with


def preset_args(preset: str) -> list[str]:
    preset = LEGACY_PRESETS.get(preset, preset)
    if preset not in PRESETS:
        raise JobError(f"preset {preset!r}", "is unknown", f"choose one of {', '.join(PRESETS)}")
    return list(PRESETS[preset])


def submit(log: ReviewLog, requested_by: str, options: dict) -> int:
    """Queue a job; it starts when no other job runs (`start_next`)."""
    requested_by = check_reviewer(requested_by)
    preset_args(options.get("preset", "quick"))  # an unknown preset is refused now, not minutes later

    def work(session: Session) -> int:
        row = TrainingJobRow(status="queued", requested_by=requested_by, requested_at=utc_now(),
                             options=dict(options), host="", stage="queued", progress=0.0, log_path="", result={},
                             error="")
        session.add(row)
        session.flush()
        return row.id

    return log._write(work)


def job(log: ReviewLog, job_id: int) -> TrainingJobRow:
    row = log._read(lambda s: s.get(TrainingJobRow, job_id))
    if row is None:
        raise JobError(f"training job {job_id}", "does not exist", "list the jobs with `steelscan train --jobs`")
    return row


def jobs(log: ReviewLog, limit: int = 20) -> list[TrainingJobRow]:
    return log._read(lambda s: list(s.scalars(select(TrainingJobRow).order_by(TrainingJobRow.id.desc())
                                              .limit(limit))))


def _update(log: ReviewLog, job_id: int, **values) -> TrainingJobRow:
    def work(session: Session) -> TrainingJobRow:
        row = session.get(TrainingJobRow, job_id)
        for key, value in values.items():
            setattr(row, key, value)
        return row

    return log._write(work)


def log_file(runs_dir: Path, job_id: int) -> Path:
    return Path(runs_dir) / f"review-job-{job_id}" / "job.log"


def tail(path: str | Path, lines: int = 30) -> str:
    """The last lines of a job's log (progress bars' carriage returns folded to their latest state)."""
    path = Path(path)
    if not path.is_file():
        return ""
    with path.open("rb") as handle:
        handle.seek(max(0, path.stat().st_size - 64_000))
        text = handle.read().decode("utf-8", "replace")
    rows = [line.rsplit("\r", 1)[-1] for line in text.replace("\r\n", "\n").split("\n")]
    return "\n".join([r for r in rows if r.strip()][-lines:])


def process_alive(pid: int | None) -> bool:
    """True while the process exists and is not a zombie (a finished child nobody has waited for yet)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    if stat.is_file():
        try:
            return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
        except (OSError, IndexError):
            return True
    return True


def reap(log: ReviewLog) -> list[int]:
    """Mark running jobs of this host whose process is gone as failed, with their log's tail; returns their ids."""
    host = socket.gethostname()
    dead = [row for row in log._read(lambda s: list(s.scalars(
        select(TrainingJobRow).where(TrainingJobRow.status == "running"))))
        if row.host == host and not process_alive(row.pid) and not _starting(row)]
    for row in dead:
        _update(log, row.id, status="failed", finished_at=utc_now(), eta_s=None,
                error=f"the training process (pid {row.pid}) ended without reporting a result; its log's last "
                      f"lines:\n{tail(row.log_path, 15)}")
    return [row.id for row in dead]


def _starting(row: TrainingJobRow) -> bool:
    """Claimed but its pid not yet written (the launcher is starting it): not dead."""
    return row.pid is None and (utc_now() - row.started_at).total_seconds() < 60


Launcher = Callable[[list[str], Path, Path, dict], int]
# The settings a job runs under travel to its process as variables, so it sees the database, the model sets and the
# share the page saw, whatever steelscan.toml the process would find.
JOB_SETTINGS = ("database_url", "image_store", "models_dir", "model_set", "runs_dir", "eval_share", "device")


# Training runs this much below the default CPU priority (os.nice), so inspection on the same machine goes first.
JOB_NICENESS = 10


def lower_priority(step: int = JOB_NICENESS) -> int | None:
    """Called by the job's own process (`--job ID`) before it trains; returns its niceness now (None: no os.nice,
    e.g. Windows)."""
    try:
        return os.nice(step)
    except (AttributeError, OSError):
        return None


def spawn(command: list[str], log_path: Path, cwd: Path, env: dict) -> int:
    """Start the job's process detached from the caller (own session: a Streamlit rerun or restart leaves it
    running, and Cancel can signal its whole process group); returns its pid."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, **env, PYTHONPATH=str(cwd) + os.pathsep + os.environ.get("PYTHONPATH", ""),
               PYTHONUNBUFFERED="1")
    with log_path.open("ab") as out:
        process = subprocess.Popen(command, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   env=env, start_new_session=True)
    # Wait for it in a thread so it never lingers as a zombie in a long-lived server.
    threading.Thread(target=process.wait, daemon=True, name=f"training-job-{process.pid}").start()
    return process.pid


def job_command(job_id: int) -> list[str]:
    return [sys.executable, "-m", "core.cli.main", "train", "--from-review-log", "--job", str(job_id)]


def job_env(settings) -> dict[str, str]:
    return {f"STEELSCAN_{name.upper()}": str(getattr(settings, name)) for name in JOB_SETTINGS}


def start_next(log: ReviewLog, settings, launcher: Launcher = spawn) -> int | None:
    """Reap dead jobs, then start the oldest queued job if none runs; returns the started job's id."""
    reap(log)
    host = socket.gethostname()

    def claim(session: Session) -> TrainingJobRow | None:
        if session.scalar(select(TrainingJobRow.id).where(TrainingJobRow.status == "running").limit(1)):
            return None
        row = session.scalar(select(TrainingJobRow).where(TrainingJobRow.status == "queued")
                             .order_by(TrainingJobRow.id).limit(1))
        if row is None:
            return None
        row.status, row.stage, row.host, row.started_at = "running", "starting", host, utc_now()
        row.heartbeat_at = row.started_at
        row.log_path = str(log_file(settings.runs_dir, row.id))
        return row

    row = log._write(claim)
    if row is None:
        return None
    try:
        pid = launcher(job_command(row.id), Path(row.log_path), PROJECT_ROOT, job_env(settings))
    except OSError as exc:
        _update(log, row.id, status="failed", finished_at=utc_now(), error=f"could not start the process: {exc}")
        raise JobError(f"training job {row.id}", f"could not start ({exc})", "check the server's Python") from None
    _update(log, row.id, pid=pid)
    return row.id


def cancel(log: ReviewLog, job_id: int, who: str) -> TrainingJobRow:
    """Cancel a queued job, or stop a running one (SIGTERM to its process group)."""
    who = check_reviewer(who)
    row = job(log, job_id)
    if row.status not in ACTIVE:
        raise JobError(f"training job {job_id}", f"is already {row.status}", "nothing to cancel")
    row = _update(log, job_id, status="cancelled", finished_at=utc_now(), eta_s=None,
                  error=f"cancelled by {who}")
    if row.pid and process_alive(row.pid):
        try:
            os.killpg(row.pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            pass  # ended meanwhile: the row already says cancelled
    return row


def report_progress(log: ReviewLog, job_id: int, stage: str, progress: float, started: datetime) -> None:
    """The runner's heartbeat: stage, fraction done and an ETA from the time spent so far."""
    progress = min(max(progress, 0.0), 1.0)
    elapsed = (utc_now() - started).total_seconds()
    eta = elapsed * (1 - progress) / progress if progress > 0.02 else None
    _update(log, job_id, stage=stage[:64], progress=progress, eta_s=eta, heartbeat_at=utc_now())


def finish(log: ReviewLog, job_id: int, status: str, result: dict | None = None, error: str = "") -> None:
    """Record the outcome, unless someone cancelled the job meanwhile (their word stands)."""
    def work(session: Session) -> None:
        row = session.get(TrainingJobRow, job_id)
        if row.status == "cancelled":
            return
        row.status, row.finished_at, row.eta_s, row.error = status, utc_now(), None, error
        row.result = result or {}
        if status == "succeeded":
            row.progress, row.stage = 1.0, "done"

    log._write(work)


STAGING = ".staging"  # under models_dir: no card.json of its own, so no model set lists it


def staging_folder(models_dir: Path, name: str, job_id: int) -> Path:
    """Where a job builds its candidate: beside the installed sets (same file system, so installing is one rename)
    but invisible to every list of sets until the job has ended through the gate."""
    return Path(models_dir) / STAGING / f"{name}.job-{job_id}"


def discard(folder: Path) -> None:
    """Remove a candidate a job will not install (cancelled, failed, or refused at install)."""
    if Path(folder).parent.name == STAGING:  # never anything outside the staging area
        shutil.rmtree(folder, ignore_errors=True)


def install(log: ReviewLog, job_id: int, staged: Path, final: Path, result: dict) -> bool:
    """End a gated job: move its candidate into place and mark the job succeeded, in one database transaction, unless
    someone cancelled it meanwhile (then nothing is installed and the staged folder is removed). True if installed."""
    def work(session: Session) -> bool:
        row = session.get(TrainingJobRow, job_id)
        if row.status != "running":
            return False
        if final.exists():
            raise SteelScanError(final, "already exists", "choose another name for the new model set")
        Path(staged).rename(final)  # a failure here rolls the row back: the job is then reported failed
        row.status, row.finished_at, row.eta_s, row.error = "succeeded", utc_now(), None, ""
        row.result, row.progress, row.stage = dict(result), 1.0, "done"
        return True

    installed = log._write(work)
    if not installed:
        discard(staged)
    return installed


def active_job(log: ReviewLog) -> TrainingJobRow | None:
    return log._read(lambda s: s.scalar(select(TrainingJobRow).where(TrainingJobRow.status.in_(ACTIVE))
                                        .order_by(TrainingJobRow.id).limit(1)))
