"""Sheet parts, the review-log dataset, training jobs as processes, the gate's rule, promotion and rollback."""

from __future__ import annotations

import hashlib
import io
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from core.contract.settings import Settings
from core.datasets import open_dataset
from core.retrain import jobs
from core.retrain.gate import recommendation
from core.retrain.parts import assign_parts, draw_part, review_data, write_training_folder
from core.retrain.promotion import history, promote, roll_back
from core.review.store import Decision, ReviewLog
from tests.helpers.dashboard import make_verdict, noise_png


@pytest.fixture
def log(tmp_path) -> ReviewLog:
    log = ReviewLog(f"sqlite:///{tmp_path / 'review.db'}", tmp_path / "images")
    yield log
    log.close()


def settings_for(tmp_path: Path, **extra) -> Settings:
    return Settings(database_url=f"sqlite:///{tmp_path / 'review.db'}", image_store=tmp_path / "images",
                    models_dir=tmp_path / "models", runs_dir=tmp_path / "runs", **extra)


def review_sheets(log: ReviewLog, count: int, painted: bool = True) -> list[str]:
    """`count` sheets the model called 'pits'; the inspector says 'pits' (accept) or adds 'scratches' (override),
    painting the added class only when `painted`."""
    shas = []
    for i in range(count):
        data = noise_png(i)
        verdict = make_verdict(data, f"s{i}.png", (0.9, 0.1, 0.1, 0.1))
        inference_id = log.record_inference(verdict, data)
        if i % 2:
            decision = Decision.override(verdict, ("pits", "scratches"), "a scratch too")
            if painted:
                decision = Decision(decision.kind, decision.classes, decision.reason, masks_rle={"scratches": "1 20"})
        else:
            decision = Decision.accept(verdict)
        log.add_review(inference_id, "ann", decision)
        shas.append(verdict.image_sha256)
    return shas


def test_parts_are_drawn_by_hash_at_the_share_and_never_redrawn(log):
    shares = [draw_part(hashlib.sha256(str(i).encode()).hexdigest(), 0.2) for i in range(4000)]
    assert 0.17 < shares.count("eval") / len(shares) < 0.23
    shas = review_sheets(log, 12)
    first = assign_parts(log, shas, 0.2)
    again = assign_parts(log, shas, 0.9)  # a changed share moves no sheet already assigned
    assert again == first
    assert {draw_part(s, 0.2) for s in shas if first[s] == "eval"} <= {"eval"}


def test_review_data_labels_by_latest_decision_and_keeps_unmasked_sheets_out_of_training(log, tmp_path):
    shas = review_sheets(log, 12, painted=False)
    # A later inspection and decision of sheet 0 changes its label: the latest decision counts. (A new inference
    # of the same image, so the decision answers an undecided verdict.)
    data0 = noise_png(0)
    again = log.record_inference(make_verdict(data0, "s0-again.png", (0.1, 0.1, 0.1, 0.1)), data0)
    shown = log.current_label(shas[0])  # bob saw ann's label and changes it, naming it
    log.add_review(again, "bob", Decision.change(log.verdict(again), (), "second look: clean", shown.review_id))
    data = review_data(log, make_verdict(data0, "x", (0.1,) * 4).class_names, 0.25)
    by_sha = {s.sha256: s for s in data.sheets}
    assert by_sha[shas[0]].classes == () and len(data.sheets) == 12
    assert data.snapshot["decisions"] == 12
    assert by_sha[shas[1]].unmasked == ("scratches",)
    folder, dataset = write_training_folder(data, tmp_path / "train-data")
    trained = {p.name for p in (folder / "train_images").iterdir()}
    stored = {s.image_path.name: s for s in data.sheets}
    assert trained == {n for n, s in stored.items() if s.part == "train" and not s.unmasked}
    assert all(stored[n].part != "eval" for n in trained)  # evaluation sheets are never trained on
    assert len(dataset.problems) == sum(1 for s in data.part("train") if s.unmasked)
    assert len(open_dataset(folder).samples) == len(trained)
    same = review_data(log, data.class_names, 0.25)
    assert same.snapshot["decision_ids_sha256"] == data.snapshot["decision_ids_sha256"]


def test_one_job_runs_at_a_time_and_the_next_starts_after(log, tmp_path):
    settings = settings_for(tmp_path)
    started: list[list[str]] = []

    def launcher(command, log_path, cwd, env):
        started.append(command)
        assert env["STEELSCAN_DATABASE_URL"] == settings.database_url
        return os.getpid()  # a live process stands in for the job

    first, second = jobs.submit(log, "ann", {"preset": "tiny"}), jobs.submit(log, "ann", {"preset": "tiny"})
    assert jobs.start_next(log, settings, launcher) == first
    assert jobs.start_next(log, settings, launcher) is None  # the first still runs
    assert jobs.job(log, second).status == "queued"
    assert started[0][-2:] == ["--job", str(first)]
    jobs.finish(log, first, "succeeded", {"candidate": "x"})
    assert jobs.start_next(log, settings, launcher) == second


def _fake_trainer(command, log_path, cwd, env):
    """The real spawn, with a stand-in for the trainer that logs a line and then works for a minute."""
    script = "import time; print('classifier 1/4: training', flush=True); time.sleep(60)"
    return jobs.spawn([sys.executable, "-c", script], log_path, cwd, env)


def _wait_for(predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_a_killed_job_process_is_reported_failed_with_its_log(log, tmp_path):
    settings = settings_for(tmp_path)
    job_id = jobs.submit(log, "ann", {"preset": "tiny"})
    jobs.start_next(log, settings, _fake_trainer)
    row = jobs.job(log, job_id)
    _wait_for(lambda: "classifier 1/4" in jobs.tail(row.log_path))
    assert jobs.reap(log) == []  # alive: left alone
    os.kill(row.pid, signal.SIGKILL)
    _wait_for(lambda: not jobs.process_alive(row.pid))
    assert jobs.reap(log) == [job_id]
    row = jobs.job(log, job_id)
    assert row.status == "failed"
    assert f"pid {row.pid}" in row.error and "classifier 1/4: training" in row.error


def test_cancel_stops_the_running_process_and_the_runner_cannot_overwrite_it(log, tmp_path):
    settings = settings_for(tmp_path)
    job_id = jobs.submit(log, "ann", {})
    jobs.start_next(log, settings, _fake_trainer)
    pid = jobs.job(log, job_id).pid
    jobs.cancel(log, job_id, "ann")
    _wait_for(lambda: not jobs.process_alive(pid))
    jobs.finish(log, job_id, "succeeded", {"candidate": "late"})
    assert jobs.job(log, job_id).status == "cancelled"
    with pytest.raises(jobs.JobError, match="already cancelled"):
        jobs.cancel(log, job_id, "ann")


def test_progress_gives_an_eta(log, tmp_path):
    job_id = jobs.submit(log, "ann", {})
    jobs.start_next(log, settings_for(tmp_path), lambda *a: os.getpid())
    row = jobs.job(log, job_id)
    from datetime import timedelta

    jobs.report_progress(log, job_id, "classifier 2/4", 0.25, row.started_at - timedelta(seconds=30))
    row = jobs.job(log, job_id)
    assert row.progress == 0.25 and 85 < row.eta_s < 95  # 30 s for a quarter: about 90 s to go


def test_recommendation_needs_a_comparable_trained_active_set_and_scores():
    good = {"sheets": 40, "agreement": 0.8, "image_ap": 0.9, "dice": 0.5}
    assert recommendation({"sheets": 0}, good)[0] == "keep"
    assert recommendation(good, None)[0] == "cannot-tell"  # another class list: the admin judges
    assert recommendation(good, {**good, "agreement": 0.99, "trained": False})[0] == "promote"
    # agreement alone never promotes: without a paired comparison there is no verdict
    assert recommendation(good, {**good, "agreement": 0.1})[0] == "cannot-tell"


def test_promotion_and_rollback_are_logged_with_reason(log, tmp_path):
    from core.modelsets.modelset import read_card
    from tests.conftest import make_tiny_model_set

    models = tmp_path / "models"
    make_tiny_model_set(models / "a")
    make_tiny_model_set(models / "b", seed=1)
    with pytest.raises(Exception, match="needs a reason"):
        promote(log, models, "b", "ann", " ")
    promote(log, models, "b", "ann", "gate says better")
    assert log.active_model_set() == "b"
    roll_back(log, models, "a", "ann", "false alarms on line 2")
    assert log.active_model_set() == "a"
    changes = history(log)
    assert list(changes["to"]) == ["a", "b"] and list(changes["who"]) == ["ann", "ann"]
    assert list(changes["reason"]) == ["rollback: false alarms on line 2", "promote: gate says better"]
    assert read_card(models / "b").lineage == {}  # not trained from the log: nothing to add to


def test_the_trainers_bars_become_the_jobs_progress(log, tmp_path):
    from core.retrain.runner import _Progress

    job_id = jobs.submit(log, "ann", {})
    jobs.start_next(log, settings_for(tmp_path), lambda *a: os.getpid())
    progress = _Progress(log, job_id, jobs.job(log, job_id).started_at)
    progress.report("classifier 2/4", 0.5, force=True)  # half of the second of four epochs
    row = jobs.job(log, job_id)
    assert row.stage == "classifier 2/4" and abs(row.progress - (0.05 + 0.60 * 1.5 / 4)) < 1e-9
    progress.report("segmenter 1/2", 1.0)  # within the throttle: not written
    assert jobs.job(log, job_id).stage == "classifier 2/4"
    progress.report("segmenter 1/2", 1.0, force=True)
    assert abs(jobs.job(log, job_id).progress - (0.65 + 0.15 * 1 / 2)) < 1e-9
    bar = progress.bar_class()
    assert list(bar(range(4), desc="tuning thresholds", file=io.StringIO(), mininterval=0)) == [0, 1, 2, 3]
    time.sleep(0.01)
    progress._last = 0.0  # past the throttle
    assert list(bar(range(2), desc="tuning thresholds", file=io.StringIO())) == [0, 1]
    row = jobs.job(log, job_id)  # written after the first item; the second fell within the throttle
    assert row.stage == "tuning thresholds" and abs(row.progress - (0.80 + 0.05 * 1 / 2)) < 1e-9


def test_a_training_job_runs_below_inspections_cpu_priority(log, tmp_path):
    """The real job process (`steelscan train --from-review-log --job ID`), on a log with nothing to train on: it
    ends quickly, and its log says the niceness it trained at, above this process's by JOB_NICENESS."""
    settings = settings_for(tmp_path)
    job_id = jobs.submit(log, "ann", {"preset": "tiny"})
    assert jobs.start_next(log, settings) == job_id
    _wait_for(lambda: jobs.job(log, job_id).status in jobs.FINISHED, timeout=120)
    written = Path(jobs.job(log, job_id).log_path).read_text()
    expected = min(19, os.nice(0) + jobs.JOB_NICENESS)
    assert f"training at CPU priority nice {expected}" in written, written[-2000:]
