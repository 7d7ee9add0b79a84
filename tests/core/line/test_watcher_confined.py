# ruff: noqa: F811  (the tests take the imported `env` fixture by name)
"""The watcher reads only regular files inside the image roots, checks their size before reading them, and keeps
going (retrying the files) when the review log is busy or full (issue 34)."""

from __future__ import annotations

import os
import tracemalloc
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from core.contract.settings import load_settings
from core.line.watcher import Watcher, WatchOptions
from core.review.active import ActiveEngine
from core.review.store import ReviewLog
from core.review.store.db import StoreError
from tests.core.line.test_watcher import env, inference_counts, strip_png  # noqa: F401,F811  (env: fixture)


def _watcher(root: Path, **options) -> Watcher:
    settings = load_settings()
    log = ReviewLog.from_settings(settings)
    watcher = Watcher(WatchOptions([root / "cam"], ["*.png", "*.jpg"], batch_size=4, name="test", **options),
                      ActiveEngine(log, settings), log, settings.uncertainty_band)
    watcher.heartbeat = lambda force=False: None  # not under test here
    return watcher


def _offer_and_step(watcher: Watcher, *paths: Path) -> None:
    for path in paths:
        watcher.offer(path, complete=True)
    watcher.step()


def test_a_symlink_out_of_the_image_roots_is_refused_and_logged_never_read(env, capsys):
    secret = env / "outside.png"
    secret.write_bytes(strip_png(7))  # a real image, so a read would be inspected and recorded
    (env / "cam" / "link.png").symlink_to(secret)
    watcher = _watcher(env)
    _offer_and_step(watcher, env / "cam" / "link.png")
    assert inference_counts(watcher.log) == {}, "a file outside the image roots was read and recorded"
    assert watcher.beat.errors == 1 and "symbolic link" in watcher.beat.last_error
    assert "link.png: is a symbolic link" in capsys.readouterr().err


def test_a_linked_folder_leading_out_is_refused(env):
    outside = env / "elsewhere"
    outside.mkdir()
    (outside / "frame.png").write_bytes(strip_png(8))
    (env / "cam" / "sub").symlink_to(outside, target_is_directory=True)
    watcher = _watcher(env)
    _offer_and_step(watcher, env / "cam" / "sub" / "frame.png")
    assert inference_counts(watcher.log) == {}
    assert "leads outside the image roots" in watcher.beat.last_error


def test_a_sparse_300_mib_file_is_refused_by_its_size_before_it_is_read(env):
    huge = env / "cam" / "huge.png"
    with huge.open("wb") as handle:
        handle.truncate(300 * 2**20)  # sparse: costs no disk, but a read returns 300 MiB
    watcher = _watcher(env)  # the default limit: 200 MiB, as max_upload_bytes
    tracemalloc.start()
    try:
        _offer_and_step(watcher, huge)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 50 * 2**20, f"the watcher took {peak / 2**20:.0f} MiB for a file it should refuse unread"
    assert "over the 209,715,200 byte limit" in watcher.beat.last_error


def test_a_busy_database_is_logged_and_the_file_tried_again(env, monkeypatch):
    (env / "cam" / "a.png").write_bytes(strip_png(9))
    watcher = _watcher(env)
    real = ReviewLog.record_inference
    calls = []

    def busy_once(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("insert into inferences", {}, Exception("database is locked"))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(ReviewLog, "record_inference", busy_once)
    monkeypatch.setattr("core.line.watcher.RETRY_S", (0.0, 0.0), raising=False)
    _offer_and_step(watcher, env / "cam" / "a.png")
    assert "not recorded: the database is busy" in watcher.beat.last_error
    watcher.step()  # the retry: the file is unchanged, yet it is not written off as a bad image
    assert list(inference_counts(watcher.log).values()) == [1]


def test_a_locked_database_says_busy_within_the_deadline(env, monkeypatch):
    settings = load_settings()
    log = ReviewLog.from_settings(settings)
    monkeypatch.setattr("core.review.store.db.WRITE_DEADLINE_S", 1.0, raising=False)
    import sqlite3
    import time

    holder = sqlite3.connect(settings.database_url.removeprefix("sqlite:///"), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another program holding the write lock
    try:
        start = time.monotonic()
        with pytest.raises(StoreError, match="is busy"):
            log._write(lambda s: s.execute(text("delete from api_calls")))
        assert time.monotonic() - start < 10
    finally:
        holder.rollback()
        holder.close()
    assert os.path.exists(settings.database_url.removeprefix("sqlite:///"))
