"""Threshold what-if: a class's threshold moved on the plant's own sheets before anyone applies it.

One plain frame holds what every figure needs (`class_scores`): one row per (sheet, class) with the active model
set's score for the class, when it scored the sheet, and the inspectors' label (the sheet's latest decision:
the class confirmed present or not; unreviewed sheets have none). From it, pure functions:
- on the reviewed sheets (all of them): the score histogram split by the label, the precision-recall curve,
  precision and recall at a threshold;
- on every sheet the set scored in the last N days: how many a threshold flags, how many confirmed sheets score
  below it (missed), and the flagged sheets per shift (the review queue's load; shifts as the Statistics page's).

A sheet counts as flagged for a class when its score reaches the threshold (the engine's rule,
core.engine.postprocess.classes_called); the minimum-area rule may still clear a few of them, and a single-label
set calls only its top class. The log's frame comes from `ReviewLog.model_scores_frame` by the weights'
fingerprint, so two sets' scores never mix. Applying a threshold is core.review.active.change_threshold (logged).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import chain

import numpy as np
import pandas as pd

from core.contract.errors import SteelScanError
from core.review.stats import SHIFT_STARTS, period_labels, period_start, to_local

SCORE_COLUMNS = ["image_sha256", "inferred_at", "class_name", "score", "reviewed", "confirmed"]
CURVE_COLUMNS = ["threshold", "precision", "recall", "flagged", "hits"]
SHIFT_COLUMNS = ["shift", "shift_label", "sheets", "flagged_now", "flagged_new"]


@dataclass(frozen=True)
class Window:
    """The last `days` days up to `now` (naive UTC, as the log stores times); shifts in the plant's time zone."""

    days: int = 7
    now: pd.Timestamp | None = None  # None: the newest sheet's time (tests, replays)
    tz: str = "UTC"
    shift_starts: tuple[int, ...] = SHIFT_STARTS

    def __post_init__(self) -> None:
        if int(self.days) < 1:
            raise SteelScanError("Last N days", f"{self.days} is under 1", "look back at least one day")

    @classmethod
    def ending_now(cls, days: int, tz: str, shift_starts: tuple[int, ...] = SHIFT_STARTS) -> Window:
        return cls(days, pd.Timestamp.now("UTC").tz_localize(None), tz, shift_starts)


@dataclass(frozen=True)
class ThresholdCounts:
    """What one threshold does. Window counts cover every sheet the set scored in the window; precision and
    recall cover every reviewed sheet (None where nothing to divide by)."""

    threshold: float
    sheets: int  # scored in the window
    flagged: int  # of those, scoring at or above the threshold
    confirmed: int  # of those, confirmed present by their latest decision
    missed: int  # confirmed ones scoring below the threshold
    precision: float | None  # reviewed sheets: confirmed share of the flagged ones
    recall: float | None  # reviewed sheets: flagged share of the confirmed ones


@dataclass(frozen=True)
class WhatIf:
    class_name: str
    now: ThresholdCounts  # the threshold in force
    new: ThresholdCounts  # the threshold under the slider
    shifts: pd.DataFrame  # SHIFT_COLUMNS: per shift of the window, sheets scored and flagged at each threshold
    since: pd.Timestamp  # the window's start, naive UTC
    reviewed: int  # reviewed sheets of the class (all time)
    positives: int  # of them, confirmed present


def class_scores(sheets: pd.DataFrame) -> pd.DataFrame:
    """`ReviewLog.model_scores_frame()` (one row per sheet, lists per class) -> one row per (sheet, class).

    Built from flat lists (no pandas call per row): 10,000 sheets take milliseconds."""
    if sheets.empty:
        return pd.DataFrame(columns=SCORE_COLUMNS).astype(
            {"inferred_at": "datetime64[ns]", "score": float, "reviewed": bool, "confirmed": bool})
    names_per_sheet = sheets["class_names"].tolist()
    sheet = np.repeat(np.arange(len(sheets)), [len(names) for names in names_per_sheet])
    names = list(chain.from_iterable(names_per_sheet))
    labels = [set(label) if reviewed else set() for label, reviewed in
              zip(sheets["label_classes"].tolist(), sheets["reviewed"].tolist(), strict=True)]
    return pd.DataFrame({
        "image_sha256": sheets["image_sha256"].to_numpy()[sheet],
        "inferred_at": sheets["inferred_at"].to_numpy()[sheet],
        "class_name": names,
        "score": np.fromiter(chain.from_iterable(sheets["probabilities"].tolist()), dtype=float, count=len(names)),
        "reviewed": sheets["reviewed"].to_numpy(dtype=bool)[sheet],
        "confirmed": [name in labels[i] for name, i in zip(names, sheet.tolist(), strict=True)],
    }, columns=SCORE_COLUMNS)


def scores_from_log(log, model_fingerprint: str) -> pd.DataFrame:
    """The what-if's frame for the model set with these weights, read from the review log."""
    return class_scores(log.model_scores_frame(model_fingerprint))


def of_class(scores: pd.DataFrame, class_name: str) -> pd.DataFrame:
    """One class's rows; a clear error naming the classes there are when it has none."""
    rows = scores[scores["class_name"] == class_name]
    if rows.empty and not scores.empty:
        known = ", ".join(dict.fromkeys(scores["class_name"]))
        raise SteelScanError("Class", f"{class_name!r} has no scores from this model set", f"choose one of {known}")
    return rows


def reviewed_scores(scores: pd.DataFrame, class_name: str) -> pd.DataFrame:
    """The class's reviewed sheets, with `label` for people: "confirmed" or "not present"."""
    rows = of_class(scores, class_name)
    rows = rows[rows["reviewed"]]
    return rows.assign(label=np.where(rows["confirmed"], "confirmed", "not present"))


def precision_recall(scores: pd.DataFrame, class_name: str) -> pd.DataFrame:
    """The class's precision-recall curve on its reviewed sheets: one row per distinct score, highest first
    (threshold = that score: every sheet scoring at least it is flagged). Empty without a confirmed sheet."""
    rows = reviewed_scores(scores, class_name)
    positives = int(rows["confirmed"].sum())
    if not positives:
        return pd.DataFrame(columns=CURVE_COLUMNS)
    order = np.argsort(-rows["score"].to_numpy(), kind="stable")
    score = rows["score"].to_numpy()[order]
    hits = np.cumsum(rows["confirmed"].to_numpy()[order])
    last = np.r_[score[1:] != score[:-1], True]  # the last row of each tie: everything scoring that much is flagged
    flagged = np.arange(1, len(score) + 1)[last]
    return pd.DataFrame({"threshold": score[last], "precision": hits[last] / flagged, "recall": hits[last] / positives,
                         "flagged": flagged, "hits": hits[last]}, columns=CURVE_COLUMNS)


def _window_rows(rows: pd.DataFrame, window: Window) -> tuple[pd.DataFrame, pd.Timestamp]:
    end = window.now if window.now is not None else rows["inferred_at"].max()
    if pd.isna(end):  # no sheet at all: the window ends now
        end = pd.Timestamp.now("UTC").tz_localize(None)
    since = pd.Timestamp(end) - pd.Timedelta(days=int(window.days))
    return rows[rows["inferred_at"] >= since], since


def counts(scores: pd.DataFrame, class_name: str, threshold: float, window: Window) -> ThresholdCounts:
    """What `threshold` does for `class_name`: counted straight from the rows."""
    if not 0.0 <= float(threshold) <= 1.0:
        raise SteelScanError(f"{class_name} threshold", f"{threshold} is outside 0..1", "choose a probability")
    rows = of_class(scores, class_name)
    recent, _ = _window_rows(rows, window)
    flagged = recent["score"] >= threshold
    confirmed = recent["confirmed"]
    reviewed = rows[rows["reviewed"]]
    called = reviewed["score"] >= threshold
    hits = int((called & reviewed["confirmed"]).sum())
    return ThresholdCounts(
        threshold=float(threshold), sheets=len(recent), flagged=int(flagged.sum()), confirmed=int(confirmed.sum()),
        missed=int((confirmed & ~flagged).sum()),
        precision=hits / int(called.sum()) if called.any() else None,
        recall=hits / int(reviewed["confirmed"].sum()) if reviewed["confirmed"].any() else None)


def shift_load(scores: pd.DataFrame, class_name: str, now: float, new: float, window: Window) -> pd.DataFrame:
    """Per shift of the window (plant time, shifts that scored a sheet): sheets scored, and how many the threshold
    in force and the new one flag (the review queue's load from this class)."""
    recent, _ = _window_rows(of_class(scores, class_name), window)
    if recent.empty:
        return pd.DataFrame(columns=SHIFT_COLUMNS)
    shift = period_start(to_local(recent["inferred_at"], window.tz), "shift", window.shift_starts)
    table = (recent.assign(shift=shift.to_numpy(), flagged_now=recent["score"] >= now,
                           flagged_new=recent["score"] >= new)
             .groupby("shift", sort=True).agg(sheets=("image_sha256", "count"), flagged_now=("flagged_now", "sum"),
                                              flagged_new=("flagged_new", "sum")).reset_index())
    table[["flagged_now", "flagged_new"]] = table[["flagged_now", "flagged_new"]].astype(int)
    return table.assign(shift_label=period_labels(table["shift"], "shift"))[SHIFT_COLUMNS]


def what_if(scores: pd.DataFrame, class_name: str, now: float, new: float, window: Window) -> WhatIf:
    """Everything the what-if view shows for one class: the threshold in force against the one under the slider."""
    rows = of_class(scores, class_name)
    _, since = _window_rows(rows, window)
    reviewed = rows[rows["reviewed"]]
    return WhatIf(class_name, counts(scores, class_name, now, window), counts(scores, class_name, new, window),
                  shift_load(scores, class_name, now, new, window), since, len(reviewed),
                  int(reviewed["confirmed"].sum()))



def in_force(changes: pd.DataFrame, model_fingerprint: str, class_name: str, card_default: float) -> str:
    """Where the class's threshold in force comes from, for people: the card, or the last logged change
    (`ReviewLog.setting_changes()`: who, when, why) for exactly these weights."""
    mine = changes[(changes["key"] == "threshold") & (changes["model_fingerprint"] == model_fingerprint)
                   & (changes["class_name"] == class_name)]
    if mine.empty:
        return f"{card_default:.2f}, the card's default"
    last = mine.iloc[-1]
    when = pd.Timestamp(last["changed_at"]).strftime("%Y-%m-%d %H:%M UTC")
    why = f": {last['reason']}" if last["reason"] else ""
    return f"{float(last['new_value']):.2f}, set by {last['changed_by']} on {when}{why}"
