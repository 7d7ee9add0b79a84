"""A job installs its candidate only once it has ended through the gate: cancelled (during training or while the
gate judged) or failed jobs leave no model set behind, and nothing half-written is ever listed."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from core.modelsets.modelset import list_model_sets
from core.retrain import jobs, runner
from core.review.store import ReviewLog
from tests.conftest import make_tiny_model_set
from tests.core.retrain.test_parts_jobs import review_sheets, settings_for

GATE = {"sheets": 3, "candidate": None, "active": None, "active_set": "parent", "recommend": "keep",
        "reason": "a stand-in gate", "disagreement_count": 0}


@pytest.fixture
def log(tmp_path) -> ReviewLog:
    log = ReviewLog(f"sqlite:///{tmp_path / 'review.db'}", tmp_path / "images")
    yield log
    log.close()


def _dead_pid() -> int:
    """A pid whose process has ended: Cancel finds nothing to signal (the job runs in this test's process)."""
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(done.stdout)


def _claimed_job(log: ReviewLog, tmp_path) -> tuple[int, object]:
    settings = settings_for(tmp_path, model_set="parent")
    make_tiny_model_set(settings.models_dir / "parent")
    review_sheets(log, 12)
    job_id = jobs.submit(log, "ann", {"preset": "tiny"})
    pid = _dead_pid()
    assert jobs.start_next(log, settings, lambda *args: pid) == job_id
    return job_id, settings


def _fake_trainer(settings, seen: list, then=None):
    """Writes a complete model set where the job asked (a copy of the parent), then does `then` (a failure, a
    cancel) as if it had happened at the end of training."""
    def train(args, command):
        seen.append(args.out)
        shutil.copytree(settings.models_dir / "parent", args.out)
        assert list_model_sets(settings.models_dir) == ["parent"]  # not listed while it is being made
        if then:
            then()
    return train


def _no_leftovers(settings) -> None:
    staging = settings.models_dir / jobs.STAGING
    assert not staging.exists() or not any(staging.iterdir()), list(staging.iterdir())


def test_a_job_cancelled_during_training_installs_nothing(log, tmp_path, monkeypatch):
    job_id, settings = _claimed_job(log, tmp_path)
    seen: list = []

    def sigterm():
        raise runner.Cancelled()

    monkeypatch.setattr("core.training.pipeline.run", _fake_trainer(settings, seen, sigterm))
    assert runner.run_job(log, job_id, settings) == {}
    assert seen, "the trainer never ran"
    assert jobs.job(log, job_id).status == "cancelled"
    assert list_model_sets(settings.models_dir) == ["parent"]
    _no_leftovers(settings)


def test_a_job_cancelled_while_the_gate_judges_installs_nothing(log, tmp_path, monkeypatch):
    job_id, settings = _claimed_job(log, tmp_path)
    monkeypatch.setattr("core.training.pipeline.run", _fake_trainer(settings, []))

    def gate_then_cancel(candidate, active, data, device):
        jobs.cancel(log, job_id, "ann")  # the admin presses Cancel while the gate runs
        return dict(GATE)

    monkeypatch.setattr(runner, "compare", gate_then_cancel)
    assert runner.run_job(log, job_id, settings) == {}
    row = jobs.job(log, job_id)
    assert row.status == "cancelled" and row.result == {}
    assert list_model_sets(settings.models_dir) == ["parent"]
    _no_leftovers(settings)


def test_a_failed_job_installs_nothing(log, tmp_path, monkeypatch):
    job_id, settings = _claimed_job(log, tmp_path)

    def crash():
        raise RuntimeError("out of memory in the segmenter")

    monkeypatch.setattr("core.training.pipeline.run", _fake_trainer(settings, [], crash))
    runner.run_job(log, job_id, settings)
    row = jobs.job(log, job_id)
    assert row.status == "failed" and "out of memory" in row.error
    assert list_model_sets(settings.models_dir) == ["parent"]
    _no_leftovers(settings)


def test_a_gated_job_installs_its_candidate_under_its_name(log, tmp_path, monkeypatch):
    job_id, settings = _claimed_job(log, tmp_path)
    monkeypatch.setattr("core.training.pipeline.run", _fake_trainer(settings, []))
    monkeypatch.setattr(runner, "compare", lambda *args: dict(GATE))
    result = runner.run_job(log, job_id, settings)
    name = f"parent-r{job_id}"
    assert result["candidate"] == name
    row = jobs.job(log, job_id)
    assert row.status == "succeeded" and row.result["candidate"] == name
    assert list_model_sets(settings.models_dir) == ["parent", name]
    from core.modelsets.modelset import read_card

    assert read_card(settings.models_dir / name).lineage["gate"]["recommend"] == "keep"
    _no_leftovers(settings)
