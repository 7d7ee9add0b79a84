"""Hostile uploads in the Inspect page: one clear error per bad file, nothing logged for it, the rest inspected,
the app keeps serving; oversize uploads and path-like or odd unicode names."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import func, select
from streamlit.testing.v1 import AppTest

from core.contract.settings import load_settings
from core.review.store import ReviewLog
from core.review.store.models import ImageRow, InferenceRow, ReviewRow
from tests.helpers.dashboard import ROOT, account_token, dashboard_env, models_dir, noise_png, strip_png  # noqa: F401
from tests.helpers.hostile_corpus import corpus

TIMEOUT = 300
pytestmark = pytest.mark.usefixtures("dashboard_env")


def inspect_page(username: str = "ivan") -> AppTest:
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    app.session_state["auth_token"] = account_token(username, "inspector")
    return app.run()


def counts(log: ReviewLog) -> tuple[int, int, int]:
    with log.engine.connect() as connection:
        return tuple(connection.execute(select(func.count()).select_from(table)).scalar_one()
                     for table in (ImageRow, InferenceRow, ReviewRow))


def stored_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_each_hostile_file_gets_its_own_error_and_leaves_no_trace(tmp_path):
    files = corpus()
    app = inspect_page()
    uploader = app.file_uploader[0]
    for name, (data, _) in files.items():
        uploader.upload(name, data, "application/octet-stream")
    uploader.upload("good-strip.png", strip_png(81), "image/png").run()
    assert not app.exception

    errors = [e.value for e in app.error]
    rejected = {name: expected for name, (_, expected) in files.items() if expected}
    for name, expected in rejected.items():
        mine = [e for e in errors if e.startswith(f"{name}: ")]
        assert len(mine) == 1, (name, errors)
        assert re.search(expected, mine[0]) and "\n" not in mine[0] and "Traceback" not in mine[0], mine[0]
    assert len(errors) == len(rejected)  # the valid oddities and the good strip raised nothing

    log = ReviewLog.from_settings(load_settings())
    accepted = [name for name, (_, expected) in files.items() if expected is None] + ["good-strip.png"]
    distinct = {files[n][0] for n in accepted if n in files} | {strip_png(81)}
    assert counts(log) == (len(distinct), len(accepted), 0)  # one verdict per accepted file, no rejected one
    assert len(app.selectbox[0].options) == len(accepted)
    assert len(stored_files(Path(load_settings().image_store))) == len(distinct)

    # The server keeps serving: a second session inspects and decides as usual.
    other = inspect_page("olga")
    other.file_uploader[0].upload("next.png", strip_png(82), "image/png").run()
    assert not other.exception and not other.error
    [accept] = [b for b in other.button if b.label.startswith("Accept")]
    accept.click().run()
    assert counts(log)[1:] == (len(accepted) + 1, 1)


def test_an_upload_over_the_size_limit_is_refused_before_decoding(monkeypatch):
    small, large = noise_png(1, size=40), noise_png(2, size=256)
    limit = 20_000
    assert len(small) < limit < len(large)
    monkeypatch.setenv("STEELSCAN_MAX_UPLOAD_BYTES", str(limit))
    app = inspect_page()
    app.file_uploader[0].upload("huge.png", large, "image/png").upload("small.png", small, "image/png").run()
    assert not app.exception
    [error] = [e.value for e in app.error]
    assert error.startswith(f"huge.png: is {len(large) / 1e3:.0f} kB, over the 20 kB upload limit")
    assert "max_upload_bytes" in error
    log = ReviewLog.from_settings(load_settings())
    assert counts(log) == (1, 1, 0)
    assert log.images_frame()["image_name"].tolist() == ["small.png"]


def test_path_like_and_odd_unicode_names_are_sanitised_and_stay_in_the_store(tmp_path):
    settings = load_settings()
    names = {"../../escape.png": "escape.png", "..\\..\\windows.png": "windows.png",
             "naïve-ß-東京-\u202egnp.exe.png": "naïve-ß-東京-gnp.exe.png", "\u200b.png": ".png"}
    app = inspect_page()
    uploader = app.file_uploader[0]
    for seed, name in enumerate(names):
        uploader.upload(name, strip_png(90 + seed), "image/png")
    uploader.run()
    assert not app.exception and not app.error
    log = ReviewLog.from_settings(settings)
    assert sorted(log.images_frame()["image_name"]) == sorted(names.values())
    store = Path(settings.image_store)
    stored = stored_files(store)
    assert len(stored) == len(names)
    assert all(re.fullmatch(r"[0-9a-f]{64}\.png", p.name) and p.parent.parent == store for p in stored)
    everything = stored_files(tmp_path.parent)  # nothing landed beside or above the test's folders
    assert not [p for p in everything if p.name in ("escape.png", "windows.png")]
