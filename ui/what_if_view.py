"""The threshold what-if's data and charts: the active set's scores cached by the log's version, and three pure
figures (score histogram by the inspectors' label, precision-recall curve, flagged sheets per shift), each marking
the threshold in force and the one under the slider."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from core.review.what_if import ThresholdCounts, scores_from_log

if TYPE_CHECKING:
    from core.review.store import ReviewLog

LABEL_COLORS = {"confirmed": "#d62728", "not present": "#7f7f7f"}
NOW_COLOR, NEW_COLOR = "#7f7f7f", "#1f77b4"
BIN = 0.05  # twenty bins over 0..1: enough to see the overlap, few enough to read on a laptop
HEIGHT = 280  # two charts side by side under the metrics at 1366x768


@st.cache_data(show_spinner=False, max_entries=8)
def _scores(database_url: str, version: tuple[int, int], fingerprint: str, _log: ReviewLog) -> pd.DataFrame:
    return scores_from_log(_log, fingerprint)


def scores(log: ReviewLog, fingerprint: str) -> pd.DataFrame:
    """The what-if frame for these weights, read again only when the log has grown (both tables only append)."""
    return _scores(log.url, log.log_version(), fingerprint, log)


def _threshold_lines(figure: go.Figure, now: float, new: float) -> go.Figure:
    """Dashed: the threshold in force; solid: the new one (only once moved). Labels above the bars, never on them."""
    lines = [(now, "now", NOW_COLOR, "dash")] + ([(new, "new", NEW_COLOR, "solid")] if new != now else [])
    for x, name, color, dash in lines:
        left = x < (now if name == "new" else new)  # the two labels lean away from each other
        figure.add_vline(x=x, line_dash=dash, line_color=color, annotation_text=f"{name} {x:.2f}",
                         annotation_position="top left" if left else "top right", annotation_yanchor="bottom",
                         annotation_font_color=color)
    return figure


def histogram_chart(reviewed: pd.DataFrame, now: float, new: float) -> go.Figure:
    """Reviewed sheets' scores (`core.review.what_if.reviewed_scores`), one colour per label, bins of 0.05 (the
    last one holds 1.0 too), counted here so that the bars are the counts."""
    edges = np.linspace(0.0, 1.0, round(1 / BIN) + 1)
    figure, tallest = go.Figure(), 0
    for label, color in LABEL_COLORS.items():
        values = reviewed.loc[reviewed["label"] == label, "score"].to_numpy(dtype=float)
        sheets, _ = np.histogram(values, bins=edges)
        tallest = max(tallest, int(sheets.max(initial=0)))
        figure.add_trace(go.Bar(x=edges[:-1] + BIN / 2, y=sheets, width=BIN, name=f"{label} ({len(values)})",
                                marker_color=color, opacity=0.65, customdata=np.c_[edges[:-1], edges[1:]],
                                hovertemplate=f"{label}: %{{y}} sheets scoring %{{customdata[0]:.2f}}–"
                                              "%{customdata[1]:.2f}<extra></extra>"))
    figure.update_layout(barmode="overlay", height=HEIGHT, margin={"t": 30, "b": 10, "l": 10, "r": 10},
                         legend={"orientation": "h", "y": -0.25}, xaxis_title="model score", yaxis_title="sheets")
    figure.update_xaxes(range=[0, 1])
    return _whole_ticks(_threshold_lines(figure, now, new), tallest)


def _point(counts: ThresholdCounts, name: str, color: str, symbol: str) -> go.Scatter:
    return go.Scatter(x=[counts.recall], y=[counts.precision], mode="markers", name=f"{name} {counts.threshold:.2f}",
                      marker={"size": 12, "color": color, "symbol": symbol},
                      hovertemplate=f"{name} {counts.threshold:.2f}: recall %{{x:.2f}}, precision %{{y:.2f}}"
                                    "<extra></extra>")


def pr_chart(curve: pd.DataFrame, now: ThresholdCounts, new: ThresholdCounts) -> go.Figure:
    """The precision-recall curve (`core.review.what_if.precision_recall`), the two thresholds as points on it."""
    figure = px.line(curve, x="recall", y="precision", markers=True, hover_data=["threshold", "flagged"],
                     labels={"recall": "recall (confirmed sheets flagged)",
                             "precision": "precision (flagged confirmed)"})
    figure.update_traces(line_color=NOW_COLOR, name="reviewed sheets", showlegend=True)
    points = [(now, "now", NOW_COLOR, "circle-open")] + ([(new, "new", NEW_COLOR, "circle")]
                                                          if new.threshold != now.threshold else [])
    for counts, name, color, symbol in points:
        if counts.recall is not None and counts.precision is not None:
            figure.add_trace(_point(counts, name, color, symbol))
    figure.update_layout(height=HEIGHT, margin={"t": 30, "b": 10, "l": 10, "r": 10},
                         legend={"orientation": "h", "y": -0.25})
    return figure.update_xaxes(range=[0, 1.02]).update_yaxes(range=[0, 1.05])


def _whole_ticks(figure: go.Figure, highest: float) -> go.Figure:
    """Sheets come whole: ticks at whole numbers, about five of them."""
    return figure.update_yaxes(tick0=0, dtick=max(1, math.ceil(float(highest or 0) / 5)), rangemode="tozero")


def shift_chart(shifts: pd.DataFrame, now: float, new: float) -> go.Figure:
    """Flagged sheets per shift (`core.review.what_if.shift_load`): the threshold in force beside the new one
    (only the one in force until the slider moves)."""
    columns = {"flagged_now": f"now {now:.2f}", **({"flagged_new": f"new {new:.2f}"} if new != now else {})}
    long = shifts.melt(id_vars=["shift_label", "sheets"], value_vars=list(columns), var_name="threshold",
                       value_name="flagged")
    long["threshold"] = long["threshold"].map(columns)
    colors = dict(zip(columns.values(), (NOW_COLOR, NEW_COLOR), strict=False))
    figure = px.bar(long, x="shift_label", y="flagged", color="threshold", barmode="group", hover_data=["sheets"],
                    color_discrete_map=colors, labels={"shift_label": "shift start", "flagged": "flagged sheets"})
    figure.update_xaxes(type="category")
    figure.update_layout(height=HEIGHT - 20, margin={"t": 10, "b": 10, "l": 10, "r": 10})
    return _whole_ticks(figure, long["flagged"].max() if not long.empty else 0)
