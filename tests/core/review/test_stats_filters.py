"""Statistics a supervisor can trust (issue 37 items 3 and 11): one model set at a time, and the set, date and class
filters applied to every number and to the CSV (reason, unfamiliarity, "defect-free" written out, the plant's
time). Expected numbers are worked out by hand below."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import datetime

import pandas as pd
import pytest

from core.review import stats
from core.review.stats import StatsFilter, compute, sheet_csv
from core.review.store import Decision, ReviewLog
from tests.helpers.dashboard import make_verdict, noise_png


@pytest.fixture
def log(tmp_path) -> ReviewLog:
    review_log = ReviewLog(f"sqlite:///{tmp_path / 'log.db'}", tmp_path / "images")
    yield review_log
    review_log.close()


def _history(log: ReviewLog) -> dict[str, int]:
    """Classes pits, patches, scratches, crazing (thresholds 0.5, band 0.15). A: pits, accepted. B: clean, never
    reviewed, out of domain. C: scratches, overridden to defect-free ('glare'). D: pits 0.45 (uncertain), overridden
    to pits ('faint pits')."""
    sheets = {"A": ("2025-01-01 07:00", (0.9, 0.1, 0.1, 0.1)), "B": ("2025-01-01 15:00", (0.1, 0.1, 0.1, 0.1)),
              "C": ("2025-01-02 09:00", (0.1, 0.1, 0.8, 0.1)), "D": ("2025-01-02 10:00", (0.45, 0.1, 0.1, 0.1))}
    ids = {}
    for seed, (name, (stamp, probs)) in enumerate(sheets.items()):
        data = noise_png(700 + seed)
        verdict = make_verdict(data, f"{name}.png", probs)
        if name == "B":
            verdict = replace(verdict, ood_score=3.25, out_of_domain=True, domain_level="out of domain")
        ids[name] = log.record_inference(verdict, data, at=datetime.fromisoformat(stamp))
    log.add_review(ids["A"], "ann", Decision.accept(log.verdict(ids["A"])), at=datetime(2025, 1, 1, 8))
    log.add_review(ids["C"], "bob", Decision.defect_free(log.verdict(ids["C"]), "glare"),
                   at=datetime(2025, 1, 2, 12))
    log.add_review(ids["D"], "ann", Decision.override(log.verdict(ids["D"]), ["pits"], "faint pits"),
                   at=datetime(2025, 1, 2, 12, 30))
    return ids


def test_a_class_filter_applies_to_reviewed_overrides_the_backlog_and_the_table(log):
    _history(log)
    images, reviews = log.images_frame(), log.reviews_frame()
    everything = compute(images, reviews, StatsFilter(), waiting=0)
    assert (everything.reviewed, everything.decisions, everything.overrides) == (3, 3, 2)

    scratches = compute(images, reviews, StatsFilter(classes=("scratches",)), waiting=0)
    # Only C concerns scratches: reviewed once, and that decision took the model's scratches away.
    assert scratches.images == 4  # the defect rate's denominator stays every sheet
    assert (scratches.reviewed, scratches.decisions, scratches.overrides) == (1, 1, 1)
    assert scratches.table["image"].tolist() == ["C.png"]
    assert scratches.throughput["decisions"].sum() == 1
    assert pd.read_csv(io.StringIO(sheet_csv(scratches.table)))["image"].tolist() == ["C.png"]

    pits = compute(images, reviews, StatsFilter(classes=("pits",)), waiting=0)
    # A (model pits) and D (pits 0.45, uncertain): A's accept kept pits, D's override added them.
    assert (pits.reviewed, pits.decisions, pits.overrides) == (2, 2, 1)
    assert pits.override_rate == pytest.approx(0.5)
    assert pits.table["image"].tolist() == ["A.png", "D.png"]
    # Waiting per hour for pits: +A, -A, +D, -D; C (flagged for scratches only, at 09:00) is not there.
    hourly = compute(images, reviews, StatsFilter(freq="hour", classes=("pits",)), waiting=0).backlog
    assert hourly["period_label"].str[-5:].tolist() == ["07:00", "08:00", "10:00", "12:00"]
    assert hourly["waiting"].tolist() == [1, 0, 1, 0]


def test_the_csv_has_reasons_unfamiliarity_defect_free_and_the_plants_time(log):
    _history(log)
    report = compute(log.images_frame(), log.reviews_frame(), StatsFilter(tz="Europe/Berlin"), waiting=0)
    rows = pd.read_csv(io.StringIO(sheet_csv(report.table)), keep_default_na=False).set_index("image")
    assert rows.loc["A.png", "inspected_at"] == "2025-01-01 08:00:00+01:00"  # 07:00 UTC, in Berlin
    assert rows.loc["C.png", "reviewed_at"] == "2025-01-02 13:00:00+01:00"
    assert rows.loc["C.png", ["label_classes", "reason", "decision"]].tolist() == ["defect-free", "glare", "override"]
    assert rows.loc["D.png", "reason"] == "faint pits"
    assert rows.loc["B.png", ["model_classes", "label_classes", "decision"]].tolist() == [
        "defect-free", "defect-free", "not reviewed"]
    assert rows.loc["B.png", ["unfamiliarity", "familiarity"]].tolist() == ["3.25", "out of domain"]
    assert rows.loc["A.png", ["unfamiliarity", "familiarity"]].tolist() == ["", "not measured"]
    assert report.waiting == 0  # B is sure and clean: not in the queue


def _two_sets(log: ReviewLog) -> None:
    """set-a and set-b share their class names; each inspected two sheets, each with one defect."""
    for seed, (model_set, probs) in enumerate((("set-a", (0.9, 0.1, 0.1, 0.1)), ("set-a", (0.1, 0.1, 0.1, 0.1)),
                                               ("set-b", (0.1, 0.9, 0.1, 0.1)), ("set-b", (0.1, 0.1, 0.1, 0.1)))):
        data = noise_png(800 + seed)
        log.record_inference(make_verdict(data, f"{model_set}-{seed}.png", probs, model_set=model_set,
                                          fingerprint=f"{model_set}@0.0.0+abc"), data,
                             at=datetime(2025, 1, 1, 7 + seed))


def test_statistics_show_one_set_and_never_merge_two_sets_classes(log):
    _two_sets(log)
    images, reviews = log.images_frame(), log.reviews_frame()
    one = compute(images, reviews, StatsFilter(model_sets=("set-a",)), waiting=0)
    assert (one.images, one.defective) == (2, 1)
    assert set(one.table["model_set"]) == {"set-a@0.0.0"}
    assert one.classes == ("pits", "crazing", "scratches", "patches")

    both = compute(images, reviews, StatsFilter(), waiting=0)
    assert (both.images, both.defective) == (4, 2)
    assert "pits (set-a)" in both.classes and "pits (set-b)" in both.classes and "pits" not in both.classes
    assert stats.class_options(images, reviews, None) == both.classes
    rate = both.defect_rate.set_index("class_name")["defective"]
    assert (rate["pits (set-a)"], rate["pits (set-b)"], rate["crazing (set-b)"]) == (1, 0, 1)
    only_b_crazing = compute(images, reviews, StatsFilter(classes=("crazing (set-b)",)), waiting=0)
    assert only_b_crazing.table["image"].tolist() == ["set-b-2.png"]
