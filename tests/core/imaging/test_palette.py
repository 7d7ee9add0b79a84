"""One class palette: the card's colours where it names them, else the palette by class index, as Inspect draws."""

from __future__ import annotations

import json

from core.imaging.palette import PALETTE, card_colors, class_colors
from core.modelsets.modelset import PALETTE as MODELSET_PALETTE
from core.modelsets.modelset import read_card


def test_charts_take_a_model_sets_card_colours(tiny_set):
    card = read_card(tiny_set)
    colors = card_colors(tiny_set)
    assert colors == {c.name: c.color for c in card.classes}  # what the Inspect overlay uses
    assert class_colors([card.class_names], colors) == colors


def test_classes_without_a_card_colour_take_the_palette_by_index(tmp_path):
    assert MODELSET_PALETTE is PALETTE  # one palette, not two copies that drift
    assert card_colors(tmp_path / "missing") == {}
    (tmp_path / "card.json").write_text(json.dumps({"classes": [{"name": "pits", "color": "#010203"}]}))
    colors = class_colors([("pits", "crazing"), ("inclusion", "pits", "rust")], card_colors(tmp_path))
    assert colors == {"pits": "#010203", "crazing": PALETTE[1], "inclusion": PALETTE[0], "rust": PALETTE[2]}
