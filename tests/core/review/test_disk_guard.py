"""The free-disk guard: below min_free_disk_mb a new verdict or decision is refused with a message naming the disk,
the free space and the setting, before anything is written, and shows as 'not recorded: the database is full';
the disk is asked at most once a second."""

from __future__ import annotations

import shutil
from types import SimpleNamespace

import pytest

from core.contract.settings import load_settings
from core.review.loadtest import fake_inference
from core.review.store import Decision, ReviewLog
from core.review.store.db import DatabaseFull, not_recorded_because
from core.review.store.disk import DiskGuard
from tests.helpers.dashboard import make_verdict, noise_png


@pytest.fixture
def settings(tmp_path, monkeypatch):
    monkeypatch.setenv("STEELSCAN_SETTINGS", str(tmp_path / "none.toml"))
    monkeypatch.setenv("STEELSCAN_DATABASE_URL", f"sqlite:///{tmp_path / 'log.db'}")
    monkeypatch.setenv("STEELSCAN_IMAGE_STORE", str(tmp_path / "images"))
    free_mb = shutil.disk_usage(tmp_path).free // 2**20
    monkeypatch.setenv("STEELSCAN_MIN_FREE_DISK_MB", str(free_mb + 10_000))  # more than the disk has free
    return load_settings()


def test_records_are_refused_below_min_free_disk_mb_before_anything_is_written(settings, tmp_path):
    log = ReviewLog.from_settings(settings)
    data = noise_png(3)
    with pytest.raises(DatabaseFull) as refused:
        log.record_inference(make_verdict(data, "sheet.png", (0.9, 0.1, 0.1, 0.1)), data)
    message = str(refused.value)
    assert f"the disk holding the review log's database ({tmp_path})" in message
    assert f"MB free, below min_free_disk_mb={settings.min_free_disk_mb}" in message
    assert "free space or move the image store" in message
    assert not_recorded_because(refused.value) == "full"  # the pages say "Not recorded: the database is full"
    assert not (tmp_path / "images").exists() and log.images_frame().empty  # no file, no row

    log.disk_guard.min_free_mb = 1  # room again: recording works, then the disk fills up before a decision
    inference = fake_inference(log, 7)
    verdict = log.verdict(inference)
    log.disk_guard.min_free_mb = settings.min_free_disk_mb
    log.disk_guard.every_s = 0.0
    with pytest.raises(DatabaseFull, match="below min_free_disk_mb"):
        log.add_review(inference, "ann", Decision.accept(verdict))
    assert log.latest_review(verdict.image_sha256) is None
    log.close()


def test_the_image_store_alone_is_guarded_too(tmp_path):
    log = ReviewLog(f"sqlite:///{tmp_path / 'log.db'}", tmp_path / "images")
    log.disk_guard = DiskGuard(5, usage=lambda folder: SimpleNamespace(free=2 * 2**20))
    with pytest.raises(DatabaseFull, match=r"the disk holding the image store .* has 2 MB free, below "
                                           r"min_free_disk_mb=5"):
        log.store_image_file(noise_png(1), "a.png")
    log.close()


def test_the_disk_is_asked_at_most_once_a_second(monkeypatch, tmp_path):
    calls = []
    real = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda folder: calls.append(folder) or real(folder))
    log = ReviewLog(f"sqlite:///{tmp_path / 'log.db'}", tmp_path / "images", min_free_disk_mb=1)
    for seed in range(20):
        fake_inference(log, seed)
    assert 1 <= len(calls) <= 4  # two folders (database, image store), asked again only after a second
    log.close()
