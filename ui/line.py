"""The Review queue's live corner: the folder watchers' heartbeats and the delivery sinks, refreshed on a timer
(a fragment, so only this corner reruns), and a full rerun when new sheets arrive for an idle reviewer (the waiting
count itself is shown beside the sheet, read with the claim)."""

from __future__ import annotations

from datetime import timedelta

import streamlit as st

from core.delivery.status import sink_states
from core.line.heartbeat import heartbeats
from core.review.queue import waiting
from core.review.store import ReviewLog
from ui.state import settings

REFRESH_S = 10.0


def needs_full_rerun(showing_sheet: bool, others_hold: bool, count_then: int, count_now: int) -> bool:
    """An idle page (no sheet shown) reruns whole when the queue changed or another reviewer's claim may have
    lapsed; a page showing a sheet never does, so nobody loses a half-made decision."""
    return not showing_sheet and count_now > 0 and (count_now != count_then or others_hold)


def beat_line(beat: dict) -> str:
    state = "running" if beat["alive"] else f"**silent since {beat['updated_at']:%H:%M:%S} UTC**"
    last = (f"last image {beat['last_image'].rsplit('/', 1)[-1]} at {beat['last_image_at']:%H:%M:%S}"
            if beat["last_image_at"] else "no image yet")
    errors = f" · **{beat['errors']} errors** (last: {beat['last_error']})" if beat["errors"] else " · no errors"
    return (f"Watcher **{beat['name']}** {state} · {last} · {beat['rate_per_s']:.2f} images/s · "
            f"backlog {beat['backlog']} · {beat['inspected']} inspected{errors}")


def sink_line(sink: dict) -> str:
    """One sink of `steelscan deliver`: its state, backlog and last error (a backlog is a number, never silence)."""
    state = sink["state"] if sink["state"] == "ok" else f"**{sink['state']}**"
    if not sink["running"]:
        state += " (start `steelscan deliver`)"
    waiting_s = f" (oldest {sink['oldest_waiting_s']:.0f} s)" if sink["backlog"] and sink["oldest_waiting_s"] else ""
    last = (f"last delivered {sink['last_delivered_at']:%H:%M:%S}" if sink["last_delivered_at"]
            else "nothing delivered yet")
    error = (f" · last error {sink['last_error_at']:%H:%M:%S}: {sink['last_error']}"
             if sink["last_error"] and sink["state"] != "ok" else "")
    return f"Delivery **{sink['sink']}** {state} · backlog {sink['backlog']}{waiting_s} · {last}{error}"


def live_status(log: ReviewLog, band: float, count_then: int) -> None:
    st.session_state.queue_page_run = True
    _live_status(log, band, count_then)


@st.fragment(run_every=timedelta(seconds=REFRESH_S))
def _live_status(log: ReviewLog, band: float, count_then: int) -> None:
    # The waiting count itself is drawn beside the sheet (app_pages/review_queue.py), read with the claim in the same
    # run: a second counter here, refreshed on its own timer, disagreed with it after every decision (issue 37).
    count_now = waiting(log, band)
    for beat in heartbeats(log)[:3]:
        st.caption(beat_line(beat))
    for sink in sink_states(log, settings()):
        st.caption(sink_line(sink))
    if st.session_state.pop("queue_page_run", False):
        return  # drawn inside a run of the whole page: that run is already up to date
    showing = st.session_state.get("queue_showing", True)
    if needs_full_rerun(showing, st.session_state.get("queue_others_hold", False), count_then, count_now):
        st.rerun(scope="app")
