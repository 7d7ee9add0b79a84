"""Warm the Statistics page in the background when someone who may open it signs in.

A server's first Statistics open took about 4 s with 10,000 reviewed sheets (benchmarks/bench_statistics.py): 2.7 s
of it importing pandas and plotly, the rest reading the log's frames and building the first figures. Every later
open is served from the caches in ui.stats_view in about 1 s. So the first supervisor or admin to sign in starts one
thread per server process that does that work while they are still on another page. Inspectors never start it: it
would take CPU from the engine while they wait for a verdict.

The browser has its own first-open cost: Streamlit loads each element's script on its first use in a tab, and
Plotly's is 4.7 MB (fetched 0.7 s after the click in a cold open, then compiled). `preload_chart_scripts` draws, once
per browser session and hidden, one chart and one of each other element the page uses, once the warm-up has imported
plotly, so those scripts load while the supervisor reads another page.
"""

from __future__ import annotations

import logging
import threading

import streamlit as st
from streamlit.runtime.scriptrunner import add_script_run_ctx, get_script_run_ctx

from core.contract.settings import load_settings

_claimed = threading.Lock()  # taken for good by the first caller: once per server process
_imported = threading.Event()  # set once the warm-up has imported the page's modules (plotly, pandas) completely
_failed = threading.Event()  # the warm-up failed: nothing to preload (the page does its own work when opened)
_log = logging.getLogger(__name__)


def warm_statistics() -> threading.Thread | None:
    """Start the warm-up unless this process has already started it; returns the thread it started, if any.
    Called on every rerun of a supervisor's page, so everything but the lock test happens in the thread."""
    if not _claimed.acquire(blocking=False):
        return None
    thread = threading.Thread(target=_warm, name="steelscan-warm-statistics", daemon=True)
    # The caches it fills (st.cache_resource, st.cache_data) want a script context; the page's is lent, and the
    # warm-up writes nothing to the page.
    add_script_run_ctx(thread, get_script_run_ctx())
    thread.start()
    return thread


def _warm() -> None:
    try:
        from ui import stats_view

        _imported.set()  # a module that is in sys.modules may still be half-imported: this says it is whole
        stats_view.warm(load_settings())
    except Exception:  # noqa: BLE001  (nothing waits on it: the page itself reports a broken log when opened)
        _failed.set()
        _log.exception("warming the Statistics page failed; its first open will do the work itself")


PRELOAD_KEY = "statistics-scripts-preload"  # the container's CSS class (st-key-...), hidden by PRELOAD_CSS
PRELOAD_CSS = f"<style>.st-key-{PRELOAD_KEY} {{display: none}}</style>"
PRELOAD_POLL_S = 1.0  # the fragment's tick until it has drawn; it stops at the page's next full run


def preload_chart_scripts() -> None:
    """Once per browser session, have the browser load the scripts of the elements the Statistics page uses (a
    Plotly chart, a metric, a date range, a segmented control) before the page is opened, by drawing one of each,
    hidden. A small fragment waits until the warm-up thread has imported plotly (so the page a supervisor sees is
    never held up by that import), draws them once, and draws nothing after that: the scripts stay loaded in the
    tab, and the next full run no longer starts the fragment."""
    if st.session_state.get(PRELOAD_KEY):
        return
    with st.sidebar:
        st.fragment(_draw_when_plotly_is_in, run_every=PRELOAD_POLL_S)()


def _draw_when_plotly_is_in() -> None:
    if st.session_state.get(PRELOAD_KEY) or not (_imported.is_set() or _failed.is_set()):
        return
    st.session_state[PRELOAD_KEY] = True  # drawn, or given up: the next full run does not start the fragment
    if not _imported.is_set():
        return
    import plotly.graph_objects as go

    st.html(PRELOAD_CSS)
    with st.container(key=PRELOAD_KEY, height=1, border=False):
        st.plotly_chart(go.Figure(), key=f"{PRELOAD_KEY}-chart")
        st.metric("preload", 0)
        st.date_input("preload dates", (), key=f"{PRELOAD_KEY}-dates", label_visibility="collapsed")
        st.segmented_control("preload", ["a"], key=f"{PRELOAD_KEY}-segments", label_visibility="collapsed")
