"""The Statistics page's pictures: log-axis labels people read, a box per class from five numbers, the sheets
table without its hash column."""

from __future__ import annotations

import pandas as pd

from core.review.stats import area_summary
from ui.stats_view import _log_ticks, sheets_for_people


def test_log_axis_ticks_are_powers_of_ten_with_plain_labels():
    values, labels = _log_ticks(3, 250_000)
    assert values == [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000]
    assert labels == ["1", "10", "100", "1k", "10k", "100k", "1M"]
    assert _log_ticks(40, 40) == ([10, 100], ["10", "100"])  # never a single tick


def test_area_summary_gives_each_class_its_five_numbers():
    areas = pd.DataFrame({"class_name": ["pits"] * 5 + ["patches"], "area_px": [1, 2, 3, 4, 100, 7]})
    summary = area_summary(areas).set_index("class_name")
    assert summary.loc["pits"].to_dict() == {"regions": 5, "min": 1, "q1": 2.0, "median": 3.0, "q3": 4.0,
                                             "max": 100}
    assert summary.loc["patches", "median"] == 7
    assert area_summary(areas.iloc[:0]).empty


def test_the_sheets_table_leads_with_a_short_image_name_and_hides_the_hash():
    table = pd.DataFrame({"inspected_at": [pd.Timestamp("2026-01-01")], "image": ["cam1/2026/coil_7.jpg"],
                          "sha256": ["ab" * 32], "p_pits": [0.5]})
    shown, config = sheets_for_people(table)
    assert shown.columns.tolist() == ["image", "inspected_at", "p_pits"]
    assert shown["image"].tolist() == ["coil_7.jpg"] and "p_pits" in config


def test_a_model_cards_metrics_render_as_tables_and_charts_not_json():
    from streamlit.testing.v1 import AppTest

    def page():
        import json
        from pathlib import Path

        from ui.model_card_view import metrics_view

        card = json.loads((Path.cwd() / "models" / "severstal-synthetic" / "card.json").read_text())
        metrics_view(card["metrics"], key="m")

    app = AppTest.from_function(page, default_timeout=60).run()
    assert not app.exception and not app.json
    assert len(app.dataframe) == 2  # validation summary, per-class tuning
    assert app.dataframe[1].value["class"].tolist() == ["pits", "crazing", "scratches", "patches"]
    assert len(app.get("plotly_chart")) == 2
    assert any("optimistic" in c.value for c in app.caption)


def test_the_warm_up_computes_exactly_what_the_pages_first_open_asks_for(tmp_path, monkeypatch):
    """ui.warmup's work is only worth its CPU if the page's first open finds it cached: the frames at the log's
    version, and the numbers for the filters the page starts with (so `compute` runs once, in the warm-up)."""
    from core.contract.settings import load_settings
    from core.review.queue import waiting
    from tests.helpers.big_log import fill_reviewed_sheets
    from ui import state, stats_view

    settings = load_settings(environ={"STEELSCAN_DATABASE_URL": f"sqlite:///{tmp_path / 'review.db'}",
                                      "STEELSCAN_IMAGE_STORE": str(tmp_path / "img"),
                                      "STEELSCAN_SETTINGS": str(tmp_path / "none.toml")})
    log = state.cached_review_log(settings)
    fill_reviewed_sheets(log, 300)
    computed = []
    real_compute = stats_view.compute
    monkeypatch.setattr(stats_view, "compute", lambda *a: computed.append(a[2]) or real_compute(*a))

    stats_view.warm(settings)
    assert len(computed) == 1
    version = log.log_version()
    assert stats_view._frame_cache(log.url).version == version
    assert len(stats_view._frame_cache(log.url).images) == 300

    # The page's first open: its filters start from the same default view (widgets untouched).
    images, reviews = stats_view._frames(log, version)
    view = stats_view.default_view(images, reviews, settings.timezone, stats_view.active_set_name(settings, log))
    filters = stats_view.StatsFilter(view.start, view.last, tuple(list(view.classes)), "day", settings.timezone,
                                     settings.uncertainty_band, model_sets=view.model_sets)
    numbers = stats_view.report(log.url, version, filters, waiting(log, settings.uncertainty_band), log)
    assert len(computed) == 1, "the first open recomputed what the warm-up had computed"
    assert numbers.images > 0 and (view.last - view.start).days == 30
    assert set(view.classes) == {"pits", "crazing", "scratches", "patches"}


def test_a_single_day_is_drawn_as_bars_and_several_as_lines():
    """Issue 37 item 11: a selection of one day drew lone dots."""
    from core.review.stats import StatsReport
    from ui.stats_view import rate_chart

    def report(days: list[str]) -> StatsReport:
        rate = pd.DataFrame({"period_label": days, "class_name": ["pits"] * len(days), "rate": [0.5] * len(days),
                             "sheets": [2] * len(days), "defective": [1] * len(days)})
        backlog = pd.DataFrame({"period_label": days, "waiting": [1] * len(days)})
        empty = pd.DataFrame()
        return StatsReport(2, 1, 0, 0, 0, 0, rate, empty, empty, empty, backlog, empty, empty, ("pits",))

    one, two = report(["2025-01-01"]), report(["2025-01-01", "2025-01-02"])
    assert {t.type for t in rate_chart(one, {}, "day").data} == {"bar"}
    from ui.stats_view import backlog_chart

    assert {t.type for t in backlog_chart(one, "day").data} == {"bar"}
    assert {t.type for t in rate_chart(two, {}, "day").data} == {"scatter"}  # plotly's lines are scatter traces
    assert {t.type for t in backlog_chart(two, "day").data} == {"scatter"}
