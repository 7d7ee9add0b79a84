"""Threshold what-if: move a class's threshold and see on the plant's own sheets what it would change, before an
admin applies it (through the logged change, with a reason)."""

import streamlit as st

from core.contract.errors import SteelScanError
from core.review.active import NoModelSetError, change_threshold, effective_card, resolve_active
from core.review.what_if import Window, in_force, precision_recall, reviewed_scores, what_if
from ui import auth, state, what_if_view
from ui.markup import plain_markdown

settings, log = state.settings(), state.review_log()
user = auth.page_header("Threshold what-if", "statistics")
can_edit = user.can("models.edit")  # supervisors look; only admins apply (logged under their name)
try:
    active = resolve_active(log, settings.models_dir, settings.model_set)
except NoModelSetError as exc:
    st.error(str(exc))
    st.stop()
card = active.card
if not card.trained:
    st.warning("Untrained (random weights): its scores mean nothing, so neither does any threshold here.")
current = effective_card(card, log.class_overrides(card.fingerprint))
scores = what_if_view.scores(log, card.fingerprint)
st.caption(f"Model set **{plain_markdown(card.name)}** {plain_markdown(card.version)}: only sheets it scored count "
           f"(fingerprint {card.fingerprint[:16]}…). Labels: each sheet's latest decision. Times in "
           f"{settings.timezone}; shifts start at 06:00, 14:00, 22:00.")
if scores.empty:
    st.info(f"No sheet has been inspected with {card.name} yet: inspect and review some, then come back.")
    st.stop()

left, middle, right = st.columns([2, 5, 1.4])
class_name = left.selectbox("Class", card.class_names, key="whatif_class")
threshold_now = next(spec.threshold for spec in current.classes if spec.name == class_name)
default = next(spec.threshold for spec in card.classes if spec.name == class_name)
wanted = round(middle.slider(f"{class_name} threshold", 0.0, 1.0, float(threshold_now), 0.01, format="%.2f",
                             key=f"whatif_threshold_{class_name}"), 4)
days = int(right.number_input("Last N days", 1, 365, 7, key="whatif_days"))
st.caption(f"In force: {plain_markdown(in_force(log.setting_changes(), card.fingerprint, class_name, default))}")

report = what_if(scores, class_name, threshold_now, wanted, Window.ending_now(days, settings.timezone))
now, new = report.now, report.new
busiest = report.shifts["flagged_new"].max() if not report.shifts.empty else 0


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def _change(a: float | None, b: float | None) -> str | None:
    return None if a is None or b is None or a == b else f"{b - a:+.0%}"


metrics = st.columns(5)
metrics[0].metric(f"Flagged, last {days} d", f"{new.flagged} of {new.sheets}", new.flagged - now.flagged or None,
                  delta_color="off", help=f"Sheets scored in the last {days} days whose {class_name} score reaches "
                  "the threshold (the delta: against the threshold in force).")
metrics[1].metric("Missed confirmed", f"{new.missed} of {new.confirmed}", new.missed - now.missed or None,
                  delta_color="inverse", help="Sheets of the window an inspector confirmed the class on that score "
                  "below the threshold.")
metrics[2].metric("Precision (reviewed)", _pct(new.precision), _change(now.precision, new.precision),
                  help=f"Of the {report.reviewed} reviewed sheets, the flagged ones that an inspector confirmed.")
metrics[3].metric("Recall (reviewed)", _pct(new.recall), _change(now.recall, new.recall),
                  help=f"Of the {report.positives} reviewed sheets confirmed {class_name}, the share flagged.")
metrics[4].metric("Busiest shift", f"{busiest} flagged", help="The most sheets one shift of the window would flag "
                  "for this class (the queue also takes sheets other classes flag and uncertain ones).")

reviewed = reviewed_scores(scores, class_name)
hist_col, curve_col = st.columns(2)
with hist_col:
    st.markdown(f"**Scores of reviewed sheets** ({report.reviewed})")
    st.plotly_chart(what_if_view.histogram_chart(reviewed, threshold_now, wanted), key="whatif_histogram")
with curve_col:
    st.markdown("**Precision-recall on reviewed sheets**")
    curve = precision_recall(scores, class_name)
    if curve.empty:
        st.caption(f"No reviewed sheet is confirmed {class_name} yet: no curve to draw.")
    else:
        st.plotly_chart(what_if_view.pr_chart(curve, now, new), key="whatif_pr")
st.markdown(f"**Flagged sheets per shift**, last {days} days")
if report.shifts.empty:
    st.caption(f"No sheet scored by {card.name} in the last {days} days.")
else:
    st.plotly_chart(what_if_view.shift_chart(report.shifts, threshold_now, wanted), key="whatif_shifts")

with st.form("whatif_apply_form", clear_on_submit=True, border=False):  # cleared: each change needs its own reason
    reason_col, apply_col = st.columns([5, 2], vertical_alignment="bottom")
    reason = reason_col.text_input("Reason for the change (required)", key="whatif_reason", disabled=not can_edit)
    applied = apply_col.form_submit_button(f"Apply {wanted:.2f} to {class_name}", type="primary", key="whatif_apply",
                                           disabled=not can_edit or wanted == threshold_now, width="stretch")
if not can_edit:
    st.caption("Only an admin can apply a threshold (every change is logged with the admin's name).")
elif applied:
    try:
        count = change_threshold(log, card, current, class_name, wanted, user.username, reason)
    except SteelScanError as exc:
        st.error(str(exc))
    else:
        st.toast(f"{class_name} threshold {threshold_now:.2f} → {wanted:.2f}, logged" if count else "Nothing changed")
        st.rerun()
