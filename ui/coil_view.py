"""The Coils page's widgets: the coil chooser, the defect map along a coil (Plotly: x = position, one row per class in
the class colours, hover names the sheet, a click opens it), the counts and grade, and the opened sheet."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from PIL import Image

from core.imaging.palette import NEUTRAL, card_colors, class_colors
from core.imaging.render import overlay_masks
from core.review.coils import CoilReport
from core.review.store.coils import CoilSummary
from core.review.store.db import StoreError
from ui.markup import plain_markdown

if TYPE_CHECKING:
    from core.review.store import ReviewLog

ALL_SHEETS = "all sheets"  # the map's bottom row: every sheet, defect-free ones hollow, so gaps show


def coil_picker(coils: list[CoilSummary], timezone: str) -> str:
    """The coil shown (the newest first); the list of recent coils in a table below the chooser."""
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(timezone)

    def label(summary: CoilSummary) -> str:
        last = pd.Timestamp(summary.last_at, tz="UTC").tz_convert(zone)
        return f"{summary.coil} · {summary.sheets} sheets · last {last:%Y-%m-%d %H:%M}"

    by_name = {c.coil: c for c in coils}
    return st.selectbox("Coil", list(by_name), format_func=lambda name: label(by_name[name]), key="coil_pick",
                        help="Coils by their latest sheet, newest first.")


def recent_table(coils: list[CoilSummary], timezone: str) -> pd.DataFrame:
    return pd.DataFrame({
        "coil": [c.coil for c in coils], "sheets": [c.sheets for c in coils],
        "head (m)": [c.head_m for c in coils], "tail (m)": [c.tail_m for c in coils],
        "last sheet": [pd.Timestamp(c.last_at, tz="UTC").tz_convert(timezone).tz_localize(None) for c in coils]})


def palette(report: CoilReport, models_dir) -> dict[str, str]:
    """The class colours the Inspect overlay uses: the card's of the coil's (first) set, else the palette's."""
    first_set = report.sheets["model_set"].iloc[0]
    return class_colors([report.class_names], card_colors(models_dir / first_set))


def _sheet_text(row) -> str:
    where = f"{row.position:g} m" if pd.notna(row.position) else f"sheet {row.sheet}"
    classes = ", ".join(row.classes) or "defect-free"
    return f"{row.sheet}. {row.image} · {where} · {classes}"


def defect_map(report: CoilReport, colors: dict[str, str]) -> go.Figure:
    """One row per class (the coil's classes in order, top down) and one for every sheet; a marker where a sheet's
    label has the class. customdata = the sheet's inference id, so a click can open it."""
    sheets = report.sheets
    rows = [*report.class_names, ALL_SHEETS]
    figure = go.Figure()
    for name in report.class_names:
        having = sheets[sheets["classes"].map(lambda c, n=name: n in c)]
        figure.add_trace(go.Scatter(
            x=having["along"].tolist(), y=[name] * len(having), mode="markers", name=name,
            marker={"color": colors.get(name, NEUTRAL), "size": 14, "symbol": "square",
                    "line": {"width": 1, "color": "#222"}},
            customdata=[[int(i), n] for i, n in zip(having["inference_id"], having["image"], strict=True)],
            hovertemplate=f"<b>{name}</b><br>%{{customdata[1]}}<br>%{{x}}<extra></extra>"))
    figure.add_trace(go.Scatter(
        x=sheets["along"].tolist(), y=[ALL_SHEETS] * len(sheets), mode="markers", name=ALL_SHEETS, showlegend=False,
        marker={"color": [NEUTRAL if d else "rgba(0,0,0,0)" for d in sheets["defective"]], "size": 9,
                "symbol": "line-ns-open" if len(sheets) > 200 else "circle", "line": {"width": 1, "color": NEUTRAL}},
        customdata=[[int(i), n] for i, n in zip(sheets["inference_id"], sheets["image"], strict=True)],
        hovertemplate="%{customdata[1]}<br>%{x}<extra></extra>"))
    figure.update_layout(height=90 + 38 * len(rows), margin={"l": 0, "r": 10, "t": 10, "b": 40},
                         showlegend=False, clickmode="event+select", dragmode="zoom")
    figure.update_xaxes(title=report.axis_title, zeroline=False, showgrid=True)
    figure.update_yaxes(categoryorder="array", categoryarray=rows[::-1], showgrid=True)
    return figure


def picked_sheet(event_key: str) -> int | None:
    """The inference id of the marker clicked on the map (None: no click)."""
    event = st.session_state.get(event_key)
    points = (event or {}).get("selection", {}).get("points", []) if event is not None else []
    for point in points:
        data = point.get("customdata")
        if data:
            return int(data[0])
    return None


def sheet_choice(report: CoilReport, key: str) -> int | None:
    """The sheet opened: chosen here, or by a click on the map (which sets this choice)."""
    names = {int(r.inference_id): _sheet_text(r) for r in report.sheets.itertuples()}
    return st.selectbox("Open a sheet", list(names), index=None, format_func=names.get, key=key,
                        placeholder="Click a marker on the map, or pick a sheet here")


def open_sheet(log: ReviewLog, report: CoilReport, inference_id: int, colors: dict[str, str]) -> None:
    """The stored picture with its label's masks, and what the model and the inspectors said."""
    row = report.sheets[report.sheets["inference_id"] == inference_id].iloc[0]
    verdict = log.verdict(inference_id)
    picture, words = st.columns([3, 2])
    try:
        pixels = np.asarray(Image.open(log.image_path(row["image_sha256"])).convert("RGB"))
        shown = [name in row["classes"] for name in verdict.class_names]
        picture.image(overlay_masks(pixels, verdict.masks, [colors.get(n, NEUTRAL) for n in verdict.class_names],
                                    0.45, True, shown), width="stretch")
    except StoreError as exc:  # pruned by retention, or the store moved: say which
        picture.caption(str(exc))
    where = f"{row['position']:g} m from the head end" if pd.notna(row["position"]) else "no position recorded"
    label = ", ".join(row["classes"]) or "defect-free"
    source = "an inspector's decision" if row["label_source"] == "inspector" else "the model's verdict"
    words.markdown(f"**{plain_markdown(row['image'])}**  \nCoil {plain_markdown(report.coil)}, sheet {row['sheet']} "
                   f"· {where}  \nLabel: {label} ({source})  \nModel: {', '.join(verdict.classes_present) or 'clean'}"
                   f" · set {plain_markdown(row['model_set'])}  \nInspected {row['inspected_at']:%Y-%m-%d %H:%M %Z}")
