"""The Models page's thresholds from a target: per class, a target recall or a false-alarm budget read off the
validation curves the card records (core.training.operating_point), applied through the logged change path."""

from __future__ import annotations

import streamlit as st

from core.contract.errors import SteelScanError
from core.review.active import change_thresholds_to_targets
from core.training.operating_point import TargetThreshold, has_curves, threshold_from_target

KIND_LABELS = {"keep": "keep as is", "recall": "target recall", "false_alarms": "false-alarm budget"}


def render(log, card, current, who: str, can_edit: bool) -> None:
    """`card` as trained, `current` with the logged changes applied (both ModelCards of the active set)."""
    if not has_curves(card):
        st.caption("Thresholds from a target: this set was trained before validation curves were recorded in its "
                   "card, so retrain it to set them from a target recall or false-alarm budget, or type them above.")
        return
    with st.expander("Set thresholds from a target (validation images)"):
        st.caption("Validation images chose the epoch and the thresholds, so the figures here flatter the model; "
                   "check a hold-out evaluation before relying on them.")
        results = [target_row(card, spec.name, spec.threshold) for spec in current.classes]
        targets = [r for r in results if isinstance(r, TargetThreshold)]
        problems = any(isinstance(r, SteelScanError) for r in results)
        reason = st.text_input("Reason for the change (required)", key="target_reason", disabled=not can_edit)
        applied = st.button("Apply the thresholds", type="primary", key="target_apply",
                            disabled=not can_edit or not targets or problems,
                            help="Every class in red must reach its target or be kept as is first." if problems
                            else None)
    if not can_edit:
        return
    if applied:
        try:
            count = change_thresholds_to_targets(log, card, current, targets, who, reason)
        except SteelScanError as exc:
            st.error(str(exc))
        else:
            for target in targets:  # the typed-threshold form shows the new value, not its stale entry
                st.session_state.pop(f"t-{target.class_name}", None)
            st.toast(f"{count} threshold{'s' * (count != 1)} changed and logged" if count else "Nothing changed")
            st.rerun()


def target_row(card, class_name: str, threshold: float) -> TargetThreshold | SteelScanError | None:
    """One class's widgets and what its target gives: None when kept as is."""
    cols = st.columns([1, 2, 2, 4])
    cols[0].markdown(f"**{class_name}** (now {threshold:.2f})")
    kind = cols[1].selectbox(f"{class_name} target", list(KIND_LABELS), format_func=KIND_LABELS.get,
                             key=f"target-kind-{class_name}", label_visibility="collapsed")
    if kind == "keep":
        return None
    if kind == "recall":
        value = cols[2].number_input(f"{class_name} target recall", 0.01, 1.0, 0.95, 0.01, format="%.2f",
                                     key=f"target-recall-{class_name}")
    else:
        value = cols[2].number_input(f"{class_name} false alarms, % of validation images without it", 0.0, 99.0,
                                     2.0, 0.5, format="%.1f", key=f"target-budget-{class_name}") / 100
    try:
        target = threshold_from_target(card, class_name, kind, value)
    except SteelScanError as exc:
        cols[3].error(str(exc))
        return exc
    recall = "n/a" if target.recall is None else f"{target.recall:.2f}"
    alarms = "n/a" if target.false_alarm is None else f"{target.false_alarm:.1%}"
    cols[3].markdown(f"threshold **{target.threshold:.2f}** · validation recall {recall} · false alarms {alarms} of "
                     f"the images without {class_name}")
    return target
