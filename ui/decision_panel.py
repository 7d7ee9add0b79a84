"""The inspector's decision on one sheet, keyboard first: every control shows its key on the button.

A accept (an out-of-domain sheet: A, then A again to confirm) · F defect-free (a false alarm) · O open the
override form (or "Change decision" on a decided sheet) ·
S skip · N/P next/previous sheet · in the form: 1-9 toggle a class, X/M/W/U record with a quick reason, Enter in
the reason box records, Esc closes. Single-key shortcuts are ignored while the focus is in a text box, so typing
a reason never fires Accept. Keys go through ui.keyboard: a press acts only on the sheet it was pressed on.

Everything happens in on_click callbacks: they run before the rerun, so a decision, the move to the next sheet
and the redraw cost one (fragment) rerun, and a refused form keeps its classes and reason (nothing is cleared
unless the decision was recorded).
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st
from sqlalchemy.exc import SQLAlchemyError

from core.contract.verdict import Verdict
from core.review.store import CurrentLabel, Decision, DecisionConflict, DecisionError, StoreError
from core.review.store.db import not_recorded_because
from ui.keyboard import keyboard

QUICK_REASONS = (("X", "false alarm"), ("M", "missed defect"), ("W", "wrong class"),
                 ("U", "unsure: needs a second look"))
Decide = Callable[[Decision], None]  # records or raises DecisionError / DecisionConflict
Navigate = Callable[[str], None]  # "skip" | "next" | "prev"
Painted = Callable[[], "dict[str, str] | None"]  # the masks the inspector painted on this sheet so far


def _nothing_painted() -> None:
    return None


def _state(key: str) -> dict:
    """This sheet's panel state: is the form open, the classes chosen, a message, a pending conflict."""
    return st.session_state.setdefault(f"panel-{key}", {"open": False, "classes": None, "error": "",
                                                        "conflict": None, "armed": False})


def _needs_check(verdict: Verdict) -> bool:
    """An out-of-domain sheet's verdict is a guess (issue 37): Accept takes a second press of A, never one."""
    return verdict.domain_level == "out of domain" or verdict.out_of_domain


def _forget(key: str) -> None:
    st.session_state.pop(f"panel-{key}", None)
    st.session_state.pop(f"reason-{key}", None)


def _submit(key: str, decide: Decide, make: Callable[[], Decision]) -> None:
    panel = _state(key)
    try:
        decision = make()
        decide(decision)
    except DecisionConflict as exc:
        panel.update(conflict=(decision, exc.current, str(exc)), error="")
        return
    except DecisionError as exc:
        panel["error"] = str(exc)
        return
    except (StoreError, SQLAlchemyError) as exc:
        kind = not_recorded_because(exc)
        if kind is None:
            raise
        panel["error"] = (f"Not recorded: the database is {kind} — your decision is kept in the form, try again. "
                          f"({exc})")
        return
    _forget(key)


def _form_submit(key: str, decide: Decide, make: Callable[[], Decision]) -> None:
    """A press on a form that is no longer open (a key typed while the previous sheet's form was still on screen
    during a rerun) does nothing: that sheet's decision was already recorded or the form closed."""
    if _state(key)["open"]:
        _submit(key, decide, make)


def _override(verdict: Verdict, label: CurrentLabel | None, key: str, quick: str, painted: Painted,
              typed: str | None = None) -> Decision:
    """The form's decision; `typed` is the reason text a key press carried (else the form's submitted text)."""
    typed = str(st.session_state.get(f"reason-{key}", "") if typed is None else typed).strip()
    reason = "; ".join(part for part in (quick, typed) if part)
    classes = _state(key)["classes"]
    if label is not None:
        return Decision.change(verdict, classes, reason, label.review_id, painted())
    return Decision.override(verdict, classes, reason, painted())


def _confirm(verdict: Verdict, key: str, decide: Decide) -> None:
    decision, current, _ = _state(key)["conflict"]
    _state(key)["conflict"] = None
    if current is None:  # the label it conflicted with is gone: record as a first decision
        _submit(key, decide, lambda: decision.replacing(None))
        return
    reason = decision.reason or f"confirmed over {current.reviewer}'s decision"
    _submit(key, decide, lambda: Decision.change(verdict, decision.classes, reason, current.review_id))


def _open_form(verdict: Verdict, label: CurrentLabel | None, key: str) -> None:
    panel = _state(key)
    panel.update(open=True, error="")
    if panel["classes"] is None:  # start from the label shown; kept while the form is refused
        # A label made against another set's classes starts from those this verdict's set knows.
        start = label.classes if label is not None else verdict.classes_present
        panel["classes"] = [name for name in start if name in verdict.class_names]


def _toggle(key: str, name: str) -> None:
    chosen = _state(key)["classes"]
    if chosen is None:  # that form is gone (see _form_submit)
        return
    chosen.remove(name) if name in chosen else chosen.append(name)


def _actions(verdict: Verdict, label: CurrentLabel | None, key: str, decide: Decide, navigate: Navigate,
             painted: Painted) -> dict[str, Callable[..., None]]:
    """Every action of the panel by name; the buttons (clicked: no argument) and the keys (ui.keyboard: the reason
    typed so far) run the same ones. A click reads the form's own submitted reason instead."""
    def override(quick: str) -> Callable[..., None]:
        return lambda typed=None: _form_submit(key, decide, lambda: _override(verdict, label, key, quick, painted,
                                                                            typed))
    actions = {
        "accept": lambda _=None: _submit(key, decide, lambda: Decision.accept(verdict, painted())),
        "arm": lambda _=None: _state(key).update(armed=True),
        "defect-free": lambda _=None: _submit(key, decide,
                                              lambda: Decision.defect_free(verdict, "false alarm", painted())),
        "open": lambda _=None: _open_form(verdict, label, key),
        "skip": lambda _=None: navigate("skip"), "prev": lambda _=None: navigate("prev"),
        "next": lambda _=None: navigate("next"),
        "close": lambda _=None: _state(key).update(open=False), "record": override(""),
    }
    for index, name in enumerate(verdict.class_names[:9]):
        actions[f"toggle-{index}"] = lambda _=None, n=name: _toggle(key, n)
    for letter, reason in QUICK_REASONS:
        actions[f"quick-{letter}"] = override(reason)
    return actions


def _keys(verdict: Verdict, label: CurrentLabel | None, form_open: bool, armed: bool = False) -> dict[str, str]:
    """Key -> action for what is on screen now: the decision row's keys, and the form's while it is open."""
    keys = {"o": "open", "s": "skip", "p": "prev", "n": "next"}
    if label is None:
        keys["a"] = "arm" if _needs_check(verdict) and not armed else "accept"
        if verdict.defective:
            keys["f"] = "defect-free"
    if form_open:
        keys["Escape"] = "close"
        keys.update({str(index + 1): f"toggle-{index}" for index in range(min(9, len(verdict.class_names)))})
        keys.update({letter.lower(): f"quick-{letter}" for letter, _ in QUICK_REASONS})
    return keys


def decision_panel(verdict: Verdict, label: CurrentLabel | None, key: str, decide: Decide, navigate: Navigate,
                   painted: Painted = _nothing_painted) -> None:
    """The decision row (and the override form when open) for one sheet. `decide` records a decision; `navigate`
    moves to another sheet; `painted` gives the masks the inspector painted (ui.mask_editor), which go with every
    kind of decision (a painted mask for a class the decision calls absent is refused, never dropped)."""
    panel = _state(key)
    act = _actions(verdict, label, key, decide, navigate, painted)
    # Button keys name the sheet: a click that reaches the server after the screen moved on finds no such button
    # (nothing happens) instead of acting on the next sheet. Keys are handled by ui.keyboard, which checks the same.
    row = st.container(horizontal=True, vertical_alignment="center")
    if label is None:
        model = ", ".join(verdict.classes_present) or "clean"
        if _needs_check(verdict) and not panel["armed"]:
            row.button("Out of domain: check", type="primary", shortcut="A", key=f"arm-{key}",
                       icon=":material/warning:", on_click=act["arm"],
                       help=f"the sheet looks unlike this set's training images; the model's {model} is a guess")
        else:
            label_text = f"Confirm accept: {model}" if _needs_check(verdict) else f"Accept: {model}"
            row.button(label_text, type="primary", shortcut="A", key=f"accept-{key}", icon=":material/check:",
                       on_click=act["accept"])
    row.button("Override…" if label is None else "Change decision…", shortcut="O", key=f"open-form-{key}",
               icon=":material/edit:", on_click=act["open"])
    row.button("Skip", shortcut="S", key=f"skip-{key}", icon=":material/skip_next:", on_click=act["skip"])
    row.button("Prev", shortcut="P", key=f"prev-{key}", icon=":material/chevron_left:", on_click=act["prev"])
    row.button("Next", shortcut="N", key=f"next-{key}", icon=":material/chevron_right:", on_click=act["next"])
    if label is None and verdict.defective:  # last in the row: "defect-free" on a clean verdict would be Accept
        row.button("Defect-free", shortcut="F", help="the model saw a defect that is not there (false alarm)",
                   key=f"defect-free-{key}", icon=":material/layers_clear:", on_click=act["defect-free"])
    with row:  # the listener draws nothing: in the row it takes no line of its own
        keyboard(key, _keys(verdict, label, panel["open"], panel["armed"]), act,
                 key=f"keys-{key.rsplit('-', 1)[0]}",
                 reason_key=f"reason-{key}", enter="record")
    if label is None and _needs_check(verdict) and panel["armed"]:
        st.warning(f"Out of domain for {verdict.model_set}: check the sheet yourself. Press **A** again to accept "
                   f"the model's {', '.join(verdict.classes_present) or 'clean'} anyway, or **O** to override.",
                   icon=":material/warning:")
    if panel["conflict"] is not None:
        _conflict_ui(verdict, key, decide)
    if panel["error"]:
        st.error(panel["error"])
    if panel["open"]:
        _form(verdict, label, key, act)


def _conflict_ui(verdict: Verdict, key: str, decide: Decide) -> None:
    decision, current, message = _state(key)["conflict"]
    mine = ", ".join(decision.classes) or "defect-free"
    with st.container(border=True):
        st.warning(f"Not recorded: {message}. Yours would be **{mine}**.", icon=":material/group:")
        row = st.container(horizontal=True)
        row.button(f"Replace it with {mine}", key=f"confirm-{key}", type="primary", on_click=_confirm,
                   args=(verdict, key, decide))
        row.button("Keep theirs", key=f"keep-{key}", on_click=lambda: _state(key).update(conflict=None))


def _form(verdict: Verdict, label: CurrentLabel | None, key: str, act: dict[str, Callable[..., None]]) -> None:
    chosen = _state(key)["classes"]
    title = "Change the decision" if label is not None else "Override the model"
    with st.form(f"override-form-{key}", enter_to_submit=True):
        head = st.container(horizontal=True, vertical_alignment="bottom")
        # Rendered first on purpose: Enter in the reason box submits a form through its first submit button.
        head.form_submit_button("Record (Enter)", type="primary", icon=":material/save:", on_click=act["record"])
        head.text_input(f"{title}: reason (optional with a quick reason)", key=f"reason-{key}",
                        placeholder="what the model got wrong", width=420)
        head.form_submit_button("Close", shortcut="Esc", key=f"close-{key}", on_click=act["close"])
        classes = st.container(horizontal=True)
        classes.caption("Classes present (toggle):")
        for index, name in enumerate(verdict.class_names[:9]):
            classes.form_submit_button(name, shortcut=str(index + 1), key=f"class-{key}-{index}",
                                       type="primary" if name in chosen else "secondary",
                                       icon=":material/check_box:" if name in chosen else
                                       ":material/check_box_outline_blank:", on_click=act[f"toggle-{index}"])
        reasons = st.container(horizontal=True)
        reasons.caption("Record with a quick reason:")
        for letter, reason in QUICK_REASONS:
            reasons.form_submit_button(reason, shortcut=letter, key=f"quick-{key}-{letter}",
                                       on_click=act[f"quick-{letter}"])
        shown = ", ".join(n for n in verdict.class_names if n in chosen) or "defect-free"
        old = "" if label is None else ", ".join(label.classes) or "defect-free"
        replaced = f" (replacing {label.reviewer}'s {old})" if label is not None else ""
        st.caption(f"Will record: **{shown}**{replaced}")
