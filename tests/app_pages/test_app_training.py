"""The training loop on the Models page, end to end with a real job process: start, progress, finish, the gate,
promote (the next verdict comes from the new set), roll back."""

from __future__ import annotations

import sys
import time

import pytest

from core.contract.settings import load_settings
from core.datasets import open_dataset
from core.engine.inference import Inspector
from core.retrain import jobs
from core.retrain.replay import careful_decision
from core.review.active import ActiveEngine
from tests.app_pages.test_app import button, open_log, start
from tests.conftest import make_tiny_model_set, write_small_strips
from tests.helpers.dashboard import dashboard_env, models_dir  # noqa: F401  (fixtures)

pytestmark = pytest.mark.usefixtures("dashboard_env")


@pytest.fixture
def reviewed(tmp_path, monkeypatch):
    """Own models folder (the test promotes into it) and 14 strips reviewed with ground-truth masks."""
    models = tmp_path / "own-models"
    make_tiny_model_set(models / "tiny")
    for key, value in {"STEELSCAN_MODELS_DIR": str(models), "STEELSCAN_MODEL_SET": "tiny",
                       "STEELSCAN_RUNS_DIR": str(tmp_path / "runs"), "STEELSCAN_EVAL_SHARE": "0.3"}.items():
        monkeypatch.setenv(key, value)
    dataset = open_dataset(write_small_strips(tmp_path / "strips", range(14)))
    inspector, log = Inspector.load(models / "tiny", "cpu"), open_log()
    for index, sample in enumerate(dataset.samples):
        verdict = inspector.inspect(sample.image_path)
        inference_id = log.record_inference(verdict, sample.image_path.read_bytes())
        log.add_review(inference_id, "ivan", careful_decision(verdict, dataset, index))
    return dataset


def _markdown(app) -> str:
    return "\n".join(m.value for m in app.markdown)


@pytest.mark.slow
def test_an_admin_trains_from_the_review_log_gates_promotes_and_rolls_back(reviewed):
    app = start("app_pages/models.py")
    assert "14 reviewed sheets" in _markdown(app)
    app.selectbox(key="train_preset").set_value("tiny")
    button(app, "Start training").click().run()
    assert not app.exception, [e.value for e in app.exception]
    log = open_log()
    [row] = jobs.jobs(log)
    assert row.status == "running" and row.pid and row.requested_by == "ann"
    seen_running = "running" in _markdown(app)
    deadline = time.monotonic() + 300
    progress_seen = 0.0
    while jobs.job(log, row.id).status == "running":
        assert time.monotonic() < deadline, jobs.tail(row.log_path)
        progress_seen = max(progress_seen, jobs.job(log, row.id).progress)
        time.sleep(2)
    app.run()
    row = jobs.job(log, row.id)
    assert row.status == "succeeded", row.error
    assert seen_running and progress_seen > 0.0  # the page saw it running; the row carried progress
    candidate = row.result["candidate"]
    assert f"Gate of job {row.id}" in _markdown(app)
    assert any("Recommended: promote" in s.value for s in app.success)  # the start set is untrained

    app.text_input(key="promote_reason").input("gate: better than the untrained start")
    button(app, f"Promote {candidate}").click().run()
    assert not app.exception, [e.value for e in app.exception]
    assert log.active_model_set() == candidate
    settings = load_settings()
    sample = reviewed.samples[0].image_path
    assert ActiveEngine(log, settings).current().inspect(sample).model_set == candidate
    assert "Lineage of the active set" in _markdown(app)
    app.switch_page("app_pages/inspect.py").run()
    assert any(f"Model set **{candidate}**" in c.value for c in app.caption)

    app.switch_page("app_pages/models.py").run()
    app.selectbox(key="rollback_to").set_value("tiny")
    app.text_input(key="rollback_reason").input("false alarms on line 2")
    button(app, "Roll back").click().run()
    assert log.active_model_set() == "tiny"
    changes = log.setting_changes()
    moves = changes[changes["key"] == "active_model_set"]
    assert list(moves["reason"]) == ["promote: gate: better than the untrained start",
                                     "rollback: false alarms on line 2"]
    assert list(moves["changed_by"]) == ["ann", "ann"]


def test_the_page_reattaches_to_a_running_job_and_cancels_it(tmp_path, monkeypatch):
    """As after an app restart: the job's process runs on, the page finds it in the database, shows its log's tail
    and stops it with Cancel."""
    monkeypatch.setenv("STEELSCAN_RUNS_DIR", str(tmp_path / "runs"))
    log = open_log()
    job_id = jobs.submit(log, "ann", {"preset": "tiny"})

    def stand_in(command, log_path, cwd, env):
        script = "import time; print('classifier 1/4: still training', flush=True); time.sleep(120)"
        return jobs.spawn([sys.executable, "-c", script], log_path, cwd, env)

    jobs.start_next(log, load_settings(), stand_in)
    row = jobs.job(log, job_id)
    deadline = time.monotonic() + 30
    while "still training" not in jobs.tail(row.log_path):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    app = start("app_pages/models.py")
    assert f"**Job {job_id}** · running" in _markdown(app)
    assert any("still training" in c.value for c in app.code)
    button(app, f"Cancel job {job_id}").click().run()
    assert jobs.job(log, job_id).status == "cancelled"
    deadline = time.monotonic() + 20
    while jobs.process_alive(row.pid):
        assert time.monotonic() < deadline, "the job's process outlived Cancel"
        time.sleep(0.2)
    assert any(f"Job {job_id} cancelled (cancelled by ann)" in w.value for w in app.warning)
