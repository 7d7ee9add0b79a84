"""Where the Inspect page's images come from: uploads, or a folder under the configured image roots. Either way
they become the inspector's batch in the review log, inspected in the background (ui.batch_view)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from core.contract.errors import ImageError, SteelScanError
from core.engine.inference import Inspector
from core.review.batch import check_upload_size, folder_images, folder_status, hash_files, subfolders, upload_name
from core.review.store import ReviewLog
from ui.batch_view import error_summary, start_job
from ui.sheet_screen import select

UPLOAD_TYPES = ("JPEG", "PNG", "BMP", "TIFF")
SOURCES_PANEL = "inspect-sources"  # the Inspect page's "Add images" expander (its open state)
COLLAPSE_SOURCES = "inspect-collapse-sources"  # set when a batch starts: the page closes the panel on its next run


def _upload_batch(log: ReviewLog, owner: str, count: int) -> int:
    """This upload's batch: the one opened for this uploader while it is still the inspector's current batch
    (more files added to the same selection join it), else a new one."""
    mine = st.session_state.get("upload_batch")
    current = log.current_batch(owner)
    if mine is not None and current is not None and current.id == mine:
        return mine
    batch_id = log.open_batch(owner, "upload", f"upload of {count} image{'s' * (count != 1)}")
    st.session_state.upload_batch = batch_id
    select("inspect", None)
    return batch_id


def upload_ui(inspector: Inspector, log: ReviewLog, band: float, max_bytes: int, owner: str) -> None:
    # No `type=` filter: Streamlit enforces it by raising inside the session (a crafted .gif upload would end
    # the run with an exception); SteelScan's decoder refuses every unsupported file with its own one-line error.
    files = st.file_uploader(f"Sheet images (one or many: {', '.join(UPLOAD_TYPES)})", accept_multiple_files=True,
                             key="uploads") or []
    seen: set = st.session_state.setdefault("upload_seen", set())
    new = [f for f in files if f.file_id not in seen]
    if new:
        seen.update(f.file_id for f in new)
        accepted, st.session_state.upload_refused = [], []
        for f in new:  # over the size limit: refused before a byte is decoded or stored
            try:
                check_upload_size(upload_name(f.name), f.size, max_bytes)
                accepted.append(f)
            except ImageError as exc:
                st.session_state.upload_refused.append(str(exc))
        if accepted:
            batch_id = _upload_batch(log, owner, len(files))
            start_job(inspector, log, owner, batch_id, [(f.getvalue(), upload_name(f.name)) for f in accepted],
                      band, "upload")
            st.session_state[COLLAPSE_SOURCES] = True
            st.rerun()  # at once: the panel closes while the batch runs (the uploader's files are marked seen)
    error_summary(st.session_state.get("upload_refused", []), "refused")


@st.cache_data(max_entries=8, show_spinner="Hashing the folder's images…")
def _hashes(signature: tuple[tuple[str, float, int], ...]) -> dict[str, str]:
    return {str(p): sha for p, sha in hash_files([Path(s[0]) for s in signature]).items()}


def folder_ui(inspector: Inspector, log: ReviewLog, band: float, settings, owner: str) -> None:
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
    left.caption(f"{listing.folder}: {len(files)} images · {int(status['inspected'].sum())} inspected · "
                 f"{int(status['flagged'].sum())} flagged · {int(status['reviewed'].sum())} reviewed")
    label = f"Open as my batch ({len(todo)} to inspect)" if len(todo) else "Open as my batch"
    if right.button(label, type="primary", key="open-folder"):
        batch_id = log.open_batch(owner, "folder", str(listing.folder))
        for iid in status["inference_id"].dropna():  # known images join at once, in folder order
            log.add_to_batch(batch_id, int(iid))
        if len(todo):
            start_job(inspector, log, owner, batch_id, list(todo["path"]), band, "folder")
        st.session_state[COLLAPSE_SOURCES] = True
        select("inspect", None)
        st.rerun()
