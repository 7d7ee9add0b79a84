"""ui.keyboard.take_press: a key acts once, and only on the sheet it was pressed on."""

from __future__ import annotations

from ui.keyboard import SEEN_KEPT, take_press


def recorder():
    calls: list[tuple[str, str]] = []
    actions = {"accept": lambda reason: calls.append(("accept", reason)),
               "quick-W": lambda reason: calls.append(("wrong class", reason))}
    return calls, actions


def test_a_press_on_the_sheet_shown_runs_its_action_with_the_typed_reason():
    calls, actions = recorder()
    seen: list[str] = []
    press = {"id": "s1-1", "scope": "inspect-7", "action": "quick-W", "reason": "burr at the edge"}
    assert take_press(press, "inspect-7", actions, seen) == "quick-W"
    assert calls == [("wrong class", "burr at the edge")]
    assert seen == ["s1-1"]


def test_a_resent_press_acts_once():
    calls, actions = recorder()
    seen: list[str] = []
    press = {"id": "s1-2", "scope": "inspect-7", "action": "accept", "reason": ""}
    assert take_press(press, "inspect-7", actions, seen) == "accept"
    assert take_press(dict(press), "inspect-7", actions, seen) is None
    assert calls == [("accept", "")]


def test_a_press_made_on_another_sheet_is_refused_but_acknowledged():
    """The screen moved on before the press arrived: it must not decide the sheet shown now."""
    calls, actions = recorder()
    seen: list[str] = []
    assert take_press({"id": "s1-3", "scope": "inspect-7", "action": "accept"}, "inspect-8", actions, seen) is None
    assert calls == [] and seen == ["s1-3"]  # acknowledged, so the browser stops resending it


def test_presses_without_id_or_with_unknown_actions_do_nothing():
    calls, actions = recorder()
    seen: list[str] = []
    assert take_press(None, "inspect-7", actions, seen) is None
    assert take_press({"scope": "inspect-7", "action": "accept"}, "inspect-7", actions, seen) is None
    assert take_press({"id": "s1-4", "scope": "inspect-7", "action": "defect-free"}, "inspect-7", actions,
                      seen) is None
    assert calls == []


def test_the_ids_remembered_are_bounded():
    _, actions = recorder()
    seen: list[str] = []
    for n in range(SEEN_KEPT + 10):
        take_press({"id": f"s1-{n}", "scope": "other", "action": "accept"}, "inspect-7", actions, seen)
    assert len(seen) == SEEN_KEPT and seen[-1] == f"s1-{SEEN_KEPT + 9}"
