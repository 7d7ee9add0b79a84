"""Warm the Statistics page in the background, so that even its first open on a new server is quick.

A server's first Statistics open took about 4 s with 10,000 reviewed sheets (benchmarks/bench_statistics.py): 2.7 s
of it importing pandas and plotly, the rest reading the log's frames and building the first figures. Every later
open is served from the caches in ui.stats_view in about 1 s. Two threads per server process do that work early:
- `import_chart_modules`, started by the first page anyone sees (the sign-in page, usually): imports the page's
  modules (a fraction of a second of one core, once per process, while someone types a password);
- `warm_statistics`, started when the first supervisor or admin signs in: reads the log's frames and computes the
  default view. Inspectors never start it: it would take CPU from the engine while they wait for a verdict.

The browser has its own first-open cost: Streamlit loads each element's script on its first use in a tab, and
Plotly's is 4.7 MB (fetched 0.7 s after the click in a cold open, then compiled). `preload_chart_scripts` draws, once
per browser session and hidden, one chart and one of each other element the page uses, once import_chart_modules has
imported plotly, so those scripts load while the supervisor reads another page.
"""

from __future__ import annotations

import logging
import threading

import streamlit as st
from streamlit.runtime.scriptrunner import add_script_run_ctx, get_script_run_ctx

from core.contract.settings import load_settings

_import_claimed = threading.Lock()  # each taken for good by its first caller: once per server process
_claimed = threading.Lock()
_imported = threading.Event()  # set once import_chart_modules has imported the page's modules (plotly, pandas) whole
_failed = threading.Event()  # the import or the warm-up failed: nothing to preload (the page does its own work)
_log = logging.getLogger(__name__)


def import_chart_modules() -> threading.Thread | None:
    """Start importing the Statistics page's modules unless this process has already started; returns the thread it
    started, if any. Cheap to call on every rerun of every page."""
    if not _import_claimed.acquire(blocking=False):
        return None
    thread = threading.Thread(target=_import, name="steelscan-import-statistics", daemon=True)
    thread.start()
    return thread


def _import() -> None:
    try:
        from ui import stats_view  # noqa: F401  (pandas, plotly and the page's own helpers)
    except Exception:  # noqa: BLE001  (the page reports a broken install itself when opened)
        _failed.set()
        _log.exception("importing the Statistics page's modules failed; its first open will try again")
    else:
        _imported.set()  # a module that is in sys.modules may still be half-imported: this says it is whole


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
        from ui import stats_view  # waits for import_chart_modules' import if that is under way

        stats_view.warm(load_settings())
    except Exception:  # noqa: BLE001  (nothing waits on it: the page itself reports a broken log when opened)
        _failed.set()
        _log.exception("warming the Statistics page failed; its first open will do the work itself")


PRELOAD_KEY = "statistics-scripts-preload"  # the container's CSS class (st-key-...), hidden by PRELOAD_CSS
PRELOAD_CSS = f"<style>.st-key-{PRELOAD_KEY} {{display: none}}</style>"
PRELOAD_POLL_S = 0.25  # the fragment's tick until it has drawn (a lock test); it stops at the next full run


def preload_chart_scripts() -> None:
    """Once per browser session, have the browser load the scripts of the elements the Statistics page uses (a
    Plotly chart, a metric, a date range, a segmented control) before the page is opened, by drawing one of each,
    hidden. Usually import_chart_modules has imported plotly while the password was typed, and they are drawn in
    this run. Otherwise a small fragment waits for the import (so the page a supervisor sees is never held up by
    it), draws them once, and draws nothing after that. Either way the scripts stay loaded in the tab, and the next
    full run draws nothing and starts no fragment (a ticking fragment costs a round trip a tick)."""
    if st.session_state.get(PRELOAD_KEY):
        return
    with st.sidebar:
        if _imported.is_set() or _failed.is_set():
            _draw_when_plotly_is_in()
        else:
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
