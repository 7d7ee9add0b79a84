"""Review queue: the sheets the model flags (defective or uncertain) wait here for a person."""

import pandas as pd
import streamlit as st

from core.review.queue import ORDERS, claim_next, upcoming, waiting
from ui import auth, engine, line, state
from ui.verdict_view import decision_ui, record_decision, verdict_details, verdict_picture

settings, log = state.settings(), state.review_log()
band = settings.uncertainty_band
user = auth.page_header("Review queue", "review")
inspector = engine.active_inspector()  # for colours and Grad-CAM; the queue works without one
if inspector is not None:
    engine.model_banner(inspector)

left, right = st.columns([2, 1], vertical_alignment="bottom")
order = left.segmented_control("Order", list(ORDERS), format_func=ORDERS.get, default="uncertain",
                               key="queue_order") or "uncertain"
count = waiting(log, band)
with right:
    line.live_status(log, band, count)  # refreshes itself every few seconds while the page is open
st.caption(f"Flagged = the model calls the sheet defective, or a class probability lies within {band:.2f} "
           "of its threshold (uncertainty_band in settings). A sheet leaves the queue with its first decision.")

claims = state.queue_claims()
item, taken = claim_next(log, claims, user.username, band, order, skipped=st.session_state.queue_skipped)
st.session_state.queue_showing, st.session_state.queue_others_hold = item is not None, bool(taken)
if item is None:
    if taken:
        st.info(f"{len(taken)} waiting sheet{'s are' if len(taken) != 1 else ' is'} open with another reviewer "
                f"right now; {'they come' if len(taken) != 1 else 'it comes'} back here if not decided within "
                f"{state.QUEUE_CLAIM_SECONDS / 60:.0f} minutes.")
    if count and st.session_state.queue_skipped:
        st.info(f"You skipped the {count} sheet{'s' * (count != 1)} still waiting.")
        st.button("Show skipped sheets again", on_click=lambda: st.session_state.update(queue_skipped=[]))
    elif not taken:
        st.success("The queue is empty: every flagged sheet has been reviewed.")
    st.stop()

verdict = log.verdict(item.inference_id)
pixels = engine.stored_pixels(str(log.image_path(item.image_sha256)))
st.subheader(f"{item.image_name}")
st.caption("Why it is here: " + "; ".join(item.reasons) + f" · inspected {item.inspected_at:%Y-%m-%d %H:%M} UTC")
verdict_picture(verdict, pixels, inspector)
decision = decision_ui(verdict, key=f"queue-{item.inference_id}")
if decision and record_decision(log, item.inference_id, decision, "queue", user.username):
    claims.release(user.username)
    st.rerun()  # the decided sheet has left the queue: the next one shows
if st.button("Skip for now", key=f"skip-{item.inference_id}", icon=":material/skip_next:"):
    st.session_state.queue_skipped = [*st.session_state.queue_skipped, item.inference_id]
    claims.release(user.username)
    st.rerun()
verdict_details(verdict, pixels, inspector)

with st.expander("Next in the queue"):
    following = upcoming(log, band, order, limit=20)
    st.dataframe(pd.DataFrame([(i.image_name, "defective" if i.defective else "uncertain", round(i.margin, 3),
                                i.inspected_at) for i in following],
                              columns=["sheet", "flag", "margin", "inspected (UTC)"]), hide_index=True)
