"""What SteelScan reads from a dataset folder, shown before anyone trains on it (`steelscan data describe`)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.contract.errors import SteelScanError
from core.datasets.describe import describe_path


def describe_expander() -> None:
    with st.expander("Check a dataset folder before training"):
        st.caption("YOLO (data.yaml + images/ + labels/), COCO JSON, a folder per class with mask PNGs, "
                   "Severstal, NEU-DET, or images/ + masks/ + classes.txt. Nothing is copied or changed.")
        with st.form("describe_dataset"):
            path = st.text_input("Dataset folder on the server", placeholder="/data/line3-labelled")
            asked = st.form_submit_button("Describe")
        if not (asked and path.strip()):
            return
        try:
            with st.spinner("Reading the labels…"):
                summary = describe_path(path.strip())
        except SteelScanError as exc:
            st.error(str(exc))
            return
        st.markdown(f"**{summary.layout}** layout · {summary.task} · {summary.images} images ({summary.defective} "
                    f"defective, {summary.clean} clean) · classes: {', '.join(summary.class_names)}")
        st.caption(("Keeps its own train/validation/test split. " if summary.own_split else
                    "No split of its own: training carves validation and hold-out from it. ")
                   + f"Sizes {summary.width_range[0]}-{summary.width_range[1]} x "
                     f"{summary.height_range[0]}-{summary.height_range[1]} px.")
        st.dataframe(pd.DataFrame(summary.per_split).T.fillna(0).astype(int), width="stretch")
        if summary.mask_area_quantiles:
            st.caption("Defect area (share of a defective image): " + ", ".join(
                f"{k} {100 * v:.2f}%" for k, v in summary.mask_area_quantiles.items()))
        if summary.problems:
            st.warning(f"{len(summary.problems)} image(s) left out because their labels cannot be read "
                       "(never taken as clean):")
            st.code("\n".join(summary.problems[:50]), language=None)
        else:
            st.success("No problems found.")
