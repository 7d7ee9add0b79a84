"""Model card metrics as tables: summary sections as metric/value rows, per-class sections as class x metric."""

from __future__ import annotations

import json
from pathlib import Path

from core.modelsets.metric_tables import metric_sections

MODELS = Path(__file__).resolve().parents[3] / "models"


def test_a_cards_metrics_become_summary_and_per_class_tables():
    metrics = {"validation": {"images": 90, "rejected": 0, "macro_f1": 0.9753, "accuracy": 0.9778},
               "tuning": {"pits": {"f1": 0.93, "threshold": 0.76, "min_area": 64},
                          "crazing": {"f1": 0.97, "threshold": 0.4, "min_area": 0}},
               "figures_from": {"validation": "validation: optimistic", "tuning": "chosen on validation images"},
               "note": "free text"}
    validation, tuning, note = metric_sections(metrics)
    assert (validation.name, validation.kind, validation.note) == ("validation", "summary", "validation: optimistic")
    assert validation.table.to_dict("records") == [
        {"metric": "images", "value": 90, "is_ratio": False},
        {"metric": "images rejected", "value": 0, "is_ratio": False},
        {"metric": "F1 (mean over classes)", "value": 0.9753, "is_ratio": True},
        {"metric": "accuracy (exact class set)", "value": 0.9778, "is_ratio": True}]
    assert tuning.kind == "per_class" and tuning.table["class"].tolist() == ["pits", "crazing"]
    assert tuning.table.set_index("class").loc["pits"].to_dict() == {"f1": 0.93, "threshold": 0.76, "min_area": 64}
    assert (note.kind, note.table["value"].tolist()) == ("summary", ["free text"])


def test_the_shipped_cards_render_every_section():
    for card in sorted(MODELS.glob("*/card.json")):
        metrics = json.loads(card.read_text()).get("metrics") or {}
        sections = metric_sections(metrics)
        assert {s.name for s in sections} == set(metrics) - {"figures_from"}, card
        assert all(not s.table.empty for s in sections)
