"""Warm the Statistics page in the background when someone who may open it signs in.

A server's first Statistics open took about 4 s with 10,000 reviewed sheets (benchmarks/bench_statistics.py): 2.7 s
of it importing pandas and plotly, the rest reading the log's frames and building the first figures. Every later
open is served from the caches in ui.stats_view in about 1 s. So the first supervisor or admin to sign in starts one
thread per server process that does that work while they are still on another page. Inspectors never start it: it
would take CPU from the engine while they wait for a verdict.
"""

from __future__ import annotations

import logging
import threading

from streamlit.runtime.scriptrunner import add_script_run_ctx, get_script_run_ctx

from core.contract.settings import load_settings

_claimed = threading.Lock()  # taken for good by the first caller: once per server process
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

        stats_view.warm(load_settings())
    except Exception:  # noqa: BLE001  (nothing waits on it: the page itself reports a broken log when opened)
        _log.exception("warming the Statistics page failed; its first open will do the work itself")
