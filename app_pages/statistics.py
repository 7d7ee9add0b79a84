"""Statistics for supervisors: defect rates, areas, model-inspector agreement, backlog, throughput. One model set
at a time (the active one first); the set, date and class filters apply to every number, chart, table and the CSV."""

import plotly.express as px
import streamlit as st

from core.review.queue import waiting
from core.review.stats import FREQS, StatsFilter, class_options, confusion_array, sheet_csv
from ui import auth, state, stats_view

settings, log = state.settings(), state.review_log()
auth.page_header("Statistics", "statistics")
version, images, reviews = stats_view.frames()
if images.empty:
    st.info("No sheets inspected yet: inspect some on the Inspect page, and their statistics appear here.")
    st.stop()

active = stats_view.active_set_name(settings, log)
view = stats_view.default_view(images, reviews, settings.timezone, active)  # what ui.warmup computed ahead
ALL_SETS = "All sets"
set_col, dates_col, freq_col, classes_col = st.columns([2, 2, 1, 3])
chosen_set = set_col.selectbox(
    "Model set", [*view.sets, ALL_SETS], index=0 if view.model_sets else len(view.sets), key="stats_set",
    format_func=lambda name: f"{name} (active)" if name == active else name,
    on_change=lambda: st.session_state.pop("stats_classes", None),  # another set's classes: start from all of them
    help="Verdicts and decisions of one model set; with all sets, each class is named with its set.")
model_sets = None if chosen_set == ALL_SETS else (chosen_set,)
dates = dates_col.date_input("Dates", (view.start, view.last), min_value=view.first, max_value=view.last,
                             key="stats_dates")
freq = freq_col.selectbox("Group by", FREQS, index=FREQS.index(view.freq), key="stats_freq")
options = view.classes if model_sets == view.model_sets else class_options(images, reviews, model_sets)
classes = classes_col.multiselect("Classes", options, default=options, key="stats_classes")
picked = tuple(dates) if isinstance(dates, tuple) else (dates,)  # one date while the user is picking a range
start, end = (picked[0], picked[-1]) if picked else (view.start, view.last)
filters = StatsFilter(start, end, tuple(classes), freq, settings.timezone, settings.uncertainty_band,
                      model_sets=model_sets)
report = stats_view.report(log.url, version, filters, waiting(log, settings.uncertainty_band), log)
palette = stats_view.colors(report, model_sets)
scope = "every set" if model_sets is None else f"set {chosen_set}"
if model_sets is None and len(view.sets) > 1:
    scope += " (each class named with its set)"
elif model_sets is not None and chosen_set != active:
    scope += f", not the active set {active}"
st.caption(f"{scope} · times in {settings.timezone} · shifts start at 06:00, 14:00, 22:00 · a sheet's label is its "
           "latest review, else the model's verdict · a class filter keeps the sheets and decisions about the "
           "chosen classes")

metrics = st.columns(5)
metrics[0].metric("Sheets inspected", report.images)
metrics[1].metric("Defective", report.defective, f"{report.defect_share:.1%} of sheets", delta_color="off",
                  delta_arrow="off", help="Sheets whose label (latest review, else the model) has a chosen class.")
metrics[2].metric("Reviewed", report.reviewed, help="Reviewed sheets among those about the chosen classes.")
metrics[3].metric("Override rate", f"{report.override_rate:.0%}", f"{report.overrides} of {report.decisions} decisions",
                  delta_color="off", delta_arrow="off",
                  help="Decisions that changed the model's call on the chosen classes.")
metrics[4].metric("Waiting for review", report.waiting, help=stats_view.TERMS["flagged"]
                  + f" In this selection; the whole queue holds {report.queue_waiting} now.")

st.subheader("Defect rate over time")
if report.defect_rate.empty:
    st.caption("No sheets in this selection.")
else:
    st.plotly_chart(stats_view.rate_chart(report, palette, freq), key="rate_chart")

areas_col, agree_col = st.columns(2)
with areas_col:
    st.subheader("Defect areas")
    if report.areas.empty:
        st.caption("No defect regions in this selection.")
    else:
        st.caption("Each box: the middle half of the regions' areas, the line the median, whiskers min and max.")
        st.plotly_chart(stats_view.area_chart(report, palette), key="area_chart")
with agree_col:
    st.subheader("Model vs inspector")
    if report.confusion.empty:
        st.caption("No reviews in this selection.")
    else:
        names, counts = confusion_array(report.confusion)
        grid = px.imshow(counts, facet_col=0, facet_col_wrap=2, text_auto=True, color_continuous_scale="Blues",
                         x=["present", "absent"], y=["present", "absent"],
                         labels={"x": "model says", "y": "inspector says", "color": "sheets"})
        grid.for_each_annotation(lambda a: a.update(text=names[int(a.text.split("=")[1])]))
        st.plotly_chart(grid.update_coloraxes(showscale=False), key="confusion_chart")
        agreement = report.agreement[["class_name", "agreement", "reviewed", "agree", "model_missed", "false_alarm"]]
        st.dataframe(agreement, hide_index=True, width="stretch", column_config={
            "class_name": st.column_config.TextColumn("class", width="small"),
            "agreement": st.column_config.ProgressColumn("agreement", format="percent", min_value=0, max_value=1,
                                                         width="small", help=stats_view.TERMS["agreement"]),
            "model_missed": st.column_config.NumberColumn("missed", width="small", help=stats_view.TERMS["missed"]),
            "false_alarm": st.column_config.NumberColumn("false alarm", width="small",
                                                         help=stats_view.TERMS["false_alarm"])})

backlog_col, throughput_col = st.columns(2)
with backlog_col:
    st.subheader("Review backlog", help=stats_view.TERMS["flagged"])
    if report.backlog.empty:
        st.caption("Nothing flagged in this selection.")
    else:
        st.plotly_chart(stats_view.backlog_chart(report, freq), key="backlog_chart")
with throughput_col:
    st.subheader("Review throughput")
    if report.throughput.empty:
        st.caption("No decisions in this selection.")
    else:
        st.plotly_chart(stats_view.throughput_chart(report, freq), key="throughput_chart")

st.subheader("Sheets")
sheets, sheet_columns = stats_view.sheets_for_people(report.table)
picked_rows = st.dataframe(sheets, hide_index=True, column_config=sheet_columns, on_select="rerun",
                           selection_mode="single-row", key="stats_sheets").selection.rows
if picked_rows:  # a click on a row shows that sheet
    stats_view.sheet_preview(log, report.table.iloc[picked_rows[0]])
else:
    st.caption("Click a row to see its sheet.")
st.download_button("Download CSV", sheet_csv(report.table), file_name=f"steelscan_{start}_{end}.csv",
                   mime="text/csv", icon=":material/download:")
