"""Where the Inspect page's images come from: uploads, or a folder browsed as paged thumbnails."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from core.contract.errors import ImageError, SteelScanError
from core.engine.inference import Inspector
from core.imaging.imageio import load_image
from core.review.batch import (
    BatchItem,
    check_upload_size,
    folder_images,
    folder_status,
    hash_files,
    subfolders,
    upload_name,
)
from core.review.store import ReviewLog
from ui.batch_view import clear_stop, run_batch

UPLOAD_TYPES = ("JPEG", "PNG", "BMP", "TIFF")
PAGE_SIZE = 12
FILTERS = ("All", "Not yet reviewed", "Flagged")


def upload_ui(inspector: Inspector, log: ReviewLog, band: float, max_bytes: int) -> list[BatchItem]:
    # No `type=` filter: Streamlit enforces it by raising inside the session (a crafted .gif upload would end
    # the run with an exception); SteelScan's decoder refuses every unsupported file with its own one-line error.
    files = st.file_uploader(f"Sheet images (one or many: {', '.join(UPLOAD_TYPES)})", accept_multiple_files=True,
                             key="uploads") or []
    results: dict = st.session_state.upload_results
    ids = tuple(f.file_id for f in files)
    if ids != st.session_state.upload_ids:  # a new selection: a past Stop no longer applies
        st.session_state.upload_ids = ids
        clear_stop()
    for f in files:  # over the size limit: refused before a byte is decoded or stored
        try:
            check_upload_size(upload_name(f.name), f.size, max_bytes)
        except ImageError as exc:
            results.setdefault(f.file_id, BatchItem(upload_name(f.name), error=str(exc)))
    new = [f for f in files if f.file_id not in results]
    if new and not st.session_state.stop_requested:
        def keep(index: int, item: BatchItem) -> None:
            results[new[index].file_id] = item
            if item.inference_id and st.session_state.selected_inference is None:
                st.session_state.selected_inference = item.inference_id
        run_batch(inspector, log, [(f.getvalue(), upload_name(f.name)) for f in new], band, "upload", keep)
    elif new:
        st.warning(f"Stopped: {len(new)} of {len(files)} images not inspected yet.")
        st.button("Inspect the rest", on_click=clear_stop)
    return [results[f.file_id] for f in files if f.file_id in results]


@st.cache_data(max_entries=8, show_spinner="Hashing the folder's images…")
def _hashes(signature: tuple[tuple[str, float, int], ...]) -> dict[str, str]:
    return {str(p): sha for p, sha in hash_files([Path(s[0]) for s in signature]).items()}


@st.cache_data(max_entries=256, show_spinner=False)
def _thumbnail(path: str, mtime: float, width: int = 360) -> np.ndarray:
    pixels = load_image(path).pixels
    step = max(1, pixels.shape[1] // width)  # integer subsampling: fast and enough for a thumbnail
    return np.ascontiguousarray(pixels[::step, ::step])


def folder_ui(inspector: Inspector, log: ReviewLog, band: float, settings) -> None:
    """Only folders under the configured image_roots: a root and one of its subfolders are picked, never typed."""
    roots = [str(r) for r in settings.image_roots]
    if not roots:
        st.info("Folder mode is off: no image folders are configured. An operator lists them in `image_roots` "
                "(steelscan.toml or STEELSCAN_IMAGE_ROOTS); until then, upload images instead.")
        return
    left, right = st.columns(2)
    root = left.selectbox("Image folder", roots, key="folder_root")
    inside = subfolders(root)
    choice = right.selectbox("Subfolder", ["(all of it)"] + [p.name for p in inside], key="folder_sub")
    folder = root if choice == "(all of it)" else str(Path(root) / choice)
    try:
        listing = folder_images(folder, roots, settings.folder_max_files, settings.folder_max_seconds)
    except SteelScanError as exc:
        st.error(str(exc))
        return
    files = listing.files
    st.caption(f"Folder: {listing.folder}")
    if listing.stopped:
        st.warning(f"{listing.folder}: {listing.stopped}.")
    if not files:
        st.info(f"{folder} holds no JPEG, PNG, BMP or TIFF images.")
        return
    stats = [(str(p), p.stat().st_mtime, p.stat().st_size) for p in files]
    hashes = {Path(k): v for k, v in _hashes(tuple(stats)).items()}
    status = folder_status(log, files, hashes, band)
    todo = status[~status["inspected"]]
    left, right = st.columns([3, 2], vertical_alignment="bottom")
    left.caption(f"{len(files)} images · {int(status['inspected'].sum())} inspected · "
                 f"{int(status['flagged'].sum())} flagged · {int(status['reviewed'].sum())} reviewed")
    if not todo.empty and right.button(f"Inspect {len(todo)} new image{'s' * (len(todo) != 1)}", type="primary"):
        clear_stop()
        run_batch(inspector, log, list(todo["path"]), band, "folder", lambda i, item: None)
        st.rerun()
    shown = _filtered(status, st.segmented_control("Show", FILTERS, default="All", key="folder_filter"))
    pages = max(1, -(-len(shown) // PAGE_SIZE))
    page = st.number_input(f"Page (of {pages})", 1, pages, 1, key="folder_page") if pages > 1 else 1
    grid = st.columns(3)
    for i, row in enumerate(shown.iloc[(page - 1) * PAGE_SIZE: page * PAGE_SIZE].itertuples()):
        with grid[i % 3]:
            st.image(_thumbnail(str(row.path), row.path.stat().st_mtime), width="stretch")
            mark = "✓ reviewed" if row.reviewed else ("⚑ flagged" if row.flagged else
                                                       ("inspected" if row.inspected else "not inspected"))
            st.caption(f"{row.name} · {mark}")
            if row.inspected and st.button("Open", key=f"open-{row.sha256}"):
                st.session_state.selected_inference = int(row.inference_id)


def _filtered(status: pd.DataFrame, choice: str | None) -> pd.DataFrame:
    if choice == "Not yet reviewed":
        return status[~status["reviewed"]]
    if choice == "Flagged":
        return status[status["flagged"] & ~status["reviewed"]]
    return status
