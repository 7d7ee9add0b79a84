"""Review queue: the sheets the model flags (defective or uncertain), and a few an hour that teach it (out of domain,
unusual, unlike anything reviewed), wait here for a person, one at a time; each says why it is here."""

import pandas as pd
import streamlit as st

from core.review.queue import ORDERS, QueueCounts, claim_next, queue_counts, upcoming, waiting
from ui import auth, engine, line, state
from ui.layout import compact
from ui.sheet_screen import fragment as sheet_screen

settings, log = state.settings(), state.review_log()
band = settings.uncertainty_band
compact()
user = auth.page_header("Review queue", "review")
inspector = engine.active_inspector()  # for colours and Grad-CAM; the queue works without one
if inspector is not None:
    with st.sidebar:
        engine.model_banner(inspector)

left, right = st.columns([2, 1], vertical_alignment="bottom")
order = left.segmented_control("Order", list(ORDERS), format_func=ORDERS.get, default="uncertain",
                               key="queue_order") or "uncertain"
count = waiting(log, band)
with right:
    line.live_status(log, band, count)  # refreshes itself every few seconds while the page is open
claims = state.queue_claims()
counted: dict[str, QueueCounts] = {}  # this run's counters: one read, shown beside the sheet or instead of it


def claimed() -> list[int]:
    """The sheet this reviewer holds now (claimed afresh on every run, so two reviewers never share one), and the
    queue's counters read once beside it (issue 37 item 12: they add up, and agree with the list below)."""
    skipped = st.session_state.queue_skipped
    item, taken = claim_next(log, claims, user.username, band, order, skipped=skipped)
    counts = counted["now"] = queue_counts(log, band, item.inference_id if item else None, taken, skipped)
    st.session_state.queue_showing, st.session_state.queue_others_hold = item is not None, bool(counts.held_by_others)
    if item is not None:
        st.caption("Why it is here: " + "; ".join(item.reasons) + f" · inspected {item.inspected_at:%Y-%m-%d %H:%M}"
                   " UTC")
        return [item.inference_id]
    st.caption(counts.line())
    held = counts.held_by_others
    if held:
        st.info(f"{held} waiting sheet{'s are' if held != 1 else ' is'} open with another reviewer "
                f"right now; {'they come' if held != 1 else 'it comes'} back here if not decided within "
                f"{state.QUEUE_CLAIM_SECONDS / 60:.0f} minutes.")
    if counts.skipped:
        st.info(f"You skipped the {counts.skipped} sheet{'s' * (counts.skipped != 1)} still waiting.")
    if skipped:
        st.button("Show skipped sheets again", on_click=lambda: st.session_state.update(queue_skipped=[]))
    if not counts.waiting:
        st.success("The queue is empty: every flagged sheet has been reviewed.")
    return []


def skip(inference_id: int) -> None:
    st.session_state.queue_skipped = [*st.session_state.queue_skipped, inference_id]
    claims.release(user.username)


sheet_screen(log, inspector, claimed, band, user.username, "queue",
             after=lambda: claims.release(user.username), on_skip=skip, counts_line=lambda: counted["now"].line())

with st.expander("Next in the queue (every waiting sheet, first 20)"):
    following = upcoming(log, band, order, limit=20)
    st.dataframe(pd.DataFrame([(i.image_name, "; ".join(i.reasons), round(i.margin, 3), i.inspected_at)
                               for i in following],
                              columns=["sheet", "why it is here", "uncertainty margin", "inspected (UTC)"]),
                 hide_index=True)
