"""The review log (no streamlit here): images, verdicts, append-only reviews, settings changes, export.

The names below load on first use (PEP 562), so `core.accounts` can reach `store.db` without pandas.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "StoreError": "core.review.store.db",
    "Batch": "core.review.store.batches",
    "BatchItem": "core.review.store.batches",
    "CurrentLabel": "core.review.store.decisions",
    "Decision": "core.review.store.decisions",
    "DecisionConflict": "core.review.store.decisions",
    "DecisionError": "core.review.store.decisions",
    "check_reviewer": "core.review.store.decisions",
    "painted_masks": "core.review.store.decisions",
    "ExportSummary": "core.review.store.export",
    "export_training_set": "core.review.store.export",
    "AppendOnlyError": "core.review.store.models",
    "ReviewLog": "core.review.store.reviews",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'core.review.store' has no attribute {name!r}; valid: {', '.join(__all__)}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
