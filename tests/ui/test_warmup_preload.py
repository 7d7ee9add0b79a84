"""The browser-side half of the Statistics warm-up: one hidden chart (and the page's other element kinds) drawn once
per session, only after the warm-up thread has imported plotly whole, so the browser loads their scripts early and
the page a supervisor is on never waits for the import."""

from __future__ import annotations

import sys
import threading

from streamlit.testing.v1 import AppTest

from ui import warmup


def page() -> None:
    from ui.warmup import preload_chart_scripts

    preload_chart_scripts()


def _charts(app: AppTest) -> int:
    return len(app.get("plotly_chart"))


def test_the_charts_scripts_are_preloaded_once_and_only_after_the_import(monkeypatch):
    imported = threading.Event()
    monkeypatch.setattr(warmup, "_imported", imported)
    app = AppTest.from_function(page, default_timeout=60).run()
    assert not app.exception and _charts(app) == 0  # plotly may be half-imported: nothing drawn, nothing claimed
    assert warmup.PRELOAD_KEY not in app.session_state

    imported.set()
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    assert _charts(app) == 1 and len(app.get("metric")) == 1 and app.session_state[warmup.PRELOAD_KEY]
    assert any(warmup.PRELOAD_CSS in h.proto.body for h in app.get("html"))  # drawn hidden

    app.run()
    assert _charts(app) == 0  # once per session: the browser keeps the scripts it loaded


def test_a_failed_warm_up_ends_the_wait_without_drawing(monkeypatch):
    monkeypatch.setattr(warmup, "_imported", threading.Event())
    failed = threading.Event()
    failed.set()
    monkeypatch.setattr(warmup, "_failed", failed)
    app = AppTest.from_function(page, default_timeout=60).run()
    assert not app.exception and _charts(app) == 0
    assert app.session_state[warmup.PRELOAD_KEY]  # given up: the fragment is not started again


def test_the_chart_modules_are_imported_once_per_process_and_then_said_to_be_whole(monkeypatch):
    monkeypatch.setattr(warmup, "_import_claimed", threading.Lock())
    imported = threading.Event()
    monkeypatch.setattr(warmup, "_imported", imported)
    thread = warmup.import_chart_modules()
    assert thread is not None
    thread.join(timeout=60)
    assert imported.is_set() and "ui.stats_view" in sys.modules
    assert warmup.import_chart_modules() is None  # claimed: no second thread in this process


def test_a_failed_import_ends_the_preloads_wait(monkeypatch):
    monkeypatch.setattr(warmup, "_import_claimed", threading.Lock())
    monkeypatch.setattr(warmup, "_imported", threading.Event())
    failed = threading.Event()
    monkeypatch.setattr(warmup, "_failed", failed)
    monkeypatch.setitem(sys.modules, "ui.stats_view", None)  # `from ui import stats_view` raises ImportError
    monkeypatch.delattr("ui.stats_view", raising=False)
    warmup.import_chart_modules().join(timeout=60)
    assert failed.is_set() and not warmup._imported.is_set()
