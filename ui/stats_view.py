"""The Statistics page's data and charts: the log's frames cached by the log's version, one class palette
shared with Inspect, log axes with plain labels."""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from core.contract.settings import Settings
from core.imaging.palette import NEUTRAL, card_colors, class_colors
from core.review.glossary import TERMS  # noqa: F401  (the page reads stats_view.TERMS)
from core.review.queue import waiting
from core.review.stats import ANY, StatsFilter, StatsReport, all_classes, area_summary, compute, to_local
from core.review.store.frames import refreshed
from ui import state

if TYPE_CHECKING:
    from core.review.store import ReviewLog


class _FrameCache:
    """The log's frames at one version, brought up to date by reading only what was added since: the log only
    grows (inferences and reviews are append-only), so new rows are all that can change them."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.version: tuple[int, int] | None = None
        self.images = self.reviews = pd.DataFrame()

    def at(self, log, version: tuple[int, int]) -> tuple[pd.DataFrame, pd.DataFrame]:
        with self.lock:
            if self.version is None:
                self.images, self.reviews = log.images_frame(), log.reviews_frame(with_masks=False)
            elif version[0] < self.version[0] or version[1] < self.version[1]:
                return self.images, self.reviews  # another session already brought it further: newer is fine
            elif self.version != version:
                changed = log.changed_shas(self.version)
                self.images = refreshed(self.images, log.images_frame(shas=changed))
                added = log.reviews_frame(with_masks=False, after_id=self.version[1])
                self.reviews = pd.concat([self.reviews, added], ignore_index=True) if not added.empty else self.reviews
            self.version = version
            return self.images, self.reviews


@st.cache_resource(show_spinner=False)
def _frame_cache(database_url: str) -> _FrameCache:
    return _FrameCache()


def _frames(log: ReviewLog, version: tuple[int, int]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Shared by every session, read-only: callers never change the frames they get."""
    return _frame_cache(log.url).at(log, version)


def frames() -> tuple[tuple[int, int], pd.DataFrame, pd.DataFrame]:
    """(log version, images frame, reviews frame): one cheap query when nothing changed since the last open."""
    log = state.review_log()
    version = log.log_version()
    return version, *_frames(log, version)


@st.cache_data(show_spinner=False, max_entries=32)
def report(database_url: str, version: tuple[int, int], filters: StatsFilter, waiting: int,
           _log: ReviewLog) -> StatsReport:
    """The page's numbers for one log version and one set of filters (a filter change recomputes; a reopen doesn't).
    The log itself is not part of the cache key (leading underscore): its URL is."""
    images, reviews = _frames(_log, version)
    return compute(images, reviews, filters, waiting)


@dataclass(frozen=True)
class DefaultView:
    """What the page shows before anyone touches a filter: the last 30 days of the log, every class, by day."""

    first: date
    last: date
    start: date
    classes: tuple[str, ...]
    freq: str = "day"

    def filters(self, settings: Settings) -> StatsFilter:
        return StatsFilter(self.start, self.last, self.classes, self.freq, settings.timezone,
                           settings.uncertainty_band)


def default_view(images: pd.DataFrame, timezone: str) -> DefaultView:
    local = to_local(images["inspected_at"], timezone)
    first, last = local.min().date(), local.max().date()
    return DefaultView(first, last, max(first, last - timedelta(days=30)), all_classes(images))


def warm(settings: Settings) -> None:
    """Do, ahead of the first open, what makes it slow: read the log's frames into the shared cache, compute the
    default view's numbers, and build and serialise each kind of chart once (plotly loads its validators and
    templates on the first figure). Run off the page by ui.warmup; draws nothing."""
    log = state.cached_review_log(settings)
    version = log.log_version()
    images, _ = _frames(log, version)
    if images.empty:
        return
    filters = default_view(images, settings.timezone).filters(settings)
    numbers = report(log.url, version, filters, waiting(log, settings.uncertainty_band), log)
    palette = {name: NEUTRAL for name in (*numbers.classes, ANY)}
    for figure in (rate_chart(numbers, palette, filters.freq), throughput_chart(numbers, filters.freq)):
        figure.to_json()
    if not numbers.areas.empty:
        area_chart(numbers, palette).to_json()


def colors(images: pd.DataFrame) -> dict[str, str]:
    """Class -> colour exactly as the Inspect overlay draws it (the active set's card, else the palette)."""
    settings, log = state.settings(), state.review_log()
    card = card_colors(settings.models_dir / (log.active_model_set() or settings.model_set))
    mapping = class_colors(dict.fromkeys(map(tuple, images["class_names"])), card)  # each set's class order once
    return {**mapping, ANY: NEUTRAL}


def rate_chart(report: StatsReport, palette: dict[str, str], freq: str) -> go.Figure:
    chart = px.line(report.defect_rate, x="period_label", y="rate", color="class_name", markers=True,
                    hover_data=["sheets", "defective"], color_discrete_map=palette,
                    labels={"rate": "share of sheets", "class_name": "class", "period_label": freq})
    chart.update_xaxes(type="category")  # period names, never a zoom into milliseconds
    return chart.update_yaxes(tickformat=".0%", rangemode="tozero")


def _log_ticks(low: float, high: float) -> tuple[list[float], list[str]]:
    """Powers of ten from low to high, written 1, 10, 100, 1k, 10k, ...: plain labels, no overlapping 2s and 5s."""
    names = {0: "1", 1: "10", 2: "100", 3: "1k", 4: "10k", 5: "100k", 6: "1M", 7: "10M"}
    first, last = math.floor(math.log10(max(low, 1))), math.ceil(math.log10(max(high, 1)))
    powers = range(first, max(last, first + 1) + 1)
    return [10.0 ** p for p in powers], [names.get(p, f"1e{p}") for p in powers]


def area_chart(report: StatsReport, palette: dict[str, str]) -> go.Figure:
    order = {name: i for i, name in enumerate(report.classes)}  # the model set's class order, as in the legend
    summary = area_summary(report.areas).sort_values("class_name", key=lambda names: names.map(order))
    figure = go.Figure()
    for row in summary.itertuples(index=False):  # one box per class: a handful of rows
        figure.add_trace(go.Box(name=row.class_name, x=[row.class_name], q1=[row.q1], median=[row.median], q3=[row.q3],
                                lowerfence=[row.min], upperfence=[row.max], marker_color=palette.get(row.class_name),
                                hovertemplate=f"{row.class_name}: {row.regions} regions<extra></extra>"))
    values, labels = _log_ticks(summary["min"].min(), summary["max"].max())
    figure.update_yaxes(type="log", tickvals=values, ticktext=labels, title="area (pixels, log scale)")
    return figure.update_layout(showlegend=False, xaxis_title="class", margin={"t": 10})


def throughput_chart(report: StatsReport, freq: str) -> go.Figure:
    chart = px.bar(report.throughput, x="period_label", y="decisions", color="reviewer", hover_data=["overrides"],
                   labels={"period_label": freq})
    return chart.update_xaxes(type="category")


def sheets_for_people(table: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """The sheets table as shown: the image's short name first, no hash column (the CSV keeps it)."""
    shown = table.drop(columns=["sha256"]).assign(image=table["image"].map(lambda n: str(n).rsplit("/", 1)[-1]))
    config = {"image": st.column_config.TextColumn("image", width="medium", pinned=True),
              "inspected_at": st.column_config.DatetimeColumn("inspected", format="YYYY-MM-DD HH:mm"),
              "reviewed_at": st.column_config.DatetimeColumn("reviewed at", format="YYYY-MM-DD HH:mm")}
    config.update({c: st.column_config.NumberColumn(c, format="%.3f", help="the model's probability for "
                                                    f"{c.removeprefix('p_')}") for c in table if c.startswith("p_")})
    return shown[["image", *[c for c in shown.columns if c != "image"]]], config
