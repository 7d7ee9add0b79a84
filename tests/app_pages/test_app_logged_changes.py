"""Every logged change carries a reason (issue 37, item 9), and a set the gate said to keep is offered for activation
only with a warning and a second, deliberate tick (item 4); no rollback before any switch (item 13)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from core.datasets.synthetic import CLASS_NAMES
from core.modelsets.modelset import create_untrained, read_card, write_card
from core.review.store.db import StoreError
from tests.app_pages.test_app import button, open_log, start
from tests.helpers.dashboard import dashboard_env, models_dir  # noqa: F401  (fixtures)

pytestmark = pytest.mark.usefixtures("dashboard_env")


def test_the_audit_refuses_a_change_without_a_reason():
    log = open_log()
    with pytest.raises(StoreError, match="has no reason"):
        log.log_setting_change("threshold", "0.7", "ann", class_name="pits", old_value="0.5", reason=" ")
    assert log.setting_changes().empty


def test_a_threshold_saved_without_a_reason_is_refused_and_says_so():
    app = start("app_pages/models.py")
    app.number_input(key="t-pits").set_value(0.8)
    button(app, "Save changes").click().run()
    assert not app.exception
    assert any("Reason for the change" in e.value and "is empty" in e.value for e in app.error)
    assert open_log().setting_changes().empty
    app.text_input(key="settings_reason").input("too many false pits on line 2")
    button(app, "Save changes").click().run()
    assert open_log().setting_changes()["reason"].tolist() == ["too many false pits on line 2"]


@pytest.fixture
def kept_candidate(tmp_path, monkeypatch):
    """An active set and a candidate whose gate said: keep the active one."""
    models = tmp_path / "models"
    for name in ("line", "line-r3"):
        create_untrained(models / name, name, CLASS_NAMES, classifier_architecture="resnet18",
                         segmenter_encoder="resnet18")
    card = read_card(models / "line-r3")
    write_card(models / "line-r3", replace(card, lineage={
        "parent": "line", "job": 3, "gate": {"recommend": "keep", "active_set": "line", "sheets": 40,
                                             "reason": "worse on image AP (-0.08, beyond noise)"}}))
    monkeypatch.setenv("STEELSCAN_MODELS_DIR", str(models))
    monkeypatch.setenv("STEELSCAN_MODEL_SET", "line")
    return models


def test_a_set_the_gate_said_to_keep_needs_a_warning_and_a_deliberate_tick(kept_candidate):
    app = start("app_pages/models.py")
    assert not any(b.label.startswith("Roll back") for b in app.button)  # nothing ran before: nothing to go back to
    assert not [w for w in app.warning if "The gate said to keep" in w.value]  # the active set: no caution
    app.selectbox[0].set_value("line-r3").run()
    [caution] = [w.value for w in app.warning if "The gate said to keep" in w.value]
    assert "worse on image AP" in caution
    app.text_input(key="activate_reason").input("trying it on line 2")
    button(app, "Make line-r3 the active model set").click().run()
    assert open_log().active_model_set() is None
    assert any("against the gate's advice" in e.value for e in app.error)
    app.checkbox(key="activate_against_gate").check().run()
    button(app, "Make line-r3 the active model set").click().run()
    assert open_log().active_model_set() == "line-r3"
    assert any(b.label.startswith("Roll back") for b in app.button)  # now there is an earlier set
