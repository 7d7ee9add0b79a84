"""The Statistics page's data and charts: the log's frames cached by the log's version, one class palette
shared with Inspect (with several model sets, one colour per set's class), log axes with plain labels, bars when
a selection spans a single period (a line through one point draws a lone dot)."""

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
from core.review.stats import ANY, StatsFilter, StatsReport, area_summary, class_options, compute, to_local
from core.review.store.db import StoreError
from core.review.store.frames import refreshed
from ui import state
from ui.markup import plain_markdown

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
    """What the page shows before anyone touches a filter: the last 30 days of the log, the active model set (every
    set when it has inspected nothing yet), its every class, by day."""

    first: date
    last: date
    start: date
    classes: tuple[str, ...]
    freq: str = "day"
    model_sets: tuple[str, ...] | None = None  # None: all sets
    sets: tuple[str, ...] = ()  # every set in the log, the active one first

    def filters(self, settings: Settings) -> StatsFilter:
        return StatsFilter(self.start, self.last, self.classes, self.freq, settings.timezone,
                           settings.uncertainty_band, model_sets=self.model_sets)


def active_set_name(settings: Settings, log: ReviewLog) -> str:
    return log.active_model_set() or settings.model_set


def default_view(images: pd.DataFrame, reviews: pd.DataFrame, timezone: str, active_set: str) -> DefaultView:
    local = to_local(images["inspected_at"], timezone)
    first, last = local.min().date(), local.max().date()
    present = sorted(set(images["model_set"]), key=lambda name: (name != active_set, name))
    chosen = (active_set,) if active_set in present else None
    return DefaultView(first, last, max(first, last - timedelta(days=30)),
                       class_options(images, reviews, chosen), model_sets=chosen, sets=tuple(present))


def warm(settings: Settings) -> None:
    """Do, ahead of the first open, what makes it slow: read the log's frames into the shared cache, compute the
    default view's numbers, and build and serialise each kind of chart once (plotly loads its validators and
    templates on the first figure). Run off the page by ui.warmup; draws nothing."""
    log = state.cached_review_log(settings)
    version = log.log_version()
    images, reviews = _frames(log, version)
    if images.empty:
        return
    filters = default_view(images, reviews, settings.timezone, active_set_name(settings, log)).filters(settings)
    numbers = report(log.url, version, filters, waiting(log, settings.uncertainty_band), log)
    palette = {name: NEUTRAL for name in (*numbers.classes, ANY)}
    for figure in (rate_chart(numbers, palette, filters.freq), throughput_chart(numbers, filters.freq)):
        figure.to_json()
    if not numbers.areas.empty:
        area_chart(numbers, palette).to_json()


def colors(report: StatsReport, model_sets: tuple[str, ...] | None) -> dict[str, str]:
    """Class -> colour: with one set exactly as the Inspect overlay draws it (its card, else the palette); with
    several, each set's class its own colour (two sets' classes are never one colour)."""
    if model_sets is not None and len(model_sets) == 1:
        card = card_colors(state.settings().models_dir / model_sets[0])
        return {**class_colors([report.classes], card), ANY: NEUTRAL}
    many = px.colors.qualitative.Dark24
    return {**{name: many[i % len(many)] for i, name in enumerate(report.classes)}, ANY: NEUTRAL}


def one_period(frame: pd.DataFrame) -> bool:
    return frame["period_label"].nunique() <= 1


def rate_chart(report: StatsReport, palette: dict[str, str], freq: str) -> go.Figure:
    """Lines over periods; bars side by side when the selection spans one period (a line there is a lone dot)."""
    draw = px.bar if one_period(report.defect_rate) else px.line
    options = {"barmode": "group"} if draw is px.bar else {"markers": True}
    chart = draw(report.defect_rate, x="period_label", y="rate", color="class_name", **options,
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


def backlog_chart(report: StatsReport, freq: str) -> go.Figure:
    labels = {"period_label": freq, "waiting": "flagged sheets waiting"}
    if one_period(report.backlog):
        chart = px.bar(report.backlog, x="period_label", y="waiting", labels=labels)
    else:
        chart = px.line(report.backlog, x="period_label", y="waiting", line_shape="hv", markers=True, labels=labels)
    return chart.update_xaxes(type="category")


def throughput_chart(report: StatsReport, freq: str) -> go.Figure:
    chart = px.bar(report.throughput, x="period_label", y="decisions", color="reviewer", hover_data=["overrides"],
                   labels={"period_label": freq})
    return chart.update_xaxes(type="category")


def sheets_for_people(table: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """The sheets table as shown: the image's short name first, no hash column (the CSV keeps it); times are the
    plant's (the table's are zone-aware)."""
    shown = table.drop(columns=["sha256"]).assign(image=table["image"].map(lambda n: str(n).rsplit("/", 1)[-1]))
    config = {"image": st.column_config.TextColumn("image", width="medium", pinned=True),
              "inspected_at": st.column_config.DatetimeColumn("inspected", format="YYYY-MM-DD HH:mm"),
              "reviewed_at": st.column_config.DatetimeColumn("reviewed at", format="YYYY-MM-DD HH:mm")}
    config.update({c: st.column_config.NumberColumn(c, format="%.3f", help="the model's probability for "
                                                    f"{c.removeprefix('p_')}") for c in table if c.startswith("p_")})
    return shown[["image", *[c for c in shown.columns if c != "image"]]], config


def sheet_preview(log: ReviewLog, row: pd.Series) -> None:
    """One row of the sheets table opened: the stored picture, what the model said and the label, in the table's
    words (the plant's time, the set that made the verdict)."""
    picture, words = st.columns([3, 2])
    try:
        picture.image(str(log.image_path(row["sha256"])), width="stretch")
    except StoreError as exc:  # pruned by the retention settings, or the store moved: say which
        picture.caption(str(exc))
    decided = (f"{row['label_classes']} ({row['decision']} by {plain_markdown(row['reviewer'])}, "
               f"{row['reviewed_at']:%Y-%m-%d %H:%M %Z})" if row["reviewed"] else "not reviewed")
    reason = f"  \nReason: {plain_markdown(row['reason'])}" if row["reason"] else ""
    words.markdown(f"**{plain_markdown(row['image'])}**  \nInspected {row['inspected_at']:%Y-%m-%d %H:%M %Z} by set "
                   f"{plain_markdown(row['model_set'])}  \nModel: {row['model_classes']} · familiarity: "
                   f"{row['familiarity']}  \nLabel: {decided}{reason}")
