"""Session defaults, settings, and the process-wide review log, and the queue's claims. No torch: the sign-in screen
imports only this, ui.auth and core.accounts, so it renders before the engine is ever loaded."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

import streamlit as st

from core.contract.errors import SteelScanError
from core.contract.settings import Settings, load_settings

if TYPE_CHECKING:  # the sign-in screen needs neither (nor pandas, which they load)
    from core.review.queue import Claims
    from core.review.store import ReviewLog

DEFAULTS: dict[str, object] = {
    "auth_token": None,  # this browser session's sign-in (core.accounts.auth stores only its hash)
    "upload_results": {},  # uploaded file id -> BatchItem
    "upload_ids": (),
    "folder_results": [],
    "stop_requested": False,
    "selected_inference": None,
    "queue_skipped": [],
    "gradcam": None,  # (key, heatmap) of the last explanation only: bounded memory
}
QUEUE_CLAIM_SECONDS = 120.0


def init_session() -> None:
    for key, value in DEFAULTS.items():
        if key not in st.session_state:
            st.session_state[key] = copy.copy(value)


def settings() -> Settings:
    try:
        return load_settings()
    except SteelScanError as exc:
        st.error(str(exc))
        st.stop()


@st.cache_resource(show_spinner=False)
def _review_log(database_url: str, image_store: str, line: str, sinks: tuple[str, ...], explore_per_hour: int = 0,
                band: float = 0.15) -> ReviewLog:
    from core.delivery.outbox import Outbox
    from core.review.store import ReviewLog
    from core.review.store.sampling import ExploreSampler

    log = ReviewLog(database_url, image_store, Outbox(line, sinks) if sinks else None)
    log.explore = ExploreSampler(explore_per_hour, band) if explore_per_hour > 0 else None
    return log


def cached_review_log(current: Settings) -> ReviewLog:
    """The process's review log for these settings (with the outbox for the sinks set: uploads and decisions
    made here are delivered too, and the queue's sampling of sheets that teach); raises SteelScanError (no page to
    show it on: ui.warmup)."""
    from core.delivery.outbox import Outbox

    outbox = Outbox.from_settings(current)
    return _review_log(current.database_url, str(current.image_store), current.line_name,
                       outbox.sinks if outbox else (), current.queue_explore_per_hour, current.uncertainty_band)


def review_log() -> ReviewLog:
    current = settings()
    try:
        log = cached_review_log(current)
        log.disk_guard.min_free_mb = current.min_free_disk_mb  # new records refused before the disk is full
        if current.prune_on_start:
            _pruned_at_start(log, current.database_url, current.retain_api_calls_days, current.retain_sign_in_days,
                             current.retain_sessions_days)
        return log
    except SteelScanError as exc:
        st.error(str(exc))
        st.stop()


@st.cache_resource(show_spinner=False)
def _pruned_at_start(_log: ReviewLog, database_url: str, *days: int) -> dict[str, int]:
    """prune_on_start: once per server process (and database), on the first page that opens the review log."""
    from core.review.store.retention import Retention, prune

    return prune(_log.engine, Retention(*days))


def queue_claims() -> Claims:
    """Which queue sheets other reviewers have open right now: held in the database, so shared by every session
    of every app server on it."""
    from core.review.queue import Claims

    return Claims(review_log(), QUEUE_CLAIM_SECONDS)
