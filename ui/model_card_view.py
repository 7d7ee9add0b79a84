"""A model card's metrics on the Models page: tables and bar charts instead of raw JSON."""

from __future__ import annotations

import plotly.express as px
import streamlit as st

from core.modelsets.metric_tables import metric_name, metric_sections
from ui.markup import plain_markdown

SCORE_HELP = ("Scores run from 0 to 1, higher is better. F1 balances missed defects against false alarms; "
              "Dice and IoU measure how well the drawn defect areas overlap the true ones.")


def metrics_view(metrics: dict, key: str) -> None:
    """Each section of the card's metrics: a summary as a table beside a bar chart of its scores, per-class figures
    as a table and a grouped bar chart."""
    st.caption(SCORE_HELP)
    for section in metric_sections(metrics):
        st.markdown(f"**{plain_markdown(section.name.capitalize())}**")
        if section.note:
            st.caption(plain_markdown(section.note[0].upper() + section.note[1:]))
        if section.kind == "summary":
            table_col, chart_col = st.columns([2, 3])
            table_col.dataframe(section.table[["metric", "value"]], hide_index=True, width="stretch",
                                height=38 + 35 * len(section.table),  # every row, no inner scrolling
                                column_config={"value": st.column_config.NumberColumn(format="%.4g")})
            scores = section.table[section.table["is_ratio"]]
            if not scores.empty:
                chart = px.bar(scores, x="value", y="metric", orientation="h", range_x=[0, 1], text_auto=".3f",
                               labels={"value": "score", "metric": ""})
                chart.update_layout(height=40 + 28 * len(scores), margin={"t": 10, "b": 10})
                chart_col.plotly_chart(chart.update_yaxes(autorange="reversed"), key=f"{key}-{section.name}")
            continue
        table = section.table
        st.dataframe(table.rename(columns=metric_name), hide_index=True, width="stretch")
        scores = [c for c in table.columns if c != "class" and table[c].dtype.kind == "f"
                  and table[c].between(0, 1).all() and c not in ("threshold", "pixel_threshold")]
        if scores:
            long = table.melt(id_vars="class", value_vars=scores, var_name="metric", value_name="score")
            long["metric"] = long["metric"].map(metric_name)
            chart = px.bar(long, x="class", y="score", color="metric", barmode="group", range_y=[0, 1],
                           labels={"class": ""})
            st.plotly_chart(chart.update_layout(height=300, margin={"t": 10}), key=f"{key}-{section.name}")
