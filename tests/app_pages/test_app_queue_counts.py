"""The Review queue's counters agree with each other and with the list (issue 37 item 12), through AppTest on the
real app.py, with a mixed queue: a sheet another reviewer has open, sheets skipped, one shown, one after it, one
decided meanwhile. Before, the page showed "1 to decide" (the one-sheet list's count) beside "Waiting 4", and a
second "Waiting" counter on its own timer that lagged the decisions."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from core.contract.settings import load_settings
from core.review.queue import Claims
from core.review.store import Decision, ReviewLog
from tests.helpers.dashboard import (  # noqa: F401  (fixtures)
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


def queue_page() -> AppTest:
    return start_app("app_pages/review_queue.py", role="inspector")


def counters(app: AppTest) -> list[str]:
    """Every line or metric on the page that counts sheets."""
    words = ("aiting", "to decide", "queue is empty", "skipped", "open with")
    texts = [c.value for c in app.caption] + [i.value for i in app.info] + [s.value for s in app.success]
    return [t for t in texts if any(w in t for w in words)] + [f"{m.label}: {m.value}" for m in app.metric]


def button(app: AppTest, prefix: str):
    [found] = [b for b in app.button if b.label.startswith(prefix)]
    return found


def listed(app: AppTest) -> int:
    return len(app.dataframe[-1].value)  # "Next in the queue"


def _mixed_queue(log: ReviewLog) -> dict[str, int]:
    """Five flagged sheets (most uncertain first: a, b, c, d, e) and a sure clean one that never waits."""
    cases = {"a.png": (0.45, 0.1, 0.1, 0.1), "b.png": (0.46, 0.1, 0.1, 0.1), "c.png": (0.47, 0.1, 0.1, 0.1),
             "d.png": (0.9, 0.1, 0.1, 0.1), "e.png": (0.95, 0.1, 0.1, 0.1), "clean.png": (0.02, 0.02, 0.02, 0.02)}
    ids = {}
    for seed, (name, probs) in enumerate(cases.items()):
        data = strip_png(300 + seed)
        ids[name] = log.record_inference(make_verdict(data, name, probs), data)
    return ids


def test_the_queue_counters_add_up_and_agree_with_the_list():
    log = ReviewLog.from_settings(load_settings())
    ids = _mixed_queue(log)
    Claims(log, 120.0).claim(ids["a.png"], "bob")  # bob has a.png open on his screen
    app = queue_page()
    assert counters(app) == ["**Waiting for review: 5** · this one · 3 after it · 1 open with other reviewers · "
                             "press **?** for the keys"]
    assert listed(app) == 5
    button(app, "Skip").click().run()  # b.png skipped: c.png shown
    assert counters(app) == ["**Waiting for review: 5** · this one · 2 after it · 1 open with other reviewers · "
                             "1 skipped by you · press **?** for the keys"]
    log.add_review(ids["e.png"], "bob", Decision.accept(log.verdict(ids["e.png"])))  # decided meanwhile elsewhere
    button(app, "Accept").click().run()  # c.png decided here: d.png shown
    assert counters(app) == ["**Waiting for review: 3** · this one · 1 open with other reviewers · "
                             "1 skipped by you · press **?** for the keys"]
    assert listed(app) == 3
    button(app, "Skip").click().run()  # d.png skipped too: nothing left to show this reviewer
    lines = counters(app)
    assert lines[0] == "**Waiting for review: 3** · 1 open with other reviewers · 2 skipped by you"
    assert not [t for t in lines if "queue is empty" in t]  # never "empty" while sheets wait
    assert listed(app) == 3


def test_counts_for_a_reviewer_add_up(tmp_path):
    from core.review.queue import queue_counts

    log = ReviewLog(f"sqlite:///{tmp_path / 'log.db'}", tmp_path / "images")
    ids = _mixed_queue(log)
    counts = queue_counts(log, 0.15, ids["c.png"], held_by_others=[ids["a.png"], 999], skipped=[ids["b.png"]])
    assert (counts.waiting, counts.showing, counts.held_by_others, counts.skipped, counts.after) == (5, True, 1, 1, 2)
    log.add_review(ids["b.png"], "bob", Decision.accept(log.verdict(ids["b.png"])))
    counts = queue_counts(log, 0.15, None, held_by_others=[ids["a.png"]], skipped=[ids["b.png"]])
    assert (counts.waiting, counts.showing, counts.held_by_others, counts.skipped, counts.after) == (4, False, 1, 0, 3)
    log.close()
