"""The watcher's and the API's engine follows the dashboard: the active set's logged thresholds, reloaded."""

from __future__ import annotations

from core.contract.settings import load_settings
from core.review.active import ActiveEngine, change_class_settings
from core.review.store import ReviewLog


def test_threshold_changes_reach_a_running_service_without_reloading_the_networks(tiny_set, tmp_path):
    settings = load_settings(environ={"STEELSCAN_MODELS_DIR": str(tiny_set.parent), "STEELSCAN_MODEL_SET": "tiny",
                                      "STEELSCAN_DEVICE": "cpu"})
    log = ReviewLog(f"sqlite:///{tmp_path / 'log.db'}", tmp_path / "images")
    engine = ActiveEngine(log, settings, refresh_s=0.0)
    first = engine.current()
    card = first.card
    change_class_settings(log, card, card, {card.class_names[0]: {"threshold": 0.9}}, who="ann",
                          reason="fewer false alarms")
    second = engine.current()
    assert second.card.classes[0].threshold == 0.9 and first.card.classes[0].threshold == card.classes[0].threshold
    assert second.model_set.classifier is first.model_set.classifier  # same loaded weights
    pinned = ActiveEngine(log, settings, model_set=str(tiny_set))
    assert pinned.current().card.name == "tiny"
