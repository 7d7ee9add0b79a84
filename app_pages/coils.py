"""Coils for supervisors: the recent coils, a coil's defects along its length (click a marker to open the sheet), its
per-class counts and grade by the plant's rule (setting coil_grade_rule), and the coil's report as CSV or JSON."""

import streamlit as st

from core.contract.coil import CoilError, GradeRule
from core.review.coils import coil_report, recent_coils, report_csv, report_json
from ui import auth, coil_view, state
from ui.markup import plain_markdown

settings, log = state.settings(), state.review_log()
auth.page_header("Coils", "coils")
coils = recent_coils(log, limit=50)
if not coils:
    st.info("No sheet has a coil yet. The watcher reads coil and position from file names (setting coil_pattern), "
            "the API from its coil and position fields: see docs/line.md.")
    st.stop()

coil = coil_view.coil_picker(coils, settings.timezone)
with st.expander(f"Recent coils ({len(coils)})"):
    st.dataframe(coil_view.recent_table(coils, settings.timezone), hide_index=True, width="stretch")
try:
    report = coil_report(log, coil, GradeRule.parse(settings.coil_grade_rule, settings.coil_minor_classes),
                         settings.timezone)
except CoilError as exc:
    st.error(plain_markdown(str(exc)))
    st.stop()

grade_col, sheets_col, defective_col, *class_cols = st.columns(3 + len(report.class_names))
grade_col.metric("Grade", report.grade, help="Counts are sheets; a sheet's classes are its latest decision, else "
                 "the model's verdict.")
sheets_col.metric("Sheets", len(report.sheets))
defective_col.metric("Defective", report.defective)
for column, name in zip(class_cols, report.class_names, strict=True):
    column.metric(name, report.counts[name])
st.caption(plain_markdown(f"Grade {report.grade}: {report.grade_why} · rule (coil_grade_rule): {report.rule}"))

colors = coil_view.palette(report, settings.models_dir)
map_key, sheet_key = f"coil_map_{coil}", f"coil_sheet_{coil}"


def _open_clicked() -> None:  # a click on the map opens that sheet below (the chooser follows it)
    clicked = coil_view.picked_sheet(map_key)
    if clicked is not None:
        st.session_state[sheet_key] = clicked


st.plotly_chart(coil_view.defect_map(report, colors), key=map_key, on_select=_open_clicked,
                selection_mode="points", config={"displaylogo": False})
opened = coil_view.sheet_choice(report, sheet_key)
if opened is not None:
    coil_view.open_sheet(log, report, opened, colors)

csv_col, json_col, _ = st.columns([1, 1, 4])
csv_col.download_button("Coil report CSV", report_csv(report), file_name=f"coil_{coil}.csv", mime="text/csv",
                        icon=":material/download:")
json_col.download_button("Coil report JSON", report_json(report), file_name=f"coil_{coil}.json",
                         mime="application/json", icon=":material/download:")
