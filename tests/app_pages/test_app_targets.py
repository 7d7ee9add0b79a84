"""The Models page sets a class's threshold from a target on the validation curve its card records."""

from __future__ import annotations

import shutil
from dataclasses import replace

import pytest

from core.modelsets.modelset import read_card, write_card
from tests.app_pages.test_app import button, open_log, start
from tests.helpers.dashboard import MODEL_SET, dashboard_env, models_dir  # noqa: F401  (fixtures)

pytestmark = pytest.mark.usefixtures("dashboard_env")
GRID = [round(0.02 * i, 2) for i in range(1, 50)]  # core.training.tuning.THRESHOLD_GRID
PITS_RECALL = [1.0 if t <= 0.3 else 0.9 if t <= 0.62 else 0.5 for t in GRID]  # recall 0.9 up to 0.62
PITS_FALSE_ALARM = [round(0.3 - t / 4, 4) for t in GRID]  # never 0: a 0% budget is out of reach


@pytest.fixture
def curved_models_dir(models_dir, tmp_path, monkeypatch):  # noqa: F811  (the fixture above)
    """A copy of the tiny set whose card records a validation curve for pits, as `steelscan train` writes it."""
    root = tmp_path / "curved-models"
    shutil.copytree(models_dir / MODEL_SET, root / MODEL_SET)
    card = read_card(root / MODEL_SET)
    tuning = {name: {"threshold": 0.5, "rule": "best F1"} for name in card.class_names}
    tuning["pits"] = {"threshold": 0.5, "rule": "critical: recall >= 0.95 on validation",
                      "curve": {"thresholds": GRID, "recall": PITS_RECALL, "false_alarm": PITS_FALSE_ALARM}}
    write_card(root / MODEL_SET, replace(card, metrics={"tuning": tuning}))
    monkeypatch.setenv("STEELSCAN_MODELS_DIR", str(root))
    return root


def test_a_target_recall_sets_and_logs_the_threshold_the_curve_gives(curved_models_dir):
    app = start("app_pages/models.py")
    assert any(c.value == "card default set by: critical: recall >= 0.95 on validation" for c in app.caption)
    app.selectbox(key="target-kind-pits").set_value("recall").run()
    app.number_input(key="target-recall-pits").set_value(0.9).run()
    assert not app.exception, [e.value for e in app.exception]
    assert any("threshold **0.62** · validation recall 0.90" in m.value for m in app.markdown)
    assert button(app, "Apply the thresholds").disabled is False
    button(app, "Apply the thresholds").click().run()  # no reason yet: refused, nothing logged
    assert any("Reason for the change: is empty" in e.value for e in app.error)
    assert open_log().setting_changes().empty
    app.text_input(key="target_reason").input("line 2 misses pits")
    button(app, "Apply the thresholds").click().run()
    assert not app.exception, [e.value for e in app.exception]
    changes = open_log().setting_changes()
    assert changes[["key", "class_name", "old_value", "new_value", "changed_by"]].values.tolist() == [
        ["threshold", "pits", "0.5", "0.62", "ann"]]
    assert changes["reason"].iloc[0] == "line 2 misses pits (pits: recall >= 0.9 on the validation images)"
    assert app.number_input(key="t-pits").value == pytest.approx(0.62)  # the typed-threshold form follows


def test_an_unreachable_target_blocks_apply_and_a_set_without_curves_says_why(curved_models_dir, monkeypatch):
    app = start("app_pages/models.py")
    app.selectbox(key="target-kind-pits").set_value("false_alarms").run()
    app.number_input(key="target-budget-pits").set_value(0.0).run()
    assert any("no threshold keeps false alarms within 0% of the validation images without pits" in e.value
               for e in app.error)
    assert button(app, "Apply the thresholds").disabled
    monkeypatch.setenv("STEELSCAN_MODELS_DIR", str(curved_models_dir.parent / "plain-models"))
    shutil.copytree(curved_models_dir / MODEL_SET, curved_models_dir.parent / "plain-models" / MODEL_SET)
    card = read_card(curved_models_dir.parent / "plain-models" / MODEL_SET)
    write_card(curved_models_dir.parent / "plain-models" / MODEL_SET, replace(card, metrics={}))
    app = start("app_pages/models.py")
    assert any("trained before validation curves were recorded" in c.value for c in app.caption)
    assert not [b for b in app.button if b.label == "Apply the thresholds"]
