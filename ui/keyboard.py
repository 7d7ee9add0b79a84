"""The decision screen's keyboard: keys that act on the sheet that was on screen when they were pressed.

Why not only Streamlit's `shortcut=` on the buttons: a button's shortcut acts through whatever callback the button
holds when the press reaches the server. A press that arrives after a decision has already moved the screen on (a
press queued behind a rerun on a loaded CPU) then acts on the next sheet, one the inspector never saw; and now and
then a press never arrives. The browser test caught both. Here one window listener (ui/components/keyboard/keys.js)
sends each press with an id, the sheet it was pressed on and the reason typed so far, and sends it again until a
run acknowledges the id; `take_press` runs each id once, and only when its sheet is the one this run shows. The
buttons keep `shortcut=` to show their key; the listener keeps Streamlit's own handler from acting as well.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, MutableSequence
from pathlib import Path

import streamlit as st

FRONTEND = Path(__file__).parent / "components" / "keyboard"
_component = st.components.v2.component("steelscan_keys", html="<span></span>",
                                        js=(FRONTEND / "keys.js").read_text())
LOG = logging.getLogger("steelscan.keyboard")
SEEN_KEPT = 32  # press ids remembered (and acknowledged) per page: far more than can be in flight

Action = Callable[[str], None]  # called with the reason typed in the form so far
NOTHING = "nothing-changed"  # Enter outside a text box when the screen gives Enter no action
ARROWS = {"ArrowRight": "next", "ArrowLeft": "prev"}  # aliases of N and P
# What `?` lists (ui/components/keyboard/keys.js draws it): every key of the decision screen (ui.decision_panel).
SHORTCUTS = (
    ("A", "accept the model's verdict"),
    ("F", "defect-free: the model saw a defect that is not there (false alarm)"),
    ("O", "override the model's verdict (on a decided sheet: change the decision)"),
    ("S", "skip this sheet for now"),
    ("N or →", "next sheet"),
    ("P or ←", "previous sheet"),
    ("1 – 9", "in the override form: toggle class 1 to 9"),
    ("X", "in the form: record with the reason 'false alarm'"),
    ("M", "in the form: record with the reason 'missed defect'"),
    ("W", "in the form: record with the reason 'wrong class'"),
    ("U", "in the form: record with the reason 'unsure: needs a second look'"),
    ("Enter", "in the form's reason box: record with the reason typed"),
    ("Esc", "close the form (or this list)"),
    ("?", "show or hide this list"),
)
NOTHING_SAID = "Enter alone changes nothing here: A accepts, O opens the override form, and in the form Enter " \
               "in the reason box records. Press ? for every shortcut."


def _press(key: str) -> dict | None:
    value = st.session_state.get(key)
    press = value.get("press") if isinstance(value, Mapping) else getattr(value, "press", None)
    return press if isinstance(press, dict) else None


def take_press(press: dict | None, scope: str, actions: Mapping[str, Action], seen: MutableSequence[str]) -> str | None:
    """Run the action a press names, once per press id, when it was pressed on `scope`. Returns the action run, or
    None: a press seen before (a resend), pressed on another sheet (stale), or naming no action offered here."""
    if press:
        LOG.debug("key press %s on %s (screen shows %s)", press.get("action"), press.get("scope"), scope)
    if not press or not press.get("id") or press["id"] in seen:
        return None
    seen.append(str(press["id"]))
    del seen[:-SEEN_KEPT]
    if press.get("scope") != scope or press.get("action") not in actions:
        return None
    actions[press["action"]](str(press.get("reason") or ""))
    return press["action"]


def keyboard(scope: str, keys: Mapping[str, str], actions: Mapping[str, Action], key: str,
             reason_key: str | None = None, enter: str | None = None) -> None:
    """Listen for `keys` ({"a": "accept", "Escape": "close", ...}) on this page and run `actions[action]` for a press
    made on `scope`. `reason_key` names the text box whose text goes with each press (the override reason); Enter in
    that box runs `enter`. `key` must be the same on every run of the page (one listener per page)."""
    seen: list[str] = st.session_state.setdefault(f"{key}-seen", [])
    note_key = f"{key}-note"
    if st.session_state.pop(note_key, None):
        st.toast(NOTHING_SAID, icon=":material/keyboard:")
    keys = {**{k: a for k, a in ARROWS.items() if a in keys.values()}, **keys}
    keys.setdefault("Enter", NOTHING)
    actions = {NOTHING: lambda _=None: st.session_state.update({note_key: True}), **actions}
    reason = f".st-key-{reason_key} input" if reason_key else ""
    _component(key=key, data={"scope": scope, "keys": dict(keys), "reason": reason, "enter": enter,
                              "seen": list(seen), "help": [list(row) for row in SHORTCUTS]},
               on_press_change=lambda: take_press(_press(key), scope, actions, seen),
               width="content", height="content")
