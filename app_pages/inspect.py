"""Inspect: upload sheets or browse a folder, see each verdict, accept or override it."""

import streamlit as st

from ui import auth, engine, state
from ui.sources import folder_ui, upload_ui
from ui.verdict_view import (
    decision_ui,
    history_ui,
    record_decision,
    verdict_colors,
    verdict_details,
    verdict_picture,
)

settings, log = state.settings(), state.review_log()
band = settings.uncertainty_band
user = auth.page_header("Inspect", "inspect")
inspector = engine.active_inspector()
if inspector is None:
    st.stop()
engine.model_banner(inspector)

mode = st.segmented_control("Images from", ["Upload", "Folder"], default="Upload", key="inspect_mode")
if mode == "Folder":
    folder_ui(inspector, log, band, settings)
    items = []
else:
    items = upload_ui(inspector, log, band, settings.max_upload_bytes)

failed = [item for item in items if item.error]
if failed:
    with st.expander(f"{len(failed)} image{'s' * (len(failed) != 1)} could not be inspected", expanded=True):
        for item in failed:
            st.error(item.error)

inspected = [item for item in items if item.inference_id]
if inspected:
    reviewed = log.reviewed_shas(item.image_sha256 for item in inspected)
    options = [item.inference_id for item in inspected]
    names = {item.inference_id: (f"{'✓' if item.image_sha256 in reviewed else '•'} {item.name} — {item.label}"
                                 f"{': ' + ', '.join(item.classes) if item.classes else ''}"
                                 f"{' · flagged' if item.flagged else ''}") for item in inspected}
    if st.session_state.selected_inference not in options:
        waiting = [item.inference_id for item in inspected if item.image_sha256 not in reviewed]
        st.session_state.selected_inference = (waiting or options)[0]
    st.caption(f"{len(inspected)} inspected · {len(reviewed)} reviewed · {len(inspected) - len(reviewed)} to decide")
    st.session_state.selected_inference = st.selectbox(
        "Sheet", options, index=options.index(st.session_state.selected_inference), format_func=names.get)

selected = st.session_state.selected_inference
if selected is None:
    st.info("Upload sheet images above (or switch to a folder) to see their verdicts.")
    st.stop()

verdict = log.verdict(selected)
sha256, _ = log.inference_image(selected)
pixels = engine.stored_pixels(str(log.image_path(sha256)))
st.subheader(verdict.image_name)
verdict_picture(verdict, pixels, inspector)
history_ui(log, sha256)
decision = decision_ui(verdict, key=str(selected), pixels=pixels, colors=verdict_colors(verdict, inspector))
if decision and record_decision(log, selected, decision, "inspect", user.username):
    # Move on to the next sheet of this batch nobody has decided yet.
    reviewed = log.reviewed_shas(item.image_sha256 for item in inspected)
    after = [i.inference_id for i in inspected if i.image_sha256 not in reviewed]
    st.session_state.selected_inference = after[0] if after else selected
    st.rerun()
verdict_details(verdict, pixels, inspector)
