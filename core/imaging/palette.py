"""Class colours: one palette for every picture and chart, so a class looks the same on Inspect and Statistics.

A model set's card names each class's colour; a class without one (or a set whose card cannot be read) takes the
palette's colour at its index in the set's class list, as the Inspect overlay does. No torch, no cv2: the
Statistics page reads the card's JSON directly.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

PALETTE = ("#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#bfef45")
NEUTRAL = "#555555"  # "any defect" and other totals


def palette_color(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def card_colors(model_set_folder: str | Path) -> dict[str, str]:
    """class -> colour from a model set's card.json; {} when it cannot be read (callers fall back to the palette)."""
    try:
        card = json.loads((Path(model_set_folder) / "card.json").read_text())
        return {str(c["name"]): str(c["color"]) for c in card.get("classes", []) if "name" in c and "color" in c}
    except (OSError, ValueError, TypeError, KeyError):
        return {}


def class_colors(class_lists: Iterable[Iterable[str]], card: dict[str, str] | None = None) -> dict[str, str]:
    """A colour for every class in these class lists (each a model set's class order): the card's, else the
    palette's by the class's index in its list."""
    colors: dict[str, str] = {}
    for names in class_lists:
        for index, name in enumerate(names):
            colors.setdefault(name, (card or {}).get(name) or palette_color(index))
    return colors
