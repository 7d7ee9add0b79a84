"""The review log (no streamlit here): images, verdicts, append-only reviews, settings changes, export."""

from core.review.store.db import StoreError
from core.review.store.decisions import Decision, DecisionError, check_reviewer
from core.review.store.export import ExportSummary, export_training_set
from core.review.store.models import AppendOnlyError
from core.review.store.reviews import ReviewLog

__all__ = [
    "AppendOnlyError", "Decision", "DecisionError", "ExportSummary", "ReviewLog", "StoreError", "check_reviewer",
    "export_training_set",
]
