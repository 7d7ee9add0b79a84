"""Inspect: upload sheets or open a folder as a batch, then decide each sheet from one screen (keyboard first).

The batch lives in the review log, so it is back after a reload, another page or a restart; images are inspected
in the background and appear as they finish.
"""

import streamlit as st

from ui import auth, engine, state
from ui.batch_banner import domain_banner
from ui.batch_view import LIVE_EVERY_S, jobs_of, overview_ui, progress_ui
from ui.layout import compact
from ui.sheet_screen import fragment as sheet_screen
from ui.sources import COLLAPSE_SOURCES, SOURCES_PANEL, folder_ui, upload_ui

settings, log = state.settings(), state.review_log()
band = settings.uncertainty_band
compact()
user = auth.page_header("Inspect", "inspect")
inspector = engine.active_inspector()
if inspector is None:
    st.stop()
with st.sidebar:
    engine.model_banner(inspector)

batch = log.current_batch(user.username)
if st.session_state.pop(COLLAPSE_SOURCES, False):  # a batch just started: the decision area needs the room
    st.session_state[SOURCES_PANEL] = False
with st.expander("Add images: upload or open a folder", expanded=batch is None or not batch.items,
                 icon=":material/add_photo_alternate:", key=SOURCES_PANEL, on_change="rerun"):
    mode = st.segmented_control("Images from", ["Upload", "Folder"], default="Upload", key="inspect_mode")
    if mode == "Folder":
        folder_ui(inspector, log, band, settings, user.username)
    else:
        upload_ui(inspector, log, band, settings.max_upload_bytes, user.username)
batch = log.current_batch(user.username)  # a new upload or folder may have opened one just now
shown = batch is not None and bool(batch.items)
progress_ui(user.username, batch.id if batch else None, shown)
if not shown:
    st.info("Upload sheet images (or open a folder) above: each verdict shows here as soon as it is ready.")
    st.stop()


def batch_order() -> list[int]:
    current = log.current_batch(user.username)
    return [item.inference_id for item in current.items] if current else []


domain_banner(log, [item.inference_id for item in batch.items], band)  # most out of domain: say so first
running = any(job.running for job in jobs_of(user.username, batch.id))  # the list still grows: counts stay live
sheet_screen(log, inspector, batch_order, band, user.username, "inspect", live_every=LIVE_EVERY_S if running else None,
             below=lambda: overview_ui(log, batch, batch_order, band, "inspect", inspector.card.name))
