"""One verdict on screen (overlay, Grad-CAM, probabilities, regions) and the inspector's decision."""

from __future__ import annotations

import numpy as np
import streamlit as st

from core.contract.verdict import Verdict
from core.engine.domain import domain_message
from core.engine.explain import explain
from core.engine.inference import Inspector
from core.imaging.render import draw_regions, overlay_heatmap, overlay_masks
from core.modelsets.modelset import PALETTE
from core.review.store import Decision, DecisionError, ReviewLog
from core.review.tables import history_table, probability_table, region_table, regions_to_label, verdict_headline
from ui.engine import GRADCAM_LOCK, inference_slots, model_banner
from ui.markup import swatch_html
from ui.mask_editor import mask_editor, painted_so_far


def legend(names, colors) -> None:
    st.markdown(" ".join(swatch_html(n, c) for n, c in zip(names, colors, strict=True)), unsafe_allow_html=True)


def overlay_ui(verdict: Verdict, pixels: np.ndarray, colors: list[str]) -> None:
    names = list(verdict.class_names)
    left, right = st.columns([1, 3])
    opacity = left.slider("Mask opacity", 0.0, 1.0, 0.45, 0.05, key="overlay_opacity")
    with right:
        shown = st.pills("Classes shown", names, selection_mode="multi", default=names,
                         key=f"shown-{'|'.join(names)}")
        legend(names, colors)
    visible = [name in shown for name in names]
    picture = overlay_masks(pixels, verdict.masks, colors, opacity, True, visible)
    labelled = regions_to_label([r for r in verdict.regions if visible[r.class_index]])
    hidden = sum(visible[r.class_index] for r in verdict.regions) - len(labelled)
    caption = f"{verdict.image_name} · {verdict.width}×{verdict.height}"
    if hidden:
        caption += f" · boxes on the {len(labelled)} largest regions ({hidden} smaller not boxed)"
    st.image(draw_regions(picture, labelled, colors), width="stretch", caption=caption)


def gradcam_ui(verdict: Verdict, pixels: np.ndarray, inspector: Inspector | None) -> None:
    if inspector is None or inspector.card.fingerprint != verdict.model_fingerprint:
        st.caption(f"Grad-CAM needs the model set that made this verdict ({verdict.model_set} "
                   f"{verdict.model_version}) to be the active one.")
        return
    names = list(verdict.class_names)
    left, right = st.columns([2, 1], vertical_alignment="bottom")
    chosen = left.selectbox("Explain class", names, index=names.index(verdict.top_class), key="gradcam_class")
    key = (verdict.image_sha256, verdict.model_fingerprint, chosen)
    if right.button("Show Grad-CAM", key="gradcam_button"):
        with GRADCAM_LOCK, inference_slots().slot(), st.spinner("Computing Grad-CAM…"):
            st.session_state.gradcam = (key, explain(inspector, pixels, chosen))
    stored = st.session_state.gradcam
    if stored and stored[0] == key:
        explanation = stored[1]
        st.image(overlay_heatmap(pixels, explanation.heatmap, 0.5), width="stretch",
                 caption=f"Grad-CAM for {chosen} (p = {explanation.probability:.3f}): red = most evidence")


def verdict_colors(verdict: Verdict, inspector: Inspector | None) -> list[str]:
    if inspector is not None and inspector.card.class_names == verdict.class_names:
        return [c.color for c in inspector.card.classes]
    return [PALETTE[i % len(PALETTE)] for i in range(len(verdict.class_names))]


def verdict_picture(verdict: Verdict, pixels: np.ndarray, inspector: Inspector | None) -> None:
    """The headline, the untrained warning and the overlay: what an inspector looks at first."""
    st.badge(verdict_headline(verdict), color="red" if verdict.defective else "green",
             icon=":material/warning:" if verdict.defective else ":material/check_circle:")
    if verdict.out_of_domain:
        st.warning(domain_message(verdict.ood_score, True), icon=":material/help:")
    elif verdict.ood_score is not None:
        st.caption(domain_message(verdict.ood_score, False))
    made_by_active = inspector is not None and inspector.card.fingerprint == verdict.model_fingerprint
    if not verdict.model_trained and not made_by_active:  # the active set's own banner already warns
        st.warning(f"Made by the untrained model set {verdict.model_set}: a demonstration, not a verdict.")
    overlay_ui(verdict, pixels, verdict_colors(verdict, inspector))


def verdict_details(verdict: Verdict, pixels: np.ndarray, inspector: Inspector | None) -> None:
    """Probabilities, regions, Grad-CAM on demand, and where the verdict came from."""
    left, right = st.columns(2)
    with left:
        st.markdown("**Probabilities**")
        st.dataframe(probability_table(verdict), hide_index=True, column_config={
            "probability": st.column_config.ProgressColumn("probability", min_value=0.0, max_value=1.0,
                                                           format="%.3f")})
    with right:
        st.markdown("**Defect regions** (pixels)")
        regions = region_table(verdict)
        if regions.empty:
            st.caption("No defect regions.")
        else:
            st.dataframe(regions, hide_index=True)
    st.markdown("**Grad-CAM: where the classifier looked**")
    gradcam_ui(verdict, pixels, inspector)
    timings = " · ".join(f"{k} {v:.0f} ms" for k, v in verdict.timings_ms.items())
    st.caption(f"Model set {verdict.model_set} {verdict.model_version} ({verdict.model_fingerprint}) on "
               f"{verdict.device} · inspected {verdict.created_at} · {timings}")


def decision_ui(verdict: Verdict, key: str, pixels: np.ndarray | None = None,
                colors: list[str] | None = None) -> Decision | None:
    """Accept in one click; override with classes and a reason; with the sheet's pixels, masks can be painted
    first and go with either. Returns the decision, or None."""
    names = list(verdict.class_names)
    masks = None
    if pixels is not None:  # outside the override form: a custom component cannot live in an st.form
        # Tracked open state: it stays open across the reruns painting causes, and sends the strip only when open.
        panel = st.expander("Edit masks", key=f"masks-open-{key}", on_change="rerun")
        if panel.open:
            with panel:
                masks = mask_editor(pixels, verdict.mask_rles(), names, colors or list(PALETTE), key=f"masks-{key}")
        else:
            masks = painted_so_far(f"masks-{key}")
    accept_col, override_col = st.columns([1, 2])
    with accept_col:
        st.markdown("**The model is right**")
        accept = st.button(f"Accept: {verdict_headline(verdict)}", type="primary", key=f"accept-{key}")
    with override_col, st.form(f"override-{key}", clear_on_submit=True):
        st.markdown("**The model is wrong**")
        classes = st.multiselect("Classes actually present", names, default=list(verdict.classes_present),
                                 key=f"classes-{key}")
        reason = st.text_input("Reason (required)", key=f"reason-{key}", placeholder="what the model got wrong")
        left, right = st.columns(2)
        override = left.form_submit_button("Override with these classes")
        defect_free = right.form_submit_button("Override: defect-free")
    try:
        if accept:
            return Decision.accept(verdict, masks)
        if defect_free:
            return Decision.defect_free(verdict, reason, masks)
        if override:
            return Decision.override(verdict, classes, reason, masks)
    except DecisionError as exc:
        st.error(str(exc))
    return None


def record_decision(log: ReviewLog, inference_id: int, decision: Decision, page: str, reviewer: str) -> bool:
    """Append the decision under the signed-in user's name (never a typed one)."""
    try:
        log.add_review(inference_id, reviewer, decision, page=page)
    except DecisionError as exc:
        st.error(str(exc))
        return False
    label = ", ".join(decision.classes) or "defect-free"
    st.toast(f"Recorded: {decision.kind} ({label})", icon=":material/check_circle:")
    return True


def history_ui(log: ReviewLog, sha256: str) -> None:
    reviews = log.reviews_of(sha256)
    if reviews:
        latest = reviews[-1]
        st.success(f"Reviewed: **{', '.join(latest.classes) or 'defect-free'}** ({latest.decision} by "
                   f"{latest.reviewer}). A new decision is added to the history; nothing is overwritten.")
        with st.expander(f"Review history ({len(reviews)})"):
            st.dataframe(history_table(reviews), hide_index=True)


__all__ = ["decision_ui", "history_ui", "model_banner", "record_decision", "verdict_details", "verdict_picture"]
