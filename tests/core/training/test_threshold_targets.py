"""Thresholds from a target on the validation curves a card records (core.training.operating_point), and the
logged change they make (core.review.active.change_thresholds_to_targets)."""

from __future__ import annotations

import copy
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from core.contract.errors import SteelScanError
from core.modelsets.modelset import new_card
from core.review.active import change_thresholds_to_targets, effective_card
from core.review.store import ReviewLog
from core.training.operating_point import has_curves, recorded_rules, threshold_from_target

ROOT = Path(__file__).resolve().parents[3]
GRID = [0.2, 0.4, 0.6, 0.8]
METRICS = {"tuning": {
    "crack": {"threshold": 0.6, "rule": "critical: recall >= 0.95 on validation",
              "curve": {"thresholds": GRID, "recall": [1.0, 0.95, 0.9, 0.5], "false_alarm": [0.2, 0.1, 0.04, 0.0]}},
    "stain": {"threshold": 0.4, "rule": "best F1",  # never seen on validation: no recall measured
              "curve": {"thresholds": GRID, "recall": None, "false_alarm": [0.3, 0.05, 0.01, 0.0]}},
    "pit": {"threshold": 0.5, "f1": 0.8},  # a class tuned before curves were recorded
}}


def card_with(metrics: dict):
    return replace(new_card("plant", ("crack", "stain", "pit")), metrics=metrics)


def test_a_target_recall_takes_the_highest_threshold_that_reaches_it():
    card = card_with(copy.deepcopy(METRICS))
    target = threshold_from_target(card, "crack", "recall", 0.9)
    assert (target.threshold, target.recall, target.false_alarm) == (0.6, 0.9, 0.04)
    assert target.rule == "recall >= 0.9 on the validation images"
    assert threshold_from_target(card, "crack", "recall", 0.95).threshold == 0.4
    assert card.metrics == METRICS  # read, never changed


def test_a_false_alarm_budget_takes_the_lowest_threshold_within_it():
    card = card_with(METRICS)
    target = threshold_from_target(card, "crack", "false_alarms", 0.05)
    assert (target.threshold, target.recall, target.false_alarm) == (0.6, 0.9, 0.04)
    assert target.rule == "false alarms <= 5% of the validation images without crack"
    stain = threshold_from_target(card, "stain", "false_alarms", 0.02)
    assert (stain.threshold, stain.recall, stain.false_alarm) == (0.6, None, 0.01)


def curve_card(recall: list[float], false_alarm: list[float]):
    return card_with({"tuning": {"crack": {"curve": {"thresholds": GRID, "recall": recall,
                                                     "false_alarm": false_alarm}}}})


def test_unreachable_targets_say_the_best_the_curve_gives_and_what_to_do():
    with pytest.raises(SteelScanError) as error:
        threshold_from_target(curve_card([0.93, 0.9, 0.8, 0.5], [0.1] * 4), "crack", "recall", 0.99)
    assert error.value.reason == "no threshold reaches recall 0.99 on validation (best 0.93 at 0.20)"
    assert error.value.fix == "choose a lower target, or type the threshold"
    with pytest.raises(SteelScanError) as error:
        threshold_from_target(curve_card([1.0] * 4, [0.3, 0.2, 0.1, 0.01]), "crack", "false_alarms", 0.005)
    assert error.value.reason == ("no threshold keeps false alarms within 0.5% of the validation images without "
                                  "crack (lowest 1% at 0.80)")
    assert error.value.fix == "allow a larger budget, or type the threshold"
    with pytest.raises(SteelScanError, match="no validation image with stain"):
        threshold_from_target(card_with(METRICS), "stain", "recall", 0.9)


def test_a_card_without_curves_or_with_a_bad_request_names_the_field_and_the_fix():
    card = card_with(METRICS)
    with pytest.raises(SteelScanError) as error:
        threshold_from_target(card, "pit", "recall", 0.9)
    assert error.value.source == "plant card, metrics.tuning.pit.curve"
    assert "trained before curves were recorded" in error.value.reason
    assert error.value.fix == "retrain it, or type the threshold"
    with pytest.raises(SteelScanError, match="trained before curves"):
        threshold_from_target(card_with({}), "crack", "recall", 0.9)
    with pytest.raises(SteelScanError, match="not a list of thresholds"):
        threshold_from_target(card_with({"tuning": {"crack": {"curve": {"thresholds": GRID, "recall": [1.0]}}}}),
                              "crack", "recall", 0.9)
    with pytest.raises(SteelScanError, match="has no class 'dent'"):
        threshold_from_target(card, "dent", "recall", 0.9)
    with pytest.raises(SteelScanError, match="kind 'precision' is unknown"):
        threshold_from_target(card, "crack", "precision", 0.9)
    with pytest.raises(SteelScanError, match="crack target recall: 1.5 is outside 0..1"):
        threshold_from_target(card, "crack", "recall", 1.5)


def test_the_recorded_rules_and_whether_curves_exist_are_read_per_class():
    card = card_with(METRICS)
    assert recorded_rules(card) == {"crack": "critical: recall >= 0.95 on validation", "stain": "best F1", "pit": ""}
    assert has_curves(card)
    assert not has_curves(card_with({"tuning": {"pit": {"threshold": 0.5}}}))
    assert recorded_rules(card_with({})) == {"crack": "", "stain": "", "pit": ""}


def test_applied_targets_are_logged_with_their_rules_in_the_reason(tmp_path):
    card = card_with(METRICS)
    log = ReviewLog(f"sqlite:///{tmp_path / 'log.db'}", tmp_path / "images")
    try:
        targets = [threshold_from_target(card, "crack", "recall", 0.95),
                   threshold_from_target(card, "stain", "false_alarms", 0.02)]
        with pytest.raises(SteelScanError, match="Reason for the change: is empty"):
            change_thresholds_to_targets(log, card, card, targets, "sam", "  ")
        assert change_thresholds_to_targets(log, card, card, targets, "sam", "line 2 misses cracks") == 2
        assert log.class_overrides(card.fingerprint) == {"crack": {"threshold": 0.4}, "stain": {"threshold": 0.6}}
        history = log.setting_changes()
        assert set(history["reason"]) == {"line 2 misses cracks (crack: recall >= 0.95 on the validation images; "
                                          "stain: false alarms <= 2% of the validation images without stain)"}
        current = effective_card(card, log.class_overrides(card.fingerprint))
        assert change_thresholds_to_targets(log, card, current, targets, "sam", "again") == 0
    finally:
        log.close()


def test_the_operating_point_module_loads_no_torch():
    probe = ("import sys, core.training.operating_point\n"
             "print(sorted(m for m in ('torch', 'cv2', 'streamlit') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
