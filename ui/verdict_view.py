"""One verdict on screen: the strip (zoomable, at full resolution), a legend, and the details below it
(probabilities, regions, Grad-CAM, history). The decision controls live in ui.decision_panel."""

from __future__ import annotations

import base64
import io
from dataclasses import replace

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from PIL import Image

from core.contract.verdict import Region, Verdict
from core.engine.domain import domain_message
from core.engine.explain import explain
from core.engine.inference import Inspector
from core.imaging.render import draw_regions, overlay_heatmap, overlay_masks
from core.modelsets.modelset import PALETTE
from core.review.store import CurrentLabel, ReviewLog
from core.review.tables import history_table, probability_table, region_table, verdict_headline
from ui.engine import GRADCAM_LOCK, inference_slots
from ui.markup import plain_markdown, swatch_html

SPECK_PX = 10  # regions smaller than this are never drawn or listed, whatever the card's minimum area
REGION_PAGE = 10


def verdict_colors(verdict: Verdict, inspector: Inspector | None) -> list[str]:
    if inspector is not None and inspector.card.class_names == verdict.class_names:
        return [c.color for c in inspector.card.classes]
    return [PALETTE[i % len(PALETTE)] for i in range(len(verdict.class_names))]


def min_areas(verdict: Verdict, inspector: Inspector | None) -> list[int]:
    """Per class, the smallest region worth showing: the card's min_area (the rule postprocess applies to a
    whole class mask), and never under SPECK_PX."""
    if inspector is not None and inspector.card.class_names == verdict.class_names:
        return [max(c.min_area, SPECK_PX) for c in inspector.card.classes]
    return [SPECK_PX] * len(verdict.class_names)


def shown_regions(verdict: Verdict, inspector: Inspector | None) -> tuple[list[Region], int]:
    """(regions at or over their class minimum area, largest first; how many smaller ones are left out)."""
    floor = min_areas(verdict, inspector)
    kept = sorted((r for r in verdict.regions if r.area_px >= floor[r.class_index]), key=lambda r: -r.area_px)
    return kept, len(verdict.regions) - len(kept)


def _data_uri(pixels: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=90)  # a tenth of PNG's bytes for steel texture
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()


PICTURE_PX = 250  # the tallest the picture is drawn: with the decision row below it fits 1366x768
PICTURE_WITH_FORM_PX = 110  # while the override form is open: its toggles and quick reasons stay on screen too


def strip_figure(picture: np.ndarray, tallest: int = PICTURE_PX) -> go.Figure:
    """The picture at full resolution in a Plotly figure: drag to zoom, double-click to reset, scroll to zoom.
    Drawn at most `tallest` px high whatever its shape (a square or tall image is narrower, never taller)."""
    height, width = picture.shape[:2]
    figure = go.Figure(go.Image(source=_data_uri(picture)))
    shown = int(min(tallest, max(min(160, tallest), 900 * height / width)))  # a 1600x256 strip fills 1366 px
    figure.update_layout(height=shown, margin={"l": 0, "r": 0, "t": 0, "b": 0}, dragmode="zoom",
                         plot_bgcolor="rgba(0,0,0,0)", paper_bgcolor="rgba(0,0,0,0)")
    figure.update_xaxes(visible=False, range=[0, width], constrain="domain")
    figure.update_yaxes(visible=False, range=[height, 0], scaleanchor="x", constrain="domain")
    return figure


def verdict_picture(verdict: Verdict, pixels: np.ndarray, inspector: Inspector | None, key: str,
                    tallest: int = PICTURE_PX) -> None:
    """The strip with the masks and boxes of the chosen classes, and the view choices beside the legend.
    The class filter is per sheet (its key holds the sheet); the opacity is remembered across sheets."""
    names, colors = list(verdict.class_names), verdict_colors(verdict, inspector)
    regions, left_out = shown_regions(verdict, inspector)
    opacity = st.session_state.setdefault("overlay_opacity_value", 0.45)
    shown = st.session_state.get(f"shown-{key}", names)
    visible = [name in shown for name in names]
    picture = overlay_masks(pixels, verdict.masks, colors, opacity, True, visible)
    picture = draw_regions(picture, [r for r in regions if visible[r.class_index]], colors, label=False)
    st.plotly_chart(strip_figure(picture, tallest), config={"scrollZoom": True, "displaylogo": False,
                                                   "modeBarButtonsToRemove": ["select2d", "lasso2d"]},
                    key=f"strip-{key}")
    legend_col, view_col = st.columns([5, 1], vertical_alignment="center")
    note = f"{verdict.width}×{verdict.height} · drag to zoom, double-click resets"
    if left_out:
        note += f" · {left_out} specks under the class minimum area hidden"
    legend_col.markdown(" ".join(swatch_html(n, c) for n, c in zip(names, colors, strict=True))
                        + f" <small style='opacity:.7;margin-left:1em'>{note}</small>", unsafe_allow_html=True)
    with view_col.popover("View", icon=":material/tune:", width="stretch"):
        st.pills("Classes shown", names, selection_mode="multi", default=names, key=f"shown-{key}")
        st.slider("Mask opacity", 0.0, 1.0, key="overlay_opacity_value", step=0.05)


def verdict_notes(verdict: Verdict, inspector: Inspector | None) -> None:
    """Warnings that change how far the verdict can be trusted; silent when there is nothing to say."""
    if verdict.out_of_domain:
        st.warning(domain_message(verdict.ood_score, True), icon=":material/help:")
    made_by_active = inspector is not None and inspector.card.fingerprint == verdict.model_fingerprint
    if not verdict.model_trained and not made_by_active:  # the active set's own banner already warns
        st.warning(f"Made by the untrained model set {plain_markdown(verdict.model_set)}: a demonstration, not a "
                   "verdict.")


def verdict_badge(verdict: Verdict, label: CurrentLabel | None, active_set: str | None = None) -> None:
    """The sheet's label now: the reviewer's when decided (who, when), else the model's verdict; the line under it
    names the set that made the verdict (one model set per view, issue 37 item 3): a verdict of another set than
    the active one, or a decision made against another set's classes, says so."""
    made_by = verdict.model_set
    other = f" :orange[— not the active set {active_set}]" if active_set and made_by != active_set else ""
    if label is None:
        st.badge(f"Model: {verdict_headline(verdict)} · undecided", color="red" if verdict.defective else "green",
                 icon=":material/warning:" if verdict.defective else ":material/check_circle:")
        st.caption(f"Verdict of set {made_by}{other}")
        return
    shown = ", ".join(label.classes) or "defect-free"
    st.badge(f"Decided: {shown} · {label.reviewer} · {label.decided_at:%Y-%m-%d %H:%M} UTC",
             color="red" if label.classes else "green", icon=":material/how_to_reg:")
    decided_with = label.model_set or made_by
    if decided_with == made_by:
        st.caption(f"Set {made_by} said {verdict_headline(verdict).lower()}{other}; {label.kind}"
                   f"{': ' + plain_markdown(label.reason) if label.reason else ''}")
    else:
        st.caption(f":orange[Decided against set {decided_with}'s classes; this verdict is set {made_by}'s] "
                   f"({verdict_headline(verdict).lower()}){other}: Change decision… decides against {made_by}'s.")


def gradcam_ui(verdict: Verdict, pixels: np.ndarray, inspector: Inspector | None, key: str) -> None:
    if inspector is None or inspector.card.fingerprint != verdict.model_fingerprint:
        st.caption(f"Grad-CAM needs the model set that made this verdict ({plain_markdown(verdict.model_set)} "
                   f"{plain_markdown(verdict.model_version)}) to be the active one.")
        return
    names = list(verdict.class_names)
    left, right = st.columns([2, 1], vertical_alignment="bottom")
    chosen = left.selectbox("Explain class", names, index=names.index(verdict.top_class), key=f"gradcam-{key}")
    wanted = (verdict.image_sha256, verdict.model_fingerprint, chosen)
    if right.button("Show Grad-CAM", key=f"gradcam-button-{key}"):
        with GRADCAM_LOCK, inference_slots().slot(), st.spinner("Computing Grad-CAM…"):
            st.session_state.gradcam = (wanted, explain(inspector, pixels, chosen))
    stored = st.session_state.gradcam
    if stored and stored[0] == wanted:
        explanation = stored[1]
        st.image(overlay_heatmap(pixels, explanation.heatmap, 0.5), width="stretch",
                 caption=f"Grad-CAM for {chosen} (classifier's p = {explanation.probability:.3f}): red = most evidence")


def regions_ui(verdict: Verdict, inspector: Inspector | None, key: str) -> None:
    regions, left_out = shown_regions(verdict, inspector)
    if not regions:
        st.caption("No defect regions" + (f" over the class minimum area ({left_out} smaller)." if left_out else "."))
        return
    table = region_table(replace(verdict, regions=tuple(regions)))
    pages = -(-len(table) // REGION_PAGE)
    page = st.number_input(f"Page (of {pages})", 1, pages, 1, key=f"regions-page-{key}") if pages > 1 else 1
    st.dataframe(table.iloc[(page - 1) * REGION_PAGE: page * REGION_PAGE], hide_index=True)
    st.caption(f"{len(regions)} regions, largest first" + (f"; {left_out} under the class minimum area left out"
                                                           if left_out else ""))


def verdict_details(verdict: Verdict, pixels: np.ndarray, inspector: Inspector | None, log: ReviewLog,
                    key: str) -> None:
    """Below the decision: what an inspector reads only when the picture is not enough.

    Only the open tab is drawn (a tab switch reruns the screen): every sheet shown would otherwise build and send
    the regions and history tables and the Grad-CAM controls too, and the browser, on the same CPU as the engine
    by the line, would draw them hidden before the inspector can act."""
    tabs = st.tabs(["Probabilities", "Regions", "Grad-CAM", "History", "Model"], key=f"details-tabs-{key}",
                   on_change="rerun")
    draws = (lambda: _probabilities(verdict, inspector), lambda: regions_ui(verdict, inspector, key),
             lambda: gradcam_ui(verdict, pixels, inspector, key), lambda: _history(log, verdict),
             lambda: _made_by(verdict))
    for tab, draw in zip(tabs, draws, strict=True):
        if tab.open:
            with tab:
                draw()


def _history(log: ReviewLog, verdict: Verdict) -> None:
    reviews = log.reviews_of(verdict.image_sha256)
    if reviews:
        st.dataframe(history_table(reviews), hide_index=True)
    else:
        st.caption("Nobody has decided this sheet yet.")


def _made_by(verdict: Verdict) -> None:
    timings = " · ".join(f"{k} {v:.0f} ms" for k, v in verdict.timings_ms.items())
    st.caption(plain_markdown(f"Model set {verdict.model_set} {verdict.model_version} ({verdict.model_fingerprint}) "
                              f"on {verdict.device} · inspected {verdict.created_at} · {timings}"))


def _probabilities(verdict: Verdict, inspector: Inspector | None) -> None:
    st.dataframe(probability_table(verdict), hide_index=True, column_config={
        "probability": st.column_config.ProgressColumn("probability", min_value=0.0, max_value=1.0, format="%.3f"),
        "margin": st.column_config.NumberColumn(
            "margin to threshold", help="how far the probability is from the class threshold: small = uncertain")})
    if inspector is not None and inspector.card.class_scores == "head+mask":
        st.caption("Each probability is the mean of the classifier's and the defect mask's (its strongest 5x5-pixel "
                   "spot): this model set decides from both.")
    if verdict.ood_score is not None and not verdict.out_of_domain:  # out of domain: a warning above the picture
        st.caption(domain_message(verdict.ood_score, False))


__all__ = ["PICTURE_PX", "PICTURE_WITH_FORM_PX", "verdict_badge", "verdict_details", "verdict_notes",
           "verdict_picture"]
