"""Page density for the decision screens: the strip, the label and the decision row must fit 1366x768."""

from __future__ import annotations

import streamlit as st

# Streamlit's default top padding (6rem) and title size take a fifth of a 768 px screen; the inspector's screens
# trade them for the strip. Only spacing and sizes change, never colours or what is shown.
COMPACT_CSS = """<style>
.stMainBlockContainer, .block-container {padding-top: 2.6rem; padding-bottom: 2rem}
.stMainBlockContainer h1 {font-size: 1.5rem; padding: 0.1rem 0 0.2rem 0}
</style>"""


def compact() -> None:
    st.html(COMPACT_CSS)
