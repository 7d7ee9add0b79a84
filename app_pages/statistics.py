"""Statistics for supervisors: defect rates, areas, model-inspector agreement, backlog, throughput."""

from datetime import timedelta

import plotly.express as px
import streamlit as st

from core.review.queue import waiting
from core.review.stats import FREQS, StatsFilter, all_classes, compute, confusion_array, sheet_csv, to_local
from ui import auth, state

settings, log = state.settings(), state.review_log()
auth.page_header("Statistics", "statistics")
images, reviews = log.images_frame(), log.reviews_frame()
if images.empty:
    st.info("No sheets inspected yet: inspect some on the Inspect page, and their statistics appear here.")
    st.stop()

local = to_local(images["inspected_at"], settings.timezone)
first, last = local.min().date(), local.max().date()
default_start = max(first, last - timedelta(days=30))
left, middle, right = st.columns([2, 1, 3])
dates = left.date_input("Dates", (default_start, last), min_value=first, max_value=last, key="stats_dates")
freq = middle.selectbox("Group by", FREQS, index=FREQS.index("day"), key="stats_freq")
known = list(all_classes(images))
classes = right.multiselect("Classes", known, default=known, key="stats_classes")
picked = tuple(dates) if isinstance(dates, tuple) else (dates,)  # one date while the user is picking a range
start, end = (picked[0], picked[-1]) if picked else (default_start, last)
report = compute(images, reviews, StatsFilter(start, end, tuple(classes), freq, settings.timezone,
                                              settings.uncertainty_band), waiting(log, settings.uncertainty_band))
st.caption(f"Times in {settings.timezone} · shifts start at 06:00, 14:00, 22:00 · a sheet's label is its "
           "latest review, else the model's verdict")

metrics = st.columns(5)
metrics[0].metric("Sheets inspected", report.images)
metrics[1].metric("Defective", report.defective, f"{report.defect_share:.1%} of sheets", delta_color="off",
                  delta_arrow="off")
metrics[2].metric("Reviewed", report.reviewed)
metrics[3].metric("Override rate", f"{report.override_rate:.0%}", f"{report.overrides} of {report.decisions} decisions",
                  delta_color="off", delta_arrow="off")
metrics[4].metric("Waiting for review", report.waiting)

st.subheader("Defect rate over time")
if report.defect_rate.empty:
    st.caption("No sheets in this selection.")
else:
    chart = px.line(report.defect_rate, x="period_label", y="rate", color="class_name", markers=True,
                    hover_data=["sheets", "defective"],
                    labels={"rate": "share of sheets", "class_name": "class", "period_label": freq})
    chart.update_xaxes(type="category")  # period names, never a zoom into milliseconds
    st.plotly_chart(chart.update_yaxes(tickformat=".0%", rangemode="tozero"), key="rate_chart")

areas_col, agree_col = st.columns(2)
with areas_col:
    st.subheader("Defect areas")
    if report.areas.empty:
        st.caption("No defect regions in this selection.")
    else:
        st.plotly_chart(px.box(report.areas, x="class_name", y="area_px", color="class_name", points="all",
                               log_y=True, labels={"area_px": "area (pixels)", "class_name": "class"}),
                        key="area_chart")
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
        st.dataframe(report.agreement, hide_index=True,
                     column_config={"agreement": st.column_config.NumberColumn(format="percent")})

backlog_col, throughput_col = st.columns(2)
with backlog_col:
    st.subheader("Review backlog")
    if report.backlog.empty:
        st.caption("Nothing flagged in this selection.")
    else:
        backlog = px.line(report.backlog, x="period_label", y="waiting", line_shape="hv", markers=True,
                          labels={"period_label": freq, "waiting": "sheets waiting"})
        st.plotly_chart(backlog.update_xaxes(type="category"), key="backlog_chart")
with throughput_col:
    st.subheader("Review throughput")
    if report.throughput.empty:
        st.caption("No decisions in this selection.")
    else:
        throughput = px.bar(report.throughput, x="period_label", y="decisions", color="reviewer",
                            hover_data=["overrides"], labels={"period_label": freq})
        st.plotly_chart(throughput.update_xaxes(type="category"), key="throughput_chart")

st.subheader("Sheets")
st.dataframe(report.table, hide_index=True)
st.download_button("Download CSV", sheet_csv(report.table), file_name=f"steelscan_{start}_{end}.csv",
                   mime="text/csv", icon=":material/download:")
