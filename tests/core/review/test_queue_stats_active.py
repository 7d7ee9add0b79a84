"""The dashboard's core logic without Streamlit: statistics, the queue, active model set and
threshold overrides, batch inspect-and-record. Expected numbers are worked out by hand below."""

from __future__ import annotations

import hashlib
from datetime import date, datetime

import pandas as pd
import pytest

from core.contract.errors import SteelScanError
from core.engine.inference import Inspector
from core.modelsets.modelset import read_card
from core.review.active import (
    NoModelSetError,
    change_class_settings,
    choose_active,
    create_demo_model_set,
    effective_card,
    resolve_active,
    with_overrides,
)
from core.review.batch import inspect_and_record
from core.review.queue import flag_reasons, next_in_queue, upcoming, waiting
from core.review.stats import StatsFilter, compute, period_start, to_local
from core.review.store import Decision, ReviewLog
from tests.helpers.dashboard import make_verdict, noise_png, strip_png


@pytest.fixture
def log(tmp_path) -> ReviewLog:
    review_log = ReviewLog(f"sqlite:///{tmp_path / 'log.db'}", tmp_path / "images")
    yield review_log
    review_log.close()


def times(*stamps: str) -> pd.Series:
    return pd.Series(pd.to_datetime(list(stamps)))


def test_periods_hours_shifts_and_days():
    stamps = times("2025-01-02 03:00", "2025-01-02 06:00", "2025-01-02 13:59", "2025-01-02 14:00",
                   "2025-01-02 23:30")
    assert period_start(stamps, "shift").tolist() == list(times(
        "2025-01-01 22:00", "2025-01-02 06:00", "2025-01-02 06:00", "2025-01-02 14:00", "2025-01-02 22:00"))
    assert period_start(stamps, "hour").tolist()[2] == pd.Timestamp("2025-01-02 13:00")
    assert set(period_start(stamps, "day")) == {pd.Timestamp("2025-01-02")}
    with pytest.raises(ValueError, match="hour, shift, day"):
        period_start(stamps, "week")


def test_local_time_follows_the_plant_time_zone():
    assert to_local(times("2025-06-01 22:30"), "Europe/Berlin")[0] == pd.Timestamp("2025-06-02 00:30")


def _plant_history(log: ReviewLog) -> dict[str, int]:
    """Four sheets over two days; three reviews (one accept, two overrides)."""
    sheets = {"A": ("2025-01-01 07:00", (0.9, 0.1, 0.1, 0.1)), "B": ("2025-01-01 15:00", (0.1, 0.1, 0.1, 0.1)),
              "C": ("2025-01-02 09:00", (0.1, 0.1, 0.8, 0.1)), "D": ("2025-01-02 10:00", (0.45, 0.1, 0.1, 0.1))}
    ids = {}
    for seed, (name, (stamp, probs)) in enumerate(sheets.items()):
        data = noise_png(500 + seed)
        ids[name] = log.record_inference(make_verdict(data, f"{name}.png", probs), data,
                                         at=datetime.fromisoformat(stamp))
    log.add_review(ids["A"], "ann", Decision.accept(log.verdict(ids["A"])), at=datetime(2025, 1, 1, 8))
    log.add_review(ids["C"], "bob", Decision.defect_free(log.verdict(ids["C"]), "glare"),
                   at=datetime(2025, 1, 2, 12))
    log.add_review(ids["D"], "ann", Decision.override(log.verdict(ids["D"]), ["pits"], "faint pits"),
                   at=datetime(2025, 1, 2, 12, 30))
    return ids


def test_statistics_from_a_known_history(log):
    _plant_history(log)
    images, reviews = log.images_frame(), log.reviews_frame()
    report = compute(images, reviews, StatsFilter(freq="day"), waiting=waiting(log, 0.15))
    # Labels: A pits (accepted), B clean (model), C clean (overridden), D pits (overridden).
    assert (report.images, report.defective, report.reviewed) == (4, 2, 3)
    assert (report.decisions, report.overrides, report.waiting) == (3, 2, 0)
    assert report.override_rate == pytest.approx(2 / 3)

    rate = report.defect_rate.set_index(["period_label", "class_name"])
    assert rate.loc[("2025-01-01", "pits"), ["sheets", "defective"]].tolist() == [2, 1]
    assert rate.loc[("2025-01-02", "scratches"), "defective"] == 0  # the model's scratch was overridden
    assert rate.loc[("2025-01-02", "any defect"), "rate"] == 0.5

    agreement = report.agreement.set_index("class_name")
    assert agreement.loc["pits", ["reviewed", "agree", "model_missed", "false_alarm"]].tolist() == [3, 2, 1, 0]
    assert agreement.loc["scratches", ["agree", "model_missed", "false_alarm"]].tolist() == [2, 0, 1]
    pits = report.confusion[report.confusion["class_name"] == "pits"].set_index(["model", "inspector"])["sheets"]
    assert pits.to_dict() == {("present", "present"): 1, ("present", "absent"): 0, ("absent", "present"): 1,
                              ("absent", "absent"): 1}

    assert report.areas["area_px"].tolist() == [17 * 11, 17 * 11]  # A's pits box and C's scratch box
    assert report.areas["class_name"].tolist() == ["pits", "scratches"]

    throughput = report.throughput.set_index(["period_label", "reviewer"])
    assert throughput.loc[("2025-01-01", "ann"), ["decisions", "overrides"]].tolist() == [1, 0]
    assert throughput.loc[("2025-01-02", "bob"), ["decisions", "overrides"]].tolist() == [1, 1]

    # Flagged: A and C (defective), D (0.45 is 0.05 from 0.5); B is sure. Per hour: +A, -A, +C, +D, -C -D.
    hourly = compute(images, reviews, StatsFilter(freq="hour"), waiting=0).backlog
    assert hourly["waiting"].tolist() == [1, 0, 1, 2, 0]
    shifts = compute(images, reviews, StatsFilter(freq="shift"), waiting=0).defect_rate
    assert sorted(set(shifts["period_label"])) == ["2025-01-01 06:00", "2025-01-01 14:00", "2025-01-02 06:00"]


def test_statistics_filters_by_date_and_class(log):
    _plant_history(log)
    images, reviews = log.images_frame(), log.reviews_frame()
    day_two = compute(images, reviews, StatsFilter(date(2025, 1, 2), date(2025, 1, 2)), waiting=0)
    assert (day_two.images, day_two.decisions, day_two.defective) == (2, 2, 1)
    assert day_two.table["image"].tolist() == ["C.png", "D.png"]
    scratches_only = compute(images, reviews, StatsFilter(classes=("scratches",)), waiting=0)
    assert scratches_only.defective == 0
    assert [c for c in scratches_only.table.columns if c.startswith("p_")] == ["p_scratches"]
    assert set(scratches_only.defect_rate["class_name"]) == {"scratches", "any defect"}


def test_queue_next_skip_and_reasons(log):
    ids = _plant_history(log)
    data = noise_png(600)
    fresh = log.record_inference(make_verdict(data, "E.png", (0.1, 0.52, 0.1, 0.1)), data)
    band = 0.15
    assert waiting(log, band) == 1
    item = next_in_queue(log, band)
    assert (item.inference_id, item.image_name) == (fresh, "E.png")
    assert item.reasons == ("flagged: crazing 0.52", "uncertain: crazing 0.52 is within 0.15 of its threshold 0.50")
    assert next_in_queue(log, band, skipped=[fresh]) is None
    assert [i.inference_id for i in upcoming(log, band)] == [fresh]
    assert ids["B"] in [i.inference_id for i in upcoming(log, 0.5)]  # a wide band: B (0.4 off) is uncertain too
    assert flag_reasons(("a", "b"), (0.1, 0.2), (0.5, 0.5), (), 0.15) == ()


def test_out_of_domain_sheets_are_sampled_into_the_queue(log):
    from dataclasses import replace

    from core.review.store.sampling import ExploreSampler

    band = 0.15
    log.explore = ExploreSampler(6, band)  # beyond the flagged sheets, up to 6 an hour that teach (issue 33)
    familiar, unfamiliar, old = noise_png(700), noise_png(701), noise_png(702)
    # All three are clean and far from every threshold: only the domain score can flag one.
    clean = (0.1, 0.1, 0.1, 0.1)
    log.record_inference(replace(make_verdict(familiar, "F.png", clean), ood_score=0.6), familiar)
    odd = log.record_inference(replace(make_verdict(unfamiliar, "U.png", clean), ood_score=3.2, out_of_domain=True,
                                       domain_level="out of domain"), unfamiliar)
    log.record_inference(make_verdict(old, "old.png", clean), old)  # stored before verdicts had a score
    assert waiting(log, band) == 1
    item = next_in_queue(log, band)
    assert item.inference_id == odd
    assert item.reasons == ("out of domain (score 3.2)",)
    status = log.status_by_sha([hashlib.sha256(d).hexdigest() for d in (familiar, unfamiliar, old)], band)
    assert sorted(s["flagged"] for s in status.values()) == [False, False, True]
    assert log.verdict(odd).out_of_domain and log.verdict(odd).ood_score == 3.2


def test_threshold_overrides_are_logged_and_change_decisions(log, tiny_set):
    folder = tiny_set
    card = read_card(folder)
    inspector = Inspector.load(folder, "cpu")
    wanted = {name: {"threshold": 0.0, "min_area": 0} for name in card.class_names}
    assert change_class_settings(log, card, card, wanted, "sam", "calibration") == 4  # min_area unchanged
    overrides = log.class_overrides(card.fingerprint)
    assert overrides == {name: {"threshold": 0.0} for name in card.class_names}
    assert log.class_overrides("another@1.0+weights") == {}  # retrained weights start from their own card
    data = strip_png(7)
    everything = with_overrides(inspector, overrides).inspect((data, "s.png"))
    assert everything.classes_present == card.class_names and everything.thresholds == (0.0,) * 4
    current = effective_card(card, overrides)
    wanted = {name: {"threshold": 1.0} for name in card.class_names}
    with pytest.raises(SteelScanError, match="Reason for the change"):  # a logged change says why
        change_class_settings(log, card, current, wanted, "sam", "  ")
    assert change_class_settings(log, card, current, wanted, "sam", "nothing should pass") == 4
    nothing = with_overrides(inspector, log.class_overrides(card.fingerprint)).inspect((data, "s.png"))
    assert nothing.classes_present == () and not nothing.defective
    assert inspector.card.classes[0].threshold == card.classes[0].threshold  # the shared one is untouched
    assert change_class_settings(log, card, effective_card(card, log.class_overrides(card.fingerprint)),
                                 wanted, "sam") == 0
    with pytest.raises(SteelScanError, match="outside 0..1"):
        change_class_settings(log, card, card, {"pits": {"threshold": 1.5}}, "sam")
    with pytest.raises(SteelScanError, match="no signed-in user given"):
        change_class_settings(log, card, card, {"pits": {"min_area": 9}}, "", "a reason")
    history = log.setting_changes()
    assert len(history) == 8 and set(history["changed_by"]) == {"sam"}


def test_active_model_set_resolution(log, tmp_path):
    models = tmp_path / "models"
    with pytest.raises(NoModelSetError, match="holds no model set"):
        resolve_active(log, models, "severstal-synthetic")
    create_demo_model_set(models)
    with pytest.raises(NoModelSetError, match="not installed") as error:
        resolve_active(log, models, "severstal-synthetic")
    assert "demo-untrained" in error.value.fix
    with pytest.raises(SteelScanError, match="Reason for the change"):
        choose_active(log, models, "demo-untrained", "sam", "")
    assert log.active_model_set() is None  # refused: nothing logged
    choose_active(log, models, "demo-untrained", "sam", "the only set")
    assert resolve_active(log, models, "severstal-synthetic").name == "demo-untrained"
    with pytest.raises(NoModelSetError):
        choose_active(log, models, "missing", "sam", "a reason")
    with pytest.raises(SteelScanError, match="already exists"):
        create_demo_model_set(models)


def test_batch_records_good_images_reports_bad_ones_and_stops(log, tiny_inspector):
    inspector = tiny_inspector
    sources = [(strip_png(1), "a.png"), (b"garbage", "b.png"), (strip_png(2), "c.png"), (strip_png(3), "d.png")]
    items = list(inspect_and_record(inspector, log, sources[:3], band=0.15))
    assert [i.name for i in items] == ["a.png", "b.png", "c.png"]
    assert items[1].error.startswith("b.png") and items[1].inference_id is None
    assert all(i.inference_id for i in (items[0], items[2]))
    assert log.verdict(items[2].inference_id).image_name == "c.png"
    stopped: list = []  # Stop clicked once the first sheet is shown
    for item in inspect_and_record(inspector, log, [sources[3], sources[0]], band=0.15,
                                   should_stop=lambda: bool(stopped)):
        stopped.append(item)
    assert [i.name for i in stopped] == ["d.png"]
    assert len(log.images_frame()) == 3


def test_stop_takes_effect_at_the_next_image_though_the_engine_reads_ahead(log, tiny_inspector):
    """Stop is clicked while the engine has already read the next batches: nothing after the click is recorded."""
    sources = [(strip_png(20 + k), f"s{k}.png") for k in range(3 * tiny_inspector.batch_size + 2)]
    clicked = []
    for item in inspect_and_record(tiny_inspector, log, sources, band=0.15, should_stop=lambda: bool(clicked)):
        clicked.append(item)
    assert [i.name for i in clicked] == ["s0.png"]
    assert len(log.images_frame()) == 1
