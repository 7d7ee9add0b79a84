"""The background batch and the wait for its first result: the progress fragment sleeps on the job's event (no
polling traffic while the engine has the CPU) and wakes the moment the first sheet is recorded, or when the job
ends without one, so the page never hangs on a batch of unreadable files."""

from __future__ import annotations

import threading
import time

from core.review.store import ReviewLog
from tests.conftest import write_small_strips
from ui.batch_view import BatchJob, _await_first, start_job


def test_the_wait_ends_as_soon_as_the_first_result_is_recorded():
    job = BatchJob(batch_id=1, total=3)
    threading.Timer(0.2, job.first.set).start()
    started = time.monotonic()
    _await_first([job], 10.0)
    waited = time.monotonic() - started
    assert job.first.is_set()
    assert 0.15 <= waited < 5.0  # woken by the event, long before the 10 s bound


def test_the_wait_is_bounded_when_nothing_arrives():
    job = BatchJob(batch_id=1, total=3)
    started = time.monotonic()
    _await_first([job], 0.3)
    assert time.monotonic() - started >= 0.3 and not job.first.is_set()


def test_any_of_several_jobs_ends_the_wait():
    older, newer = BatchJob(batch_id=1, total=2), BatchJob(batch_id=1, total=2)
    older.first.set()
    started = time.monotonic()
    _await_first([older, newer], 10.0)
    assert time.monotonic() - started < 1.0


def _log(tmp_path) -> ReviewLog:
    return ReviewLog(f"sqlite:///{tmp_path / 'review.db'}", tmp_path / "img")


def test_a_job_signals_its_first_recorded_sheet_and_records_the_batch(tmp_path, tiny_inspector, monkeypatch):
    monkeypatch.setenv("STEELSCAN_SETTINGS", str(tmp_path / "none.toml"))
    strips = sorted((write_small_strips(tmp_path / "strips", range(3)) / "train_images").glob("*"))
    log = _log(tmp_path)
    batch_id = log.open_batch("ann", "upload", "three strips")
    job = start_job(tiny_inspector, log, "ann", batch_id, [(p.read_bytes(), p.name) for p in strips], 0.1, "upload")
    _await_first([job], 120.0)
    assert job.first.is_set() and job.recorded >= 1
    assert job.finished.wait(120.0)
    assert job.recorded == 3 and not job.errors and not job.failure
    assert len(log.current_batch("ann").items) == 3


def test_a_job_of_unreadable_files_still_ends_the_wait(tmp_path, tiny_inspector, monkeypatch):
    monkeypatch.setenv("STEELSCAN_SETTINGS", str(tmp_path / "none.toml"))
    log = _log(tmp_path)
    batch_id = log.open_batch("ann", "upload", "two broken files")
    job = start_job(tiny_inspector, log, "ann", batch_id, [(b"not an image", "a.jpg"), (b"", "b.png")], 0.1,
                    "upload")
    _await_first([job], 120.0)
    assert job.finished.wait(120.0)
    assert job.first.is_set() and job.recorded == 0 and len(job.errors) == 2
    assert "a.jpg" in job.errors[0]


def test_a_one_image_job_is_finished_when_its_first_result_wakes_the_page(tmp_path, tiny_inspector, monkeypatch):
    """The page then reruns once for it (result and end together), not once more a second later while the
    inspector is already working on the sheet."""
    monkeypatch.setenv("STEELSCAN_SETTINGS", str(tmp_path / "none.toml"))
    strip = sorted((write_small_strips(tmp_path / "strips", [7]) / "train_images").glob("*"))[0]
    log = _log(tmp_path)
    job = start_job(tiny_inspector, log, "ann", log.open_batch("ann", "upload", "one"),
                    [(strip.read_bytes(), strip.name)], 0.1, "upload")
    _await_first([job], 120.0)
    assert job.recorded == 1 and not job.running


def test_after_stop_the_remaining_sources_go_to_a_new_job_of_the_same_batch():
    """Issue 37, item 6: what Stop left out is one click away (ui.batch_view._resume), in the batch's order."""
    from ui.batch_view import BatchJob, _resume

    started: list[list] = []
    job = BatchJob(7, 5, done=2, sources=["a", "b", "c", "d", "e"], again=lambda rest: started.append(list(rest)))
    assert job.remaining == ()  # not stopped: nothing remains to offer
    job.stop.set()
    assert job.remaining == ()  # stopped but still running: not yet
    job.finished.set()
    assert list(job.remaining) == ["c", "d", "e"]
    _resume([job])
    assert started == [["c", "d", "e"]] and not job.remaining  # offered once: the new job owns them now
