"""`steelscan train --from-review-log` from the shell: the same job the Models page starts, in its own process."""

from __future__ import annotations

import time

import pytest

from core.cli.main import main
from core.retrain import jobs
from core.review.store import ReviewLog
from tests.conftest import make_tiny_model_set


@pytest.fixture
def env(tmp_path, monkeypatch):
    make_tiny_model_set(tmp_path / "models" / "tiny")
    values = {"STEELSCAN_DATABASE_URL": f"sqlite:///{tmp_path / 'review.db'}",
              "STEELSCAN_IMAGE_STORE": str(tmp_path / "images"), "STEELSCAN_MODELS_DIR": str(tmp_path / "models"),
              "STEELSCAN_MODEL_SET": "tiny", "STEELSCAN_RUNS_DIR": str(tmp_path / "runs"),
              "STEELSCAN_DEVICE": "cpu", "STEELSCAN_SETTINGS": str(tmp_path / "none.toml")}
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return values


def test_a_job_from_the_shell_without_decisions_fails_with_the_reason_in_its_row_and_log(env, capsys):
    assert main(["train", "--from-review-log", "--preset", "tiny", "--by", "ann", "--detach"]) == 0
    assert "job 1 queued and started" in capsys.readouterr().out
    log = ReviewLog(env["STEELSCAN_DATABASE_URL"], env["STEELSCAN_IMAGE_STORE"])
    deadline = time.monotonic() + 120
    while jobs.job(log, 1).status in jobs.ACTIVE:
        assert time.monotonic() < deadline
        time.sleep(0.5)
    row = jobs.job(log, 1)
    assert row.status == "failed" and "holds no decisions" in row.error and row.requested_by == "ann"
    assert "holds no decisions" in jobs.tail(row.log_path)
    assert main(["train", "--jobs"]) == 0
    assert "failed" in capsys.readouterr().out
    log.close()


def test_an_unknown_preset_is_refused_before_queueing_and_plain_training_still_needs_out(env, capsys):
    assert main(["train", "--from-review-log", "--preset", "huge"]) == 2
    assert "preset 'huge': is unknown" in capsys.readouterr().err
    log = ReviewLog(env["STEELSCAN_DATABASE_URL"], env["STEELSCAN_IMAGE_STORE"])
    assert jobs.jobs(log) == []
    log.close()
    assert main(["train", "--preset", "tiny"]) == 2
    assert "--out is required" in capsys.readouterr().err
