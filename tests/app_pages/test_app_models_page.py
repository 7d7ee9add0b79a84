"""The Models page for a supervisor (issue 37 item 13), through AppTest on the real app.py: training near the top,
an empty state that reads as a sentence, a caution when training would start on fewer than 20 usable sheets or
when the gate judged on fewer than 20, and a job log of stages and numbers."""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace

import pytest
from streamlit.testing.v1 import AppTest

from core.contract.settings import load_settings
from core.review.store import Decision, ReviewLog
from tests.helpers.dashboard import (  # noqa: F401  (fixtures)
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


def models_page() -> AppTest:
    return start_app("app_pages/models.py")


def in_order(node, out=None) -> list[tuple[str, str]]:
    """(element type, label or text) of every element, in page order."""
    out = [] if out is None else out
    for child in getattr(node, "children", {}).values():
        out.append((child.type, str(getattr(child, "label", None) or getattr(child, "value", ""))))
        in_order(child, out)
    return out


def test_training_sits_above_the_sets_and_its_empty_state_is_a_sentence():
    app = models_page()
    elements = in_order(app.main)
    training = elements.index(("subheader", "Train a new model set from the review log"))
    first_set = next(i for i, (kind, text) in enumerate(elements) if kind == "expander" and MODEL_SET in text)
    assert training < first_set
    [empty] = [i.value for i in app.info if "Nothing to train on yet" in i.value]
    assert empty.startswith("Nothing to train on yet: the review log holds no decisions on sheets with classes ")
    assert ". Review some verdicts of this model set" in empty and ". review" not in empty


def test_a_caution_when_training_would_start_on_fewer_than_20_usable_sheets():
    log = ReviewLog.from_settings(load_settings())
    for seed in range(6):
        data = strip_png(200 + seed)
        inference = log.record_inference(make_verdict(data, f"s{seed}.png", (0.1, 0.1, 0.1, 0.1)), data)
        log.add_review(inference, "ivan", Decision.accept(log.verdict(inference)))
    app = models_page()
    cautions = [w.value for w in app.warning if "usable training sheet" in w.value]
    assert len(cautions) == 1 and "fewer than 20" in cautions[0], [w.value for w in app.warning]


def _gate_and_job_card() -> None:
    from types import SimpleNamespace

    from ui import gate_view, training_view

    log = SimpleNamespace(active_model_set=lambda: "tiny-test")  # the candidate is not the active set
    gate_view.gate_panel(log, None, "ann", can_edit=False)
    training_view._job_card(log, 7, "ann", can_edit=False)


def test_the_gate_judged_on_few_sheets_is_cautioned_and_the_job_log_has_no_bars_or_dicts(tmp_path, monkeypatch):
    from core.retrain import jobs
    from tests.core.retrain.test_joblog import JOB_LOG

    gate = {"sheets": 3, "candidate": {"agreement": 1.0, "per_class": {}}, "active": {"agreement": 0.67},
            "active_set": MODEL_SET, "recommend": "promote", "reason": "better on every measure",
            "disagreement_count": 0, "disagreements": [], "differences": []}
    (tmp_path / "job.log").write_text(JOB_LOG)
    row = SimpleNamespace(id=7, status="succeeded", result={"gate": gate, "candidate": f"{MODEL_SET}-r7"},
                          requested_by="ann", requested_at=datetime(2026, 1, 1), options={"preset": "quick"},
                          log_path=str(tmp_path / "job.log"), error="")
    # The page's reads of the jobs table, answered with one finished job (the script runs in this process).
    monkeypatch.setattr(jobs, "jobs", lambda log, limit=10: [row])
    monkeypatch.setattr(jobs, "job", lambda log, job_id: row)
    monkeypatch.setattr(jobs, "reap", lambda log: None)
    app = AppTest.from_function(_gate_and_job_card, default_timeout=60).run()
    assert not app.exception, [e.value for e in app.exception]
    assert any("gate judged on only 3 evaluation sheets" in w.value for w in app.warning)
    [shown] = [c.value for c in app.code]
    assert "joint training: 40/400 steps" in shown and "%|" not in shown and "{'" not in shown
