"""One model set per view (issue 37 item 3), through Streamlit's AppTest on the real app.py: each verdict names the
set that made it; a sheet decided under one set and uploaded again after the active set changed shows the decision
against the classes it was made with and says the sets differ; Statistics shows one set at a time (the active one
first) and, with all sets, never merges two sets' classes."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from core.contract.settings import load_settings
from core.datasets.synthetic import CLASS_NAMES
from core.review.active import choose_active
from core.review.store import Decision, ReviewLog
from tests.helpers.apptest import settle
from tests.helpers.dashboard import (  # noqa: F401  (fixtures)
    KNOWN_SET,
    MODEL_SET,
    ROOT,
    account_token,
    dashboard_env,
    make_verdict,
    models_dir,
    start_app,
    strip_png,
)

TIMEOUT = 180
pytestmark = pytest.mark.usefixtures("dashboard_env")


start = start_app


def badges(app: AppTest) -> list[str]:
    return [m.value for m in app.markdown if "-badge[" in m.value]


def captions(app: AppTest) -> str:
    return "\n".join(c.value for c in app.caption)


def _decided_under_tiny_test(log: ReviewLog, data: bytes) -> None:
    """The sheet was inspected by tiny-test and decided 'crazing, scratches' against its classes."""
    first = log.record_inference(make_verdict(data, "coil.png", (0.1, 0.9, 0.9, 0.1), model_set=MODEL_SET), data)
    log.add_review(first, "ivan", Decision.accept(log.verdict(first)))


def test_a_decided_sheet_uploaded_after_the_set_changed_shows_its_decisions_set():
    log = ReviewLog.from_settings(load_settings())
    data = strip_png(90)
    _decided_under_tiny_test(log, data)
    choose_active(log, load_settings().models_dir, KNOWN_SET, "ann", "the known set for this coil grade")
    app = start("app_pages/inspect.py")
    settle(app.file_uploader[0].upload("coil.png", data, "image/png").run())
    assert not app.exception, [e.value for e in app.exception]
    [badge] = [b for b in badges(app) if "Decided:" in b]
    assert "crazing, scratches" in badge  # the decision, against the classes it was made with
    assert f"Decided against set {MODEL_SET}'s classes; this verdict is set {KNOWN_SET}'s" in captions(app)
    assert "pits" in captions(app)  # what the active set's model says now, beside it, named as its own


def test_each_verdict_names_its_set_and_a_queued_one_of_another_set_says_so():
    log = ReviewLog.from_settings(load_settings())
    data = strip_png(91)
    log.record_inference(make_verdict(data, "old.png", (0.6, 0.1, 0.1, 0.1), model_set=MODEL_SET), data)  # first
    choose_active(log, load_settings().models_dir, KNOWN_SET, "ann", "the known set for this coil grade")
    app = start("app_pages/inspect.py")
    settle(app.file_uploader[0].upload("new.png", strip_png(92), "image/png").run())
    assert f"Verdict of set {KNOWN_SET}" in captions(app)
    assert "not the active set" not in captions(app)
    queue = start("app_pages/review_queue.py")
    assert f"Verdict of set {MODEL_SET} :orange[— not the active set {KNOWN_SET}]" in captions(queue)


def _two_sets(log: ReviewLog) -> None:
    for seed, model_set in enumerate((MODEL_SET, MODEL_SET, KNOWN_SET)):
        data = strip_png(100 + seed)
        log.record_inference(make_verdict(data, f"{model_set}-{seed}.png", (0.9, 0.1, 0.1, 0.1),
                                          model_set=model_set, fingerprint=f"{model_set}@1+abc"), data)


def test_statistics_show_the_active_set_and_all_sets_keep_classes_apart():
    log = ReviewLog.from_settings(load_settings())
    _two_sets(log)
    choose_active(log, load_settings().models_dir, KNOWN_SET, "ann", "the known set for this coil grade")
    app = start("app_pages/statistics.py")
    assert app.selectbox(key="stats_set").value == KNOWN_SET
    assert {m.label: m.value for m in app.metric}["Sheets inspected"] == "1"
    assert app.multiselect(key="stats_classes").options == list(CLASS_NAMES)
    app.selectbox(key="stats_set").set_value("All sets").run()
    assert {m.label: m.value for m in app.metric}["Sheets inspected"] == "3"
    options = app.multiselect(key="stats_classes").options
    assert f"pits ({MODEL_SET})" in options and f"pits ({KNOWN_SET})" in options and "pits" not in options
    app.selectbox(key="stats_set").set_value(MODEL_SET).run()
    assert {m.label: m.value for m in app.metric}["Sheets inspected"] == "2"
    assert set(app.dataframe[-1].value["model_set"]) == {f"{MODEL_SET}@0.0.0"}
