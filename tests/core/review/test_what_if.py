"""Threshold what-if (core.review.what_if) on a small hand-made review log: every number is checked against a direct
count over the table below, and a few are worked out by hand. Another model set's scores must never mix in."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import pytest

from core.contract.errors import SteelScanError
from core.modelsets.modelset import read_card
from core.review.active import change_threshold, effective_card
from core.review.store import Decision, ReviewLog
from core.review.what_if import (
    SCORE_COLUMNS,
    Window,
    class_scores,
    counts,
    in_force,
    precision_recall,
    reviewed_scores,
    scores_from_log,
    shift_load,
    what_if,
)
from tests.helpers.dashboard import make_verdict, models_dir, noise_png  # noqa: F401  (fixture)

ACTIVE, OTHER = "tiny-test@0.0.0+abc", "other@1.0.0+def"
NOW = pd.Timestamp("2025-03-10 12:00")
WEEK = Window(7, NOW)
# sheet -> (pits score, inferred at (UTC), the sheet's decisions in order: the classes each one says are present)
SHEETS = {
    "A": (0.95, "2025-03-10 07:00", [("pits",)]),
    "B": (0.80, "2025-03-09 15:00", [()]),
    "C": (0.60, "2025-03-09 23:00", [("pits",)]),
    "D": (0.40, "2025-03-08 10:00", [("pits",)]),  # the model missed it; the inspector added pits
    "E": (0.20, "2025-03-08 03:00", [("pits",), ()]),  # changed back: the latest decision (not present) counts
    "F": (0.30, "2025-03-07 14:30", []),  # never reviewed
    "G": (0.90, "2025-02-20 10:00", [("pits",)]),  # reviewed, outside the last 7 days
    "I": (0.70, "2025-03-10 09:00", []),  # scored twice by the active set: the latest score counts (first: 0.10)
}


def _decide(log: ReviewLog, inference_id: int, decisions: list[tuple[str, ...]], at: str) -> None:
    verdict, replaces = log.verdict(inference_id), None
    for step, classes in enumerate(decisions):
        when = datetime.fromisoformat(at) + pd.Timedelta(minutes=10 + step)
        if replaces is not None:
            decision = Decision.change(verdict, classes, "second look", replaces=replaces)
        elif classes == verdict.classes_present:
            decision = Decision.accept(verdict)
        else:
            decision = Decision.override(verdict, classes, "inspector's call")
        replaces = log.add_review(inference_id, "ann", decision, at=when)


@pytest.fixture
def log(tmp_path) -> ReviewLog:
    review_log = ReviewLog(f"sqlite:///{tmp_path / 'log.db'}", tmp_path / "images")
    for seed, (name, (pits, at, decisions)) in enumerate(SHEETS.items()):
        data = noise_png(700 + seed)
        if name == "I":
            review_log.record_inference(make_verdict(data, f"{name}.png", (0.10, 0.1, 0.1, 0.1), fingerprint=ACTIVE),
                                        data, at=datetime.fromisoformat("2025-03-01 08:00"))
        inference_id = review_log.record_inference(
            make_verdict(data, f"{name}.png", (pits, 0.2, 0.1, 0.1), fingerprint=ACTIVE), data,
            at=datetime.fromisoformat(at))
        _decide(review_log, inference_id, decisions, at)
    # Another set: a sheet only it scored (confirmed), and sheet A scored again later with another pits score.
    other = noise_png(800)
    inference_id = review_log.record_inference(
        make_verdict(other, "H.png", (0.99, 0.9, 0.9, 0.9), model_set="other", fingerprint=OTHER), other,
        at=datetime.fromisoformat("2025-03-10 08:00"))
    _decide(review_log, inference_id, [("pits",)], "2025-03-10 08:00")
    sheet_a = noise_png(700)
    review_log.record_inference(make_verdict(sheet_a, "A.png", (0.05, 0.9, 0.9, 0.9), model_set="other",
                                             fingerprint=OTHER), sheet_a, at=datetime.fromisoformat("2025-03-10 11:00"))
    yield review_log
    review_log.close()


def direct(threshold: float, days: int = 7) -> dict[str, float | int | None]:
    """The what-if's numbers counted straight off the table, no pandas."""
    since = NOW - pd.Timedelta(days=days)
    recent = {n: s for n, s in SHEETS.items() if pd.Timestamp(s[1]) >= since}
    confirmed = {n for n, (_, _, decided) in SHEETS.items() if decided and "pits" in decided[-1]}
    reviewed = {n for n, (_, _, decided) in SHEETS.items() if decided}
    called = {n for n in reviewed if SHEETS[n][0] >= threshold}
    return {"sheets": len(recent), "flagged": sum(s[0] >= threshold for s in recent.values()),
            "confirmed": len(confirmed & set(recent)),
            "missed": sum(1 for n in confirmed & set(recent) if SHEETS[n][0] < threshold),
            "precision": len(called & confirmed) / len(called) if called else None,
            "recall": len(called & confirmed) / len(confirmed)}


def test_the_frame_holds_the_active_sets_latest_score_and_the_latest_decision_per_sheet(log):
    scores = scores_from_log(log, ACTIVE)
    assert list(scores.columns) == SCORE_COLUMNS
    assert len(scores) == len(SHEETS) * 4  # one row per (sheet, class); the other set's sheet H is not there
    pits = scores[scores["class_name"] == "pits"].set_index(scores.loc[scores["class_name"] == "pits", "score"])
    assert sorted(pits.index) == sorted(s[0] for s in SHEETS.values())  # A's later 0.05 (other set) and I's 0.10 not
    assert pits.loc[0.20, "reviewed"] and not pits.loc[0.20, "confirmed"]  # E: the change back wins
    assert pits.loc[0.40, "confirmed"] and not pits.loc[0.30, "reviewed"]
    assert not scores.loc[scores["class_name"] == "crazing", "confirmed"].any()
    assert scores_from_log(log, "no-such-set@0").empty


@pytest.mark.parametrize("threshold", [0.0, 0.2, 0.35, 0.5, 0.6, 0.61, 0.9, 0.95, 1.0])
def test_counts_match_a_direct_count(log, threshold):
    got = counts(scores_from_log(log, ACTIVE), "pits", threshold, WEEK)
    expected = direct(threshold)
    assert {k: getattr(got, k) for k in expected} == pytest.approx(expected)


def test_the_numbers_worked_by_hand(log):
    report = what_if(scores_from_log(log, ACTIVE), "pits", 0.5, 0.35, WEEK)
    # Last 7 days: A B C D E F I. At 0.5 flagged A B C I; confirmed A C D, D (0.40) missed.
    assert (report.now.sheets, report.now.flagged, report.now.confirmed, report.now.missed) == (7, 4, 3, 1)
    assert (report.new.flagged, report.new.missed) == (5, 0)
    # Reviewed, all time: A G B C D E; confirmed A G C D. At 0.5: flagged A G B C -> precision 3/4, recall 3/4.
    assert (report.reviewed, report.positives) == (6, 4)
    assert (report.now.precision, report.now.recall) == (0.75, 0.75)
    assert (report.new.precision, report.new.recall) == (0.8, 1.0)
    assert report.since == pd.Timestamp("2025-03-03 12:00")


def test_queue_load_per_shift(log):
    shifts = shift_load(scores_from_log(log, ACTIVE), "pits", 0.5, 0.35, WEEK)
    table = {row.shift_label: (row.sheets, row.flagged_now, row.flagged_new) for row in shifts.itertuples()}
    assert table == {
        "2025-03-07 14:00": (1, 0, 0),  # F 0.30
        "2025-03-07 22:00": (1, 0, 0),  # E at 03:00 belongs to the night shift that began the evening before
        "2025-03-08 06:00": (1, 0, 1),  # D 0.40
        "2025-03-09 14:00": (1, 1, 1),  # B
        "2025-03-09 22:00": (1, 1, 1),  # C
        "2025-03-10 06:00": (2, 2, 2),  # A, I
    }
    assert shifts["flagged_new"].sum() == direct(0.35)["flagged"]
    # In the plant's time zone (UTC+1 in March): E's 03:00 UTC is 04:00, still the night shift; F's 14:30 is 15:30.
    berlin = shift_load(scores_from_log(log, ACTIVE), "pits", 0.5, 0.35, Window(7, NOW, "Europe/Berlin"))
    assert berlin["sheets"].sum() == 7 and "2025-03-07 14:00" in set(berlin["shift_label"])


def test_precision_recall_curve_steps_through_each_reviewed_score(log):
    curve = precision_recall(scores_from_log(log, ACTIVE), "pits")
    # Reviewed, highest first: A .95 yes, G .90 yes, B .80 no, C .60 yes, D .40 yes, E .20 no.
    assert curve["threshold"].tolist() == [0.95, 0.90, 0.80, 0.60, 0.40, 0.20]
    assert curve["flagged"].tolist() == [1, 2, 3, 4, 5, 6] and curve["hits"].tolist() == [1, 2, 2, 3, 4, 4]
    assert curve["precision"].tolist() == pytest.approx([1, 1, 2 / 3, 0.75, 0.8, 4 / 6])
    assert curve["recall"].tolist() == pytest.approx([0.25, 0.5, 0.5, 0.75, 1.0, 1.0])
    for row in curve.itertuples():  # each point is what `counts` gives at that threshold
        at = counts(scores_from_log(log, ACTIVE), "pits", row.threshold, WEEK)
        assert (at.precision, at.recall) == pytest.approx((row.precision, row.recall))
    assert precision_recall(scores_from_log(log, ACTIVE), "crazing").empty  # nobody confirmed crazing


def test_ties_share_one_point():
    sheets = pd.DataFrame({"image_sha256": ["a", "b", "c"], "inferred_at": pd.to_datetime(["2025-01-01"] * 3),
                           "class_names": [("pits",)] * 3, "probabilities": [(0.7,), (0.7,), (0.2,)],
                           "label_classes": [("pits",), (), ("pits",)], "reviewed": [True, True, True]})
    scores = class_scores(sheets)
    curve = precision_recall(scores, "pits")
    assert curve[["threshold", "flagged", "hits"]].values.tolist() == [[0.7, 2, 1], [0.2, 3, 2]]
    assert reviewed_scores(scores, "pits")["label"].tolist() == ["confirmed", "not present", "confirmed"]


def test_pure_functions_leave_their_input_alone(log):
    scores = scores_from_log(log, ACTIVE)
    before = scores.copy(deep=True)
    what_if(scores, "pits", 0.5, 0.3, WEEK)
    precision_recall(scores, "pits")
    pd.testing.assert_frame_equal(scores, before)


def test_errors_name_the_field_the_reason_and_the_fix(log):
    scores = scores_from_log(log, ACTIVE)
    with pytest.raises(SteelScanError, match=r"^Class: 'holes' has no scores .* — choose one of pits, crazing"):
        what_if(scores, "holes", 0.5, 0.5, WEEK)
    with pytest.raises(SteelScanError, match=r"^pits threshold: 1.5 is outside 0..1 — "):
        counts(scores, "pits", 1.5, WEEK)
    with pytest.raises(SteelScanError, match=r"^Last N days: 0 is under 1 — look back"):
        Window(0, NOW)


def test_an_empty_log_gives_zeros_not_errors(tmp_path):
    empty = ReviewLog(f"sqlite:///{tmp_path / 'empty.db'}", tmp_path / "img")
    try:
        scores = scores_from_log(empty, ACTIVE)
    finally:
        empty.close()
    report = what_if(scores, "pits", 0.5, 0.4, WEEK)
    assert (report.new.sheets, report.new.flagged, report.new.precision, report.new.recall) == (0, 0, None, None)
    assert report.shifts.empty


def test_applying_needs_a_reason_and_is_logged_then_in_force(log, models_dir):  # noqa: F811
    card = read_card(models_dir / "tiny-test")
    current = effective_card(card, log.class_overrides(card.fingerprint))
    with pytest.raises(SteelScanError, match=r"^Reason for the change: is empty — say why"):
        change_threshold(log, card, current, "pits", 0.35, "ann", "  ")
    assert log.setting_changes().empty
    assert change_threshold(log, card, current, "pits", 0.35, "ann", "what-if: D was missed") == 1
    assert log.class_overrides(card.fingerprint) == {"pits": {"threshold": 0.35}}
    changes = log.setting_changes()
    assert changes[["key", "class_name", "old_value", "new_value", "changed_by", "reason"]].values.tolist() == [
        ["threshold", "pits", "0.5", "0.35", "ann", "what-if: D was missed"]]
    assert in_force(changes, card.fingerprint, "pits", 0.5).startswith("0.35, set by ann on ")
    assert in_force(changes, card.fingerprint, "crazing", 0.5) == "0.50, the card's default"
    assert in_force(changes, "another-fingerprint", "pits", 0.5) == "0.50, the card's default"
