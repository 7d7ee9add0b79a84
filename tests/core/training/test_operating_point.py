"""Operating rules: critical classes reach a recall target, the others share an image-level false-alarm budget.
Hand-built arrays whose answers are worked out in the comments, then tune_classes on seeded validation scores."""

import numpy as np
import pytest

from core.contract.errors import SteelScanError
from core.modelsets.modelset import ClassSpec
from core.training.operating_point import (
    OperatingRule,
    budget_thresholds,
    class_curves,
    threshold_for_false_alarms,
    threshold_for_recall,
)
from core.training.tuning import THRESHOLD_GRID, TuningData, tune_classes

GRID = np.round(np.arange(0.1, 0.91, 0.1), 2)  # 0.1 .. 0.9, index g is threshold 0.1 * (g + 1)


def calls(scores: np.ndarray, grid: np.ndarray = GRID) -> np.ndarray:
    """(G, N, K) calls of (N, K) scores at each threshold."""
    return scores[None] >= grid[:, None, None] - 1e-9


def test_curves_count_hits_among_positives_and_alarms_among_negatives():
    scores = np.array([[0.9], [0.5], [0.3], [0.6], [0.05]])
    labels = np.array([[1], [1], [1], [0], [0]], bool)
    curves = class_curves(calls(scores, np.array([0.2, 0.55, 0.95])), labels)
    np.testing.assert_allclose(curves["recall"][0], [1.0, 1 / 3, 0.0])  # 3 positives: 0.9, 0.5, 0.3
    np.testing.assert_allclose(curves["false_alarm"][0], [0.5, 0.5, 0.0])  # 2 negatives: 0.6, 0.05
    no_positive = class_curves(calls(scores), np.zeros((5, 1), bool))
    assert np.isnan(no_positive["recall"]).all() and not np.isnan(no_positive["false_alarm"]).any()


def test_recall_target_takes_the_highest_threshold_that_reaches_it():
    recall = np.array([1.0, 1.0, 0.95, 0.9, 0.9, 0.7, 0.5, 0.2, 0.0])
    assert threshold_for_recall(GRID, recall, 0.9) == 0.5
    assert threshold_for_recall(GRID, recall, 0.95) == 0.3
    assert threshold_for_recall(GRID, np.full(9, 0.8), 0.9) is None  # never reached
    assert threshold_for_recall(GRID, np.full(9, np.nan), 0.9) is None  # no positive on validation


def test_false_alarm_budget_takes_the_lowest_threshold_within_it():
    false_alarm = np.array([0.5, 0.2, 0.1, 0.04, 0.03, 0.01, 0.0, 0.0, 0.0])
    assert threshold_for_false_alarms(GRID, false_alarm, 0.03) == 0.5
    assert threshold_for_false_alarms(GRID, false_alarm, 0.0) == 0.7
    assert threshold_for_false_alarms(GRID, np.full(9, 0.5), 0.1) is None


def _clean_and_defective(critical_alarm: bool):
    """10 clean images and 2 defective ones, 3 classes. On clean image i, class 1 scores 0.05 + 0.1 i and class 2
    0.95 - 0.1 i: at grid index g each calls 9 - g clean images, class 1 the top ones, class 2 the bottom ones.
    Class 0 (critical, fixed at 0.4) calls clean image 5 when `critical_alarm`, else none."""
    i = np.arange(10)
    clean = np.stack([np.where((i == 5) & critical_alarm, 0.5, 0.0), 0.05 + 0.1 * i, 0.95 - 0.1 * i], 1)
    defective = np.full((2, 3), 0.99)  # called by every class at every threshold: not clean, never counted
    labels = np.vstack([np.zeros((10, 3), bool), [[True, True, False], [False, False, True]]])
    return calls(np.vstack([clean, defective])), labels


def test_budget_lowers_the_free_classes_together_around_the_fixed_critical_class():
    called, labels = _clean_and_defective(critical_alarm=False)
    # g = 7 (0.8): class 1 calls images 8, 9 and class 2 calls 0, 1: 4 of 10 clean images; g = 6 would call 6
    assert budget_thresholds(GRID, called, labels, fixed={0: 3}, budget=0.4) == {1: 7, 2: 7}
    assert budget_thresholds(GRID, called, labels, fixed={0: 3}, budget=0.2) == {1: 8, 2: 8}
    # the critical class's own false alarm (image 5) counts: at 0.8 the union is 5 of 10, over a 0.4 budget
    called, labels = _clean_and_defective(critical_alarm=True)
    assert budget_thresholds(GRID, called, labels, fixed={0: 3}, budget=0.4) == {1: 8, 2: 8}


def test_budget_has_nothing_to_measure_without_clean_images():
    called, labels = _clean_and_defective(critical_alarm=False)
    assert budget_thresholds(GRID, called[:, 10:], labels[10:], fixed={}, budget=0.1) is None


NAMES = ("crack", "pit", "scratch")


def seeded_validation(seed: int = 0, count: int = 200):
    """Class scores higher on images with the class; pixel maps bright on a 3x3 defect in an 8 x 8 map."""
    rng = np.random.default_rng(seed)
    labels = (rng.random((count, 3)) < 0.2) & (rng.random((count, 1)) < 0.6)  # about 40% have no defect
    probs = np.where(labels, rng.normal(0.75, 0.12, labels.shape), rng.normal(0.2, 0.1, labels.shape)).clip(0, 1)
    truth = np.zeros((count, 3, 8, 8), np.uint8)
    truth[:, :, 2:5, 2:5] = labels[:, :, None, None]
    pixel = (truth * 0.8 + rng.uniform(0, 0.3, truth.shape)).clip(0, 1)
    data = TuningData.empty()
    for n in range(count):
        data.add(probs[n], pixel[n], truth[n], labels[n].astype(np.uint8))
    return data, probs, pixel, labels


def engine_calls(spec: ClassSpec, k: int, probs: np.ndarray, pixel: np.ndarray, threshold: float) -> np.ndarray:
    area = (pixel[:, k] >= spec.pixel_threshold).reshape(len(pixel), -1).sum(1)
    return (probs[:, k] >= threshold) & (area >= spec.min_area)


def test_tuned_critical_class_reaches_its_recall_and_the_rest_stay_within_the_budget():
    data, probs, pixel, labels = seeded_validation()
    rule = OperatingRule(false_alarm_budget=0.05, target_recall=0.9, critical=("crack",))
    classes = tuple(ClassSpec(name, "#ff0000") for name in NAMES)
    tuned, report = tune_classes(classes, data, "multi-label", rule=rule)
    crack = tuned[0]
    recall = engine_calls(crack, 0, probs, pixel, crack.threshold)[labels[:, 0]].mean()
    assert recall >= 0.9
    step_up = THRESHOLD_GRID[THRESHOLD_GRID > crack.threshold + 1e-9]
    if len(step_up):  # the highest such threshold: one grid step up misses the target
        assert engine_calls(crack, 0, probs, pixel, step_up[0])[labels[:, 0]].mean() < 0.9
    clean = ~labels.any(1)
    others = np.stack([engine_calls(tuned[k], k, probs, pixel, tuned[k].threshold) for k in (1, 2)], 1)
    every = np.column_stack([others, engine_calls(crack, 0, probs, pixel, crack.threshold)])
    assert others[clean].any(1).mean() <= every[clean].any(1).mean() <= 0.05
    assert report["crack"]["rule"].startswith("critical: recall >= 0.9")
    assert all("false alarms <= 5.0%" in report[name]["rule"] for name in ("pit", "scratch"))
    assert all(len(report[name]["curve"]["recall"]) == len(THRESHOLD_GRID) for name in NAMES)
    assert all(report[spec.name]["threshold"] == spec.threshold for spec in tuned)


def test_a_critical_class_the_data_lacks_is_refused_with_the_classes_listed():
    data, *_ = seeded_validation(count=40)
    classes = tuple(ClassSpec(name, "#ff0000") for name in NAMES)
    with pytest.raises(SteelScanError, match="--critical names crak.*crack, pit, scratch"):
        tune_classes(classes, data, "multi-label", rule=OperatingRule(critical=("crak",)))
