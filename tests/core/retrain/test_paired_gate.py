"""The gate's paired bootstrap: worse beyond noise keeps the active set, a handful of sheets cannot tell, better
beyond noise (and worse on nothing) promotes; agreement alone never does."""

import numpy as np

from core.retrain.paired import SetScores, paired_differences, paired_recommendation

NAMES = ("crack", "pit")


def sheets(n: int, seed: int = 0) -> np.ndarray:
    """(n, 2) truth: about 40% defective, one class each."""
    rng = np.random.default_rng(seed)
    truth = np.zeros((n, 2), bool)
    defective = rng.random(n) < 0.4
    truth[defective, rng.integers(0, 2, defective.sum())] = True
    return truth


def scores(truth: np.ndarray, separation: float, seed: int, dice: float = 0.5) -> SetScores:
    """Probabilities `separation` apart between a class's sheets and the rest, thresholded at 0.5."""
    rng = np.random.default_rng(seed)
    probs = np.clip(0.3 + separation * truth + rng.normal(0, 0.15, truth.shape), 0, 1)
    masks = np.where(truth.any(1), np.clip(dice + rng.normal(0, 0.05, len(truth)), 0, 1), np.nan)
    return SetScores(probs, probs >= 0.5, masks)


def test_a_candidate_worse_beyond_noise_is_kept_out_and_the_reason_gives_the_interval():
    truth = sheets(80)
    good, poor = scores(truth, 0.5, 1), scores(truth, 0.05, 2, dice=0.2)
    differences = paired_differences(truth, poor, good, NAMES, resamples=300)
    assert {d.measure for d in differences} >= {"image_ap", "recall", "dice", "recall:crack", "recall:pit"}
    ap = next(d for d in differences if d.measure == "image_ap")
    assert ap.verdict == "worse" and ap.high < 0 and ap.candidate < ap.active
    verdict, reason = paired_recommendation(truth, differences)
    assert verdict == "keep" and "worse beyond noise" in reason and "interval" in reason


def test_a_clearly_better_candidate_is_promoted():
    truth = sheets(80)
    differences = paired_differences(truth, scores(truth, 0.5, 1, dice=0.6), scores(truth, 0.1, 2, dice=0.3), NAMES,
                                     resamples=300)
    assert not any(d.verdict == "worse" for d in differences)
    assert paired_recommendation(truth, differences)[0] == "promote"


def test_a_handful_of_sheets_cannot_tell_even_when_the_point_estimates_differ():
    truth = sheets(8, seed=3)
    candidate, active = scores(truth, 0.3, 1), scores(truth, 0.25, 2)
    differences = paired_differences(truth, candidate, active, NAMES, resamples=300)
    verdict, reason = paired_recommendation(truth, differences)
    assert verdict == "cannot-tell" and "too few" in reason


def test_equal_sets_on_many_sheets_cannot_tell_rather_than_promote():
    truth = sheets(80)
    same = scores(truth, 0.4, 1)
    differences = paired_differences(truth, same, same, NAMES, resamples=200)
    assert all(d.low == d.high == 0 for d in differences)
    assert paired_recommendation(truth, differences)[0] == "cannot-tell"


def test_a_critical_class_is_named_first_when_it_is_worse():
    truth = sheets(120, seed=5)
    active = scores(truth, 0.5, 1)
    worse_on_pit = SetScores(active.probs.copy(), active.calls.copy(), active.dice)
    worse_on_pit.calls[:, 1] = False  # misses every pit
    worse_on_pit.probs[:, 1] = 0.1
    differences = paired_differences(truth, worse_on_pit, active, NAMES, resamples=200)
    verdict, reason = paired_recommendation(truth, differences, critical=("pit",))
    assert verdict == "keep" and reason.split("on ", 2)[1].startswith("recall of pit")
