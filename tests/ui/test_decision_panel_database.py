"""A decision the database cannot take (locked or full) says so and keeps the form (issue 34)."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import SAMPLES

STRIP = sorted((SAMPLES / "train_images").glob("*.jpg"))[0]


def page(verdict: dict, message: str) -> None:
    import streamlit as st
    from sqlalchemy.exc import OperationalError

    from core.contract.verdict import Verdict
    from ui.decision_panel import decision_panel

    def decide(_decision) -> None:
        st.session_state["tries"] = st.session_state.get("tries", 0) + 1
        raise OperationalError("INSERT INTO reviews", {}, Exception(message))

    decision_panel(Verdict.from_dict(verdict), None, "sheet-1", decide, lambda _where: None)


@pytest.mark.parametrize("message, kind", [("database is locked", "busy"), ("database or disk is full", "full")])
def test_a_busy_or_full_database_keeps_the_decision_in_the_form(tiny_inspector, message, kind):
    verdict = tiny_inspector.inspect(STRIP).to_dict()
    app = AppTest.from_function(page, args=(verdict, message), default_timeout=60).run()
    next(b for b in app.button if b.key == "open-form-sheet-1").click().run()
    next(b for b in app.button if b.key == "class-sheet-1-3").click().run()  # toggle patches: a real override
    reason = next(t for t in app.text_input if t.key == "reason-sheet-1")
    reason.input("seam weld, seen on the line")
    next(b for b in app.button if b.label == "Record (Enter)").click().run()
    assert not app.exception, app.exception[0].message if app.exception else ""
    assert app.session_state["tries"] == 1
    [error] = [e.value for e in app.error]
    assert error.startswith(f"Not recorded: the database is {kind} — your decision is kept in the form, try again")
    assert next(t for t in app.text_input if t.key == "reason-sheet-1").value == "seam weld, seen on the line"
    assert any(b.label == "Record (Enter)" for b in app.button)  # the form is still open ...
    chosen = [b.label for b in app.button if b.key.startswith("class-sheet-1-") and b.proto.type == "primary"]
    assert "patches" in chosen  # ... with the classes chosen
