"""The folder watcher on partial writes, renames, duplicates, overflow, bad files, and a kill -9 restart."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import func, select

from core.contract.settings import load_settings
from core.line.heartbeat import heartbeats
from core.line.watcher import Watcher, WatchOptions
from core.review.active import ActiveEngine
from core.review.store import ReviewLog
from core.review.store.models import InferenceRow
from tests.conftest import PROJECT


def strip_png(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (64, 256, 3), dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def inference_counts(log: ReviewLog) -> dict[str, int]:
    rows = log._read(lambda s: s.execute(select(InferenceRow.image_sha256, func.count())
                                         .group_by(InferenceRow.image_sha256)).all())
    return dict(rows)


def wait_for(condition: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


@pytest.fixture
def env(tiny_set, tmp_path, monkeypatch):
    values = {"STEELSCAN_MODELS_DIR": str(tiny_set.parent), "STEELSCAN_MODEL_SET": tiny_set.name,
              "STEELSCAN_DEVICE": "cpu", "STEELSCAN_DATABASE_URL": f"sqlite:///{tmp_path / 'log.db'}",
              "STEELSCAN_IMAGE_STORE": str(tmp_path / "images"), "STEELSCAN_SETTINGS": str(tmp_path / "none.toml"),
              "STEELSCAN_IMAGE_ROOTS": str(tmp_path / "cam")}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    (tmp_path / "cam").mkdir()
    return tmp_path


class Running:
    """A watcher in a thread of the test process."""

    def __init__(self, root: Path, **options) -> None:
        settings = load_settings()
        self.log = ReviewLog.from_settings(settings)
        folders = options.pop("folders", [root / "cam"])
        options.setdefault("settle_s", 1.0)
        options.setdefault("heartbeat_s", 0.5)
        self.watcher = Watcher(WatchOptions(folders, ["*.png", "*.jpg"], batch_size=4, name="test", **options),
                               ActiveEngine(self.log, settings), self.log, settings.uncertainty_band)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.watcher.run, args=(self.stop,))

    def __enter__(self) -> Running:
        self.thread.start()
        return self

    def __exit__(self, *_) -> None:
        self.stop.set()
        self.thread.join(timeout=30)


@pytest.mark.parametrize("polling", [False, True])
def test_a_file_written_in_pieces_is_inspected_once_when_whole(env, polling):
    data = strip_png(1)
    with Running(env, polling=polling) as running:
        with open(env / "cam" / "slow.png", "wb") as handle:  # a camera writing slowly
            handle.write(data[: len(data) // 2])
            handle.flush()
            time.sleep(0.5)  # under settle_s: no event says the file is done yet
            handle.write(data[len(data) // 2:])
        wait_for(lambda: running.watcher.beat.inspected == 1)
        time.sleep(1.5)  # later modify/close events of the same file change nothing
    assert running.watcher.beat.errors == 0
    assert list(inference_counts(running.log).values()) == [1]


def test_renamed_into_place_is_inspected_and_temporary_names_are_not(env):
    with Running(env, settle_s=30.0) as running:  # long settle: only the rename can make it ready quickly
        temporary = env / "cam" / "frame-1.png.part"
        temporary.write_bytes(strip_png(2))
        time.sleep(0.5)
        assert running.watcher.beat.inspected == 0
        temporary.rename(env / "cam" / "frame-1.png")
        wait_for(lambda: running.watcher.beat.inspected == 1, timeout=20)
    assert running.watcher.beat.errors == 0
    verdicts = running.log._read(lambda s: list(s.scalars(select(InferenceRow.verdict))))
    assert [Path(v["image"]).name for v in verdicts] == ["frame-1.png"]


def test_the_same_content_is_inspected_once_and_restarts_skip_what_is_known(env):
    (env / "cam" / "day2").mkdir()
    with Running(env) as running:
        for name in ("a.png", "b.png", "day2/a-again.png"):
            (env / "cam" / name).write_bytes(strip_png(3))  # one content under three names
        (env / "cam" / "other.png").write_bytes(strip_png(4))
        wait_for(lambda: running.watcher.beat.inspected + running.watcher.beat.skipped == 4)
    assert running.watcher.beat.inspected == 2 and running.watcher.beat.skipped == 2
    with Running(env) as again:  # a restart finds the four files at its first scan
        wait_for(lambda: again.watcher.beat.skipped == 4)
    assert again.watcher.beat.inspected == 0
    assert sorted(inference_counts(again.log).values()) == [1, 1]


def test_a_full_backlog_drops_events_and_rescans_so_nothing_is_lost(env):
    for seed in range(10):
        (env / "cam" / f"s{seed}.png").write_bytes(strip_png(100 + seed))
    with Running(env, max_backlog=3) as running:
        wait_for(lambda: running.watcher.beat.inspected == 10)
        assert running.watcher.backlog <= 3
    assert len(inference_counts(running.log)) == 10


def test_a_bad_file_is_an_error_once_and_inspected_when_fixed(env):
    with Running(env) as running:
        broken = env / "cam" / "broken.png"
        broken.write_bytes(strip_png(5)[:300])  # a writer that died half way
        wait_for(lambda: running.watcher.beat.errors == 1)
        time.sleep(1.5)
        assert running.watcher.beat.errors == 1  # not retried while unchanged
        assert "broken.png" in running.watcher.beat.last_error
        broken.write_bytes(strip_png(5))
        wait_for(lambda: running.watcher.beat.inspected == 1)
        wait_for(lambda: heartbeats(running.log)[0]["inspected"] == 1)
    beat = heartbeats(running.log)[0]
    assert beat["name"] == "test" and beat["errors"] == 1 and beat["last_image"].endswith("broken.png")


def test_folders_must_exist(env):
    from core.contract.errors import SteelScanError

    with pytest.raises(SteelScanError, match="is not a folder"):
        Running(env, folders=[env / "missing"])


def test_kill_9_and_restart_inspects_nothing_twice(env):
    for seed in range(16):
        (env / "cam" / f"k{seed}.png").write_bytes(strip_png(200 + seed))
    command = [sys.executable, "-m", "core.cli.main", "watch", str(env / "cam"), "--batch-size", "2"]
    log = ReviewLog.from_settings(load_settings())
    first = subprocess.Popen(command, cwd=PROJECT, env=os.environ, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: len(inference_counts(log)) >= 3, timeout=120)
    os.kill(first.pid, signal.SIGKILL)  # mid-run: some images done, some not
    first.wait()
    done_before = len(inference_counts(log))
    assert done_before < 16
    second = subprocess.Popen(command, cwd=PROJECT, env=os.environ, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: len(inference_counts(log)) == 16, timeout=120)
    finally:
        second.send_signal(signal.SIGTERM)
        _, err = second.communicate(timeout=30)
    assert set(inference_counts(log).values()) == {1}  # nothing inspected twice
    assert f"{16 - done_before} inspected" in err or f"{done_before} already known" in err


def test_the_cli_refuses_a_folder_outside_image_roots(env, tmp_path, capsys):
    from core.cli.watch import main

    outside = tmp_path.parent / f"{tmp_path.name}-elsewhere"
    outside.mkdir()
    assert main([str(outside)]) == 2
    assert "is outside the configured image folders" in capsys.readouterr().err
