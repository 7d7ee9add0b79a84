"""The threshold what-if's pictures, checked on what they draw: the histogram's bars hold exactly the reviewed scores
of each label, the curve's points sit where `counts` says, the shift bars are the per-shift counts; outside text
shown in markdown stays plain."""

from __future__ import annotations

import pandas as pd

from core.review.what_if import Window, class_scores, precision_recall, reviewed_scores, what_if
from ui.markup import plain_markdown
from ui.what_if_view import BIN, histogram_chart, pr_chart, shift_chart

NOW = pd.Timestamp("2025-03-10 12:00")


def scores() -> pd.DataFrame:
    """Six sheets over two shifts, four reviewed (two confirmed pits), two classes each."""
    sheets = pd.DataFrame({
        "image_sha256": list("abcdef"),
        "inferred_at": pd.to_datetime(["2025-03-10 07:00", "2025-03-10 08:00", "2025-03-10 09:00",
                                       "2025-03-09 15:00", "2025-03-09 16:00", "2025-03-09 17:00"]),
        "class_names": [("pits", "scratches")] * 6,
        "probabilities": [(0.92, 0.1), (0.71, 0.2), (0.33, 0.9), (0.56, 0.1), (0.12, 0.1), (0.48, 0.1)],
        "label_classes": [("pits",), (), ("pits", "scratches"), (), None, None],
        "reviewed": [True, True, True, True, False, False],
    })
    return class_scores(sheets)


def test_histogram_bars_hold_each_labels_reviewed_scores_and_mark_both_thresholds():
    reviewed = reviewed_scores(scores(), "pits")
    before = reviewed.copy(deep=True)
    figure = histogram_chart(reviewed, 0.5, 0.3)
    confirmed, absent = figure.data
    assert confirmed.name == "confirmed (2)" and absent.name == "not present (2)"
    # Each bar is the count of that label's reviewed scores in its 0.05 bin: .33 and .92 confirmed, .56 and .71 not.
    bars = {trace.name.split(" (")[0]: {round(x - BIN / 2, 2): int(y) for x, y in zip(trace.x, trace.y, strict=True)
                                        if y} for trace in figure.data}
    assert bars == {"confirmed": {0.3: 1, 0.9: 1}, "not present": {0.55: 1, 0.7: 1}}
    assert sum(confirmed.y) + sum(absent.y) == len(reviewed) and len(confirmed.x) == round(1 / BIN)
    edge = histogram_chart(reviewed.assign(score=1.0), 0.5, 0.5).data[0]
    assert edge.y[-1] == 2  # a score of exactly 1.0 lands in the last bin, not off the chart
    assert [shape.x0 for shape in figure.layout.shapes] == [0.5, 0.3]
    labels = {a.text: a.xanchor for a in figure.layout.annotations}
    assert labels == {"now 0.50": "left", "new 0.30": "right"}  # leaning apart: the lower one's text to its left
    assert len(histogram_chart(reviewed, 0.5, 0.5).layout.shapes) == 1  # nothing moved: one line
    assert figure.layout.yaxis.dtick == 1
    pd.testing.assert_frame_equal(reviewed, before)


def test_the_curve_and_its_points_are_what_the_counts_say():
    frame = scores()
    report = what_if(frame, "pits", 0.5, 0.3, Window(7, NOW))
    curve = precision_recall(frame, "pits")
    figure = pr_chart(curve, report.now, report.new)
    line, now, new = figure.data
    assert list(line.x) == curve["recall"].tolist() and list(line.y) == curve["precision"].tolist()
    # At 0.5 the reviewed sheets flagged are .92 (yes), .71 (no), .56 (no): precision 1/3, recall 1/2.
    assert (now.x[0], now.y[0]) == (0.5, 1 / 3) and now.name == "now 0.50"
    assert (new.x[0], new.y[0]) == (1.0, 0.5) and new.name == "new 0.30"
    assert [t.name for t in pr_chart(curve, report.now, report.now).data] == ["reviewed sheets", "now 0.50"]


def test_shift_bars_are_the_flagged_counts_of_each_shift():
    report = what_if(scores(), "pits", 0.5, 0.3, Window(7, NOW))
    figure = shift_chart(report.shifts, 0.5, 0.3)
    bars = {trace.name: dict(zip(trace.x, trace.y, strict=True)) for trace in figure.data}
    assert bars == {"now 0.50": {"2025-03-09 14:00": 1, "2025-03-10 06:00": 2},
                    "new 0.30": {"2025-03-09 14:00": 2, "2025-03-10 06:00": 3}}
    assert (figure.layout.yaxis.tick0, figure.layout.yaxis.dtick) == (0, 1)  # whole sheets, never 0.5 of one
    unmoved = shift_chart(what_if(scores(), "pits", 0.5, 0.5, Window(7, NOW)).shifts, 0.5, 0.5)
    assert [trace.name for trace in unmoved.data] == ["now 0.50"]


def test_outside_text_in_markdown_is_shown_as_typed():
    hostile = "see [here](javascript:alert(1)) **now** # ok"
    escaped = plain_markdown(hostile)
    assert escaped == r"see \[here\](javascript\:alert(1)) \*\*now\*\* # ok"  # no link, no bold
    assert escaped.replace("\\", "") == hostile
    assert plain_markdown("1. first\n# second") == "1\\. first # second"  # one line, no list, no heading
    assert plain_markdown("0.35, set by ann") == "0.35, set by ann"  # plain text stays as it is
