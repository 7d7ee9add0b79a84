"""AppTest helpers for pages whose batches are inspected in a background thread (ui.batch_view)."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from ui.batch_view import _jobs


def settle(app: AppTest, timeout: float = 180) -> AppTest:
    """Wait for every background batch job, then redraw the page (as the progress fragment would)."""
    for jobs in list(_jobs().values()):
        for job in jobs:
            assert job.finished.wait(timeout), "a batch job did not finish"
    app.run()
    return app


def sheet_picker(app: AppTest, page: str = "inspect"):
    """The sheet list of a decision screen (its key carries the sheet shown), or None when no sheet is shown."""
    found = [s for s in app.selectbox if s.key and s.key.startswith(f"{page}-sheet-pick-")]
    return found[0] if found else None
