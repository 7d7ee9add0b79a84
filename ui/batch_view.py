"""A long run (a batch upload, a folder) with a progress bar and a Stop button.

Stop works the Streamlit way: the click reruns the script, which ends the loop; the items
finished so far were already recorded and handed to `on_item`, so nothing is lost.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import streamlit as st

from core.engine.inference import Inspector
from core.review.batch import BatchItem, Source, inspect_and_record
from core.review.store import ReviewLog
from ui.engine import inference_slots


def request_stop() -> None:
    st.session_state.stop_requested = True


def clear_stop() -> None:
    st.session_state.stop_requested = False


def run_batch(inspector: Inspector, log: ReviewLog, sources: Sequence[Source], band: float, origin: str,
              on_item: Callable[[int, BatchItem], None]) -> None:
    total = len(sources)
    slots = inference_slots()
    ahead = slots.waiting + slots.running
    busy = f" (waiting behind {ahead} other run(s))" if slots.running >= slots.concurrency else ""
    bar = st.progress(0.0, text=f"Inspecting {total} image{'s' if total != 1 else ''}…{busy}")
    stop_slot = st.empty()
    stop_slot.button("Stop", key=f"stop-{origin}", on_click=request_stop, icon=":material/stop_circle:")
    results = inspect_and_record(inspector, log, sources, band, origin,
                                 should_stop=lambda: st.session_state.stop_requested, slots=slots)
    for index, item in enumerate(results):
        on_item(index, item)
        bar.progress((index + 1) / total, text=f"{index + 1} of {total} inspected · {item.name}")
    bar.empty()
    stop_slot.empty()
