"""The tables an inspector reads under a verdict speak words, not code (issue 37 item 8)."""

from core.review.tables import probability_table, region_table
from tests.helpers.dashboard import make_verdict, noise_png


def test_verdict_tables_have_readable_column_names_and_the_margin_to_each_threshold():
    verdict = make_verdict(noise_png(1), "a.png", (0.9, 0.1, 0.55, 0.2))
    probabilities = probability_table(verdict)
    regions = region_table(verdict)
    for table in (probabilities, regions):
        assert not [c for c in table.columns if "_" in c], list(table.columns)
    assert probabilities["margin"].round(4).tolist() == [0.4, 0.4, 0.05, 0.3]
    assert list(regions.columns) == ["class", "area (px)", "x", "y", "mean probability"]
    assert regions["area (px)"].tolist() == [r.area_px for r in verdict.regions]
