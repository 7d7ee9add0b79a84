"""The batch's loud line when most of its sheets are out of domain for the set that inspected them (issue 37)."""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from core.review.sheets import domain_alarms, sheets_of
from core.review.store import ReviewLog


def domain_banner(log: ReviewLog, inference_ids: Sequence[int], band: float) -> None:
    """'6 of 6 sheets are out of domain for set X — check the camera / the active set', one per set; nothing when
    most sheets look like the set's training images. One query for the whole batch."""
    for alarm in domain_alarms(sheets_of(log, inference_ids, band)):
        st.error(alarm, icon=":material/warning:")
