"""The decision screen: sheet list, strip, label and decision controls on one screen, details below.

A fragment: a decision, a skip or N/P reruns only this part of the page. The sheets are read from the review log on
every run (through `load`), so results that finished meanwhile are in the list without a full rerun. While a batch
is still being inspected (`live_every`), the list's counts refresh on their own, and a decision, skip or N/P picks
the next sheet from the list as it is now, not as it was drawn: a sheet that finished meanwhile is next in turn.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import streamlit as st

from core.engine.inference import Inspector
from core.review.sheets import Sheet, next_undecided, sheets_of, step
from core.review.store import Decision, ReviewLog
from ui.decision_panel import decision_panel
from ui.engine import stored_pixels
from ui.mask_editor import masks_expander, painted_so_far
from ui.verdict_view import (
    PICTURE_PX,
    PICTURE_WITH_FORM_PX,
    verdict_badge,
    verdict_colors,
    verdict_details,
    verdict_notes,
    verdict_picture,
)


def selection_key(page: str) -> str:
    return f"{page}-selected"


def select(page: str, inference_id: int | None) -> None:
    st.session_state[selection_key(page)] = inference_id


def _navigate(page: str, sheets_now: Callable[[], Sequence[Sheet]], current: int,
              on_skip: Callable[[int], None] | None) -> Callable[[str], None]:
    def go(where: str) -> None:
        sheets = sheets_now()
        if where == "skip" and on_skip is not None:
            on_skip(current)
            select(page, None)
        elif where == "skip":
            select(page, next_undecided(sheets, current) or step(sheets, current, 1))
        else:
            select(page, step(sheets, current, 1 if where == "next" else -1))
    return go


def _decide(log: ReviewLog, page: str, sheets_now: Callable[[], Sequence[Sheet]], current: int, reviewer: str,
            after: Callable[[], None] | None) -> Callable[[Decision], None]:
    def record(decision: Decision) -> None:
        log.add_review(current, reviewer, decision, page=page)  # DecisionConflict/DecisionError: the panel says why
        label = ", ".join(decision.classes) or "defect-free"
        # Shown by the fragment's next run: an element drawn inside a callback would land at the page's top.
        st.session_state[f"{page}-notice"] = f"Recorded: {decision.kind} ({label})"
        # On to the next undecided sheet after this one, in this list's order; stay when none is left.
        select(page, next_undecided(sheets_now(), current) or current)
        if after is not None:
            after()
    return record


def _counts(sheets_now: Callable[[], Sequence[Sheet]]) -> None:
    sheets = sheets_now()
    decided = sum(s.decided for s in sheets)
    st.caption(f"{len(sheets)} sheets · {decided} decided · **{len(sheets) - decided} to decide** · "
               "press **?** for the keys")


def sheet_list_ui(sheets: Sequence[Sheet], selected: int, page: str,
                  sheets_now: Callable[[], Sequence[Sheet]], live_every: float | None,
                  counts_line: Callable[[], str] | None = None):
    """The sheet picker (current labels, not the model's, on decided sheets); returns the column beside it. With
    `live_every` its counts rerun on their own (a fragment inside the screen's fragment) while a batch runs;
    `counts_line` replaces the list's counts (the queue shows one sheet of many: its own counters)."""
    ids = [s.inference_id for s in sheets]
    # Numbered: two sheets may share a file name, and the list must tell them apart (so must the widget).
    # With verdicts of several model sets in one list, each names its set (one model set per view: issue 37).
    mixed = len({s.model_set for s in sheets}) > 1
    names = {s.inference_id: f"{n}. {s.describe()}" + (f" · {s.model_set}" if mixed else "")
             for n, s in enumerate(sheets, 1)}
    left, right = st.columns([3, 2])
    # Keyed by the selection: a move made by a decision or N/P is a new widget showing the new sheet at once.
    pick = f"{page}-sheet-pick-{selected}"
    left.selectbox("Sheet", ids, index=ids.index(selected), format_func=names.get, key=pick,
                   label_visibility="collapsed", on_change=lambda: select(page, st.session_state[pick]))
    with left:
        if counts_line is not None:
            st.caption(counts_line() + " · press **?** for the keys")
        elif live_every:
            st.fragment(_counts, run_every=live_every)(sheets_now)
        else:
            _counts(lambda: sheets)
    return right


def sheet_screen(log: ReviewLog, inspector: Inspector | None, load: Callable[[], list[int]], band: float,
                 reviewer: str, page: str, after: Callable[[], None] | None = None,
                 on_skip: Callable[[int], None] | None = None, live_every: float | None = None,
                 below: Callable[[], None] | None = None, counts_line: Callable[[], str] | None = None
                 ) -> Sheet | None:
    """Draw the selected sheet of `load()`'s list with its decision controls; returns the sheet shown.
    `after` runs after each recorded decision; `on_skip` replaces the default skip (the next undecided sheet).
    `live_every` (seconds; while the list grows): `load` is called again for the counts and in the decision and
    navigation callbacks, so it must only read. `below` draws under the details in the same run (the batch
    overview: a decision shows there at once). `counts_line`: the counters to show instead of the list's."""
    sheets = sheets_of(log, load(), band)
    sheets_now = (lambda: sheets_of(log, load(), band)) if live_every else (lambda: sheets)
    if not sheets:
        return None
    ids = [s.inference_id for s in sheets]
    selected = st.session_state.get(selection_key(page))
    if selected not in ids:
        selected = next_undecided(sheets, None) or ids[0]
        select(page, selected)
    sheet = sheets[ids.index(selected)]
    notice = st.session_state.pop(f"{page}-notice", "")
    if notice:
        st.toast(notice, icon=":material/check_circle:")
    beside = sheet_list_ui(sheets, selected, page, sheets_now, live_every, counts_line)
    verdict = log.verdict(selected)
    pixels = stored_pixels(str(log.image_path(sheet.image_sha256)))
    key = f"{page}-{selected}"
    with beside:
        verdict_badge(verdict, sheet.label, inspector.card.name if inspector is not None else None)
    verdict_notes(verdict, inspector)
    form_open = bool(st.session_state.get(f"panel-{key}", {}).get("open"))  # ui.decision_panel's state
    verdict_picture(verdict, pixels, inspector, key, PICTURE_WITH_FORM_PX if form_open else PICTURE_PX)
    masks_key = f"masks-{key}"  # per sheet: painted masks never follow the inspector to the next sheet
    decision_panel(verdict, sheet.label, key, _decide(log, page, sheets_now, selected, reviewer, after),
                   _navigate(page, sheets_now, selected, on_skip), lambda: painted_so_far(masks_key))
    masks_expander(pixels, verdict.mask_rles, verdict.class_names, verdict_colors(verdict, inspector), masks_key)
    with st.container(key=f"details-{key}"):  # its key names the sheet: the browser tests know the redraw is done
        verdict_details(verdict, pixels, inspector, log, key)
    if below is not None:
        below()
    return sheet


fragment = st.fragment(sheet_screen)
