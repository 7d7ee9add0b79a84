"""Statistics for supervisors: pure functions from the review log's frames to chart-ready DataFrames.

Inputs are `ReviewLog.images_frame()` (one row per image: latest verdict, latest review) and
`ReviewLog.reviews_frame()` (every decision). Times arrive as naive UTC and are shown in the
plant's time zone; a sheet's label is its latest review, else the model's verdict.

Every filter applies to every number, chart and table (issue 37 item 11): the model sets (one by default; with
several, each class is named with its set, so two sets' classes never merge), the dates, and the classes. A class
filter keeps the sheets that concern the chosen classes (the model or the label names one, or one lies within the
band of its threshold) for everything counted per sheet or per decision; the sheets inspected stay the denominator
of the defect rate, and a decision counts as an override when it changed a chosen class.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from itertools import chain

import numpy as np
import pandas as pd

from core.contract.csvsafe import frame_to_csv

FREQS = ("hour", "shift", "day")
SHIFT_STARTS = (6, 14, 22)  # early, late, night: the common three-shift rota
ANY = "any defect"
DEFECT_FREE = "defect-free"


@dataclass(frozen=True)
class StatsFilter:
    start: date | None = None  # inclusive, local date
    end: date | None = None  # inclusive, local date
    classes: tuple[str, ...] | None = None  # None: every class seen
    freq: str = "day"
    tz: str = "UTC"
    band: float = 0.15
    shift_starts: tuple[int, ...] = SHIFT_STARTS
    model_sets: tuple[str, ...] | None = None  # None: every set (each class then named with its set)


@dataclass(frozen=True)
class StatsReport:
    images: int
    defective: int
    reviewed: int
    decisions: int
    overrides: int
    waiting: int
    defect_rate: pd.DataFrame
    areas: pd.DataFrame
    agreement: pd.DataFrame
    confusion: pd.DataFrame
    backlog: pd.DataFrame
    throughput: pd.DataFrame
    table: pd.DataFrame
    classes: tuple[str, ...] = field(default=())
    queue_waiting: int = 0  # the whole review queue now, whatever the filters (`waiting` is this selection's part)

    @property
    def override_rate(self) -> float:
        return self.overrides / self.decisions if self.decisions else 0.0

    @property
    def defect_share(self) -> float:
        return self.defective / self.images if self.images else 0.0


def to_local(times: pd.Series, tz: str) -> pd.Series:
    """Naive UTC -> naive local wall-clock time in `tz` (what a shift supervisor reads)."""
    times = pd.to_datetime(times)
    return times.dt.tz_localize("UTC").dt.tz_convert(tz).dt.tz_localize(None)


def period_start(times: pd.Series, freq: str, shift_starts: tuple[int, ...] = SHIFT_STARTS) -> pd.Series:
    """The start of each time's hour, shift or day (local times in, local times out)."""
    if freq == "hour":
        return times.dt.floor("h")
    if freq == "day":
        return times.dt.floor("D")
    if freq != "shift":
        raise ValueError(f"period {freq!r} is unknown; use one of {', '.join(FREQS)}")
    starts = np.array(sorted(shift_starts), dtype=float)
    hours = (times.dt.hour + times.dt.minute / 60 + times.dt.second / 3600).to_numpy()
    index = np.searchsorted(starts, hours, side="right") - 1
    before_first = index < 0  # e.g. 03:00 belongs to yesterday's night shift
    start_hours = np.where(before_first, starts[-1], starts[np.maximum(index, 0)])
    days = times.dt.floor("D") - pd.to_timedelta(before_first.astype(int), unit="D")
    return days + pd.to_timedelta(start_hours, unit="h")


def period_labels(periods: pd.Series, freq: str) -> pd.Series:
    """Readable period names; charts use them as categories so one period never becomes a zoom into milliseconds."""
    return periods.dt.strftime("%Y-%m-%d" if freq == "day" else "%Y-%m-%d %H:%M")


def confusion_array(confusion: pd.DataFrame) -> tuple[list[str], np.ndarray]:
    """(classes, counts[class, inspector present/absent, model present/absent]) for a grid of heatmaps."""
    order = ["present", "absent"]
    classes = list(dict.fromkeys(confusion["class_name"]))
    counts = np.zeros((len(classes), 2, 2), dtype=int)
    for row in confusion.itertuples(index=False):
        counts[classes.index(row.class_name), order.index(row.inspector), order.index(row.model)] = row.sheets
    return classes, counts


def set_class(name: str, model_set: str) -> str:
    """A class named with its model set: how classes read when several sets are shown together."""
    return f"{name} ({model_set})"


def _named(lists: list, sets: list) -> list:
    return [[set_class(n, s) for n in names] if isinstance(names, list) else names
            for names, s in zip(lists, sets, strict=True)]


def in_sets(images: pd.DataFrame, reviews: pd.DataFrame,
            model_sets: tuple[str, ...] | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The sheets and decisions of these model sets (None: all; a decision belongs to the set whose verdict it
    answered). When more than one set remains, every class is named with its set: one set's crazing and another's
    are two classes, never one line, one bar or one colour."""
    if model_sets is not None:
        images = images[images["model_set"].isin(model_sets)]
        reviews = reviews[reviews["model_set"].isin(model_sets)]
    if len(set(images["model_set"]) | set(reviews["model_set"])) <= 1:
        return images, reviews
    image_sets, review_sets = images["model_set"].tolist(), reviews["model_set"].tolist()
    regions = [[{**r, "class": set_class(r["class"], s)} for r in rs]
               for rs, s in zip(images["regions"].tolist(), image_sets, strict=True)]
    images = images.assign(**{c: _named(images[c].tolist(), image_sets)
                              for c in ("class_names", "model_classes", "final_classes")}, regions=regions)
    reviews = reviews.assign(**{c: _named(reviews[c].tolist(), review_sets)
                                for c in ("class_names", "model_classes", "classes")})
    return images, reviews


def class_options(images: pd.DataFrame, reviews: pd.DataFrame, model_sets: tuple[str, ...] | None) -> tuple[str, ...]:
    """The classes a class filter offers for these sets, named as `compute` names them."""
    return all_classes(in_sets(images, reviews, model_sets)[0])


def flagged(images: pd.DataFrame, band: float) -> pd.Series:
    """The queue's rule on the images frame (core.review.store.sampling.queued): defective, within `band` of a
    threshold, or sampled to teach the model."""
    sampled = images["sampled"].notna() if "sampled" in images else False
    return images["defective"].astype(bool) | (images["margin"] < band) | sampled


def concerning(images: pd.DataFrame, classes: tuple[str, ...], band: float) -> np.ndarray:
    """Which sheets a class filter keeps: the model or the label names a chosen class, or a chosen class's
    probability lies within `band` of its threshold (the sheet is uncertain about it)."""
    calls = class_calls(images, classes)
    near = (calls["probability"] - calls["threshold"]).abs() < band
    kept = calls.loc[calls["model_present"] | calls["present"] | near, "row"]
    return images.index.isin(kept.unique())


def _decisions_about(reviews: pd.DataFrame, classes: tuple[str, ...], shas) -> tuple[np.ndarray, np.ndarray]:
    """(the decisions about the chosen classes: on a sheet that concerns them, or naming one; which of them changed
    the model's call on a chosen class)."""
    chosen = set(classes)
    model, label = reviews["model_classes"].tolist(), reviews["classes"].tolist()
    names = np.array([bool(chosen & (set(m) | set(c))) for m, c in zip(model, label, strict=True)], dtype=bool)
    about = reviews["image_sha256"].isin(shas).to_numpy() | names
    changed = np.array([(set(m) & chosen) != (set(c) & chosen) for m, c in zip(model, label, strict=True)],
                       dtype=bool)
    return about, changed


def all_classes(images: pd.DataFrame) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for names in images.get("class_names", []):
        seen.update(dict.fromkeys(names))
    return tuple(seen)


def current_classes(images: pd.DataFrame) -> pd.Series:
    """The label of each sheet: its latest review's classes, else the model's (the frame's own lists, not copies)."""
    columns = (images[c].tolist() for c in ("final_classes", "model_classes", "reviewed"))
    labels = [final if reviewed else model for final, model, reviewed in zip(*columns, strict=True)]
    return pd.Series(labels, index=images.index, dtype=object)


def _in_dates(local: pd.Series, start: date | None, end: date | None) -> pd.Series:
    keep = pd.Series(True, index=local.index)
    if start is not None:
        keep &= local.dt.date >= start
    if end is not None:
        keep &= local.dt.date <= end
    return keep


def class_calls(images: pd.DataFrame, classes: tuple[str, ...]) -> pd.DataFrame:
    """Long table: one row per (sheet, class the sheet's model set knows and the filter keeps).

    Built from plain lists and numpy (flatten, repeat, mask): no pandas call per row, so 10,000 sheets take
    milliseconds, not seconds."""
    columns = ["row", "image_sha256", "local_time", "class_name", "probability", "threshold", "model_present",
               "present", "reviewed"]
    if images.empty:
        return pd.DataFrame(columns=columns)
    names_per_sheet = images["class_names"].tolist()
    sheet = np.repeat(np.arange(len(images)), [len(names) for names in names_per_sheet])
    names = np.array(list(chain.from_iterable(names_per_sheet)), dtype=object)
    keep = np.isin(names, list(classes))
    sheet, names = sheet[keep], names[keep].tolist()
    flat = {column: np.array(list(chain.from_iterable(images[column].tolist())), dtype=float)[keep]
            for column in ("probabilities", "thresholds")}
    model = images["model_classes"].tolist()
    label = current_classes(images).tolist()
    return pd.DataFrame({
        "row": images.index.to_numpy()[sheet], "image_sha256": images["image_sha256"].to_numpy()[sheet],
        "local_time": images["local_time"].to_numpy()[sheet], "class_name": names,
        "probability": flat["probabilities"], "threshold": flat["thresholds"],
        "model_present": [n in model[i] for n, i in zip(names, sheet.tolist(), strict=True)],
        "present": [n in label[i] for n, i in zip(names, sheet.tolist(), strict=True)],
        "reviewed": images["reviewed"].to_numpy(dtype=bool)[sheet],
    }, columns=columns)


def defect_rate(images: pd.DataFrame, classes: tuple[str, ...], freq: str,
                shift_starts: tuple[int, ...] = SHIFT_STARTS) -> pd.DataFrame:
    """Per period and class: sheets, sheets with the class, rate; plus 'any defect' over the classes."""
    columns = ["period", "class_name", "sheets", "defective", "rate"]  # + period_label
    calls = class_calls(images, classes)
    if calls.empty:
        return pd.DataFrame(columns=columns)
    calls["period"] = period_start(calls["local_time"], freq, shift_starts)
    per_class = (calls.groupby(["period", "class_name"], sort=True)
                 .agg(sheets=("image_sha256", "nunique"), defective=("present", "sum")).reset_index())
    per_sheet = calls.groupby(["period", "image_sha256"])["present"].any().reset_index()
    overall = (per_sheet.groupby("period").agg(sheets=("image_sha256", "nunique"), defective=("present", "sum"))
               .reset_index().assign(class_name=ANY))
    table = pd.concat([per_class, overall], ignore_index=True)
    table["defective"] = table["defective"].astype(int)
    table["rate"] = table["defective"] / table["sheets"]
    table = table[columns].sort_values(["period", "class_name"], ignore_index=True)
    return table.assign(period_label=period_labels(table["period"], freq))


def area_distribution(images: pd.DataFrame, classes: tuple[str, ...]) -> pd.DataFrame:
    """Every defect region the model found: class, area in pixels, sheet."""
    wanted = set(classes)
    rows = [(name, at, region["class"], int(region["area_px"]))
            for name, at, regions in zip(images["image_name"].tolist(), images["local_time"].tolist(),
                                         images["regions"].tolist(), strict=True)
            for region in regions if region["class"] in wanted]
    return pd.DataFrame(rows, columns=["image_name", "local_time", "class_name", "area_px"])


def area_summary(areas: pd.DataFrame) -> pd.DataFrame:
    """Per class: regions and the five numbers of a box plot (min, quartiles, max) of their areas in pixels.

    The chart draws these, not every region: 10,000 sheets have tens of thousands of regions."""
    columns = ["class_name", "regions", "min", "q1", "median", "q3", "max"]
    if areas.empty:
        return pd.DataFrame(columns=columns)
    grouped = areas.groupby("class_name", sort=False)["area_px"]
    table = grouped.agg(regions="count", min="min", max="max").join(
        grouped.quantile([0.25, 0.5, 0.75]).unstack().set_axis(["q1", "median", "q3"], axis=1))
    return table.reset_index()[columns]


def agreement(reviews: pd.DataFrame, classes: tuple[str, ...]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Model versus inspector on each sheet's latest review: a summary per class and the confusion counts."""
    summary_columns = ["class_name", "reviewed", "agree", "model_missed", "false_alarm", "agreement"]
    confusion_columns = ["class_name", "model", "inspector", "sheets"]
    latest = reviews.groupby("image_sha256").tail(1)
    summaries, confusion = [], []
    for name in classes:
        scope = latest[latest["class_names"].map(lambda names, n=name: n in names)]
        if scope.empty:
            continue
        inspector = np.array([name in c for c in scope["classes"].tolist()], dtype=bool)
        model = np.array([name in c for c in scope["model_classes"].tolist()], dtype=bool)
        # rows: inspector, cols: model (counted here: importing scikit-learn for a 2x2 cost the page's first open ~1 s)
        tp, fp = int(np.sum(inspector & model)), int(np.sum(~inspector & model))
        fn, tn = int(np.sum(inspector & ~model)), int(np.sum(~inspector & ~model))
        summaries.append((name, len(scope), int(tp + tn), int(fn), int(fp), (tp + tn) / len(scope)))
        for model_says, inspector_says, count in (("present", "present", tp), ("present", "absent", fp),
                                                  ("absent", "present", fn), ("absent", "absent", tn)):
            confusion.append((name, model_says, inspector_says, int(count)))
    return pd.DataFrame(summaries, columns=summary_columns), pd.DataFrame(confusion, columns=confusion_columns)


def backlog_over_time(images: pd.DataFrame, band: float, freq: str,
                      shift_starts: tuple[int, ...] = SHIFT_STARTS) -> pd.DataFrame:
    """Sheets waiting for review at the end of each period with activity (flagged, not yet reviewed)."""
    waiting = images[flagged(images, band)]
    arrivals = pd.DataFrame({"time": waiting["local_time"], "change": 1})
    cleared = pd.DataFrame({"time": waiting["local_reviewed"].dropna(), "change": -1})
    events = pd.concat([arrivals, cleared], ignore_index=True).sort_values("time", kind="stable")
    if events.empty:
        return pd.DataFrame(columns=["period", "waiting"])
    events["waiting"] = events["change"].cumsum()
    events["period"] = period_start(events["time"], freq, shift_starts)
    backlog = events.groupby("period", sort=True)["waiting"].last().reset_index()
    return backlog.assign(period_label=period_labels(backlog["period"], freq))


def throughput(reviews: pd.DataFrame, freq: str, shift_starts: tuple[int, ...] = SHIFT_STARTS) -> pd.DataFrame:
    """Decisions per inspector per period, and how many of them overrode the model."""
    columns = ["period", "reviewer", "decisions", "overrides"]
    if reviews.empty:
        return pd.DataFrame(columns=columns)
    overrides = reviews["override"] if "override" in reviews else reviews["decision"].eq("override")
    frame = reviews.assign(period=period_start(reviews["local_time"], freq, shift_starts), override=overrides)
    table = (frame.groupby(["period", "reviewer"], sort=True)
             .agg(decisions=("review_id", "count"), overrides=("override", "sum")).reset_index())
    table["overrides"] = table["overrides"].astype(int)
    return table[columns].assign(period_label=period_labels(table["period"], freq))


def _in_zone(times: pd.Series, tz: str) -> pd.Series:
    """Naive UTC -> aware times in the plant's zone: the CSV writes each with its offset (07:00:00+01:00)."""
    return pd.to_datetime(times).dt.tz_localize("UTC").dt.tz_convert(tz)


def _class_list(lists: pd.Series) -> pd.Series:
    return lists.map(lambda names: ";".join(names) or DEFECT_FREE)


def sheet_table(images: pd.DataFrame, classes: tuple[str, ...], tz: str = "UTC") -> pd.DataFrame:
    """The filtered per-sheet table a supervisor downloads as CSV: times in the plant's zone with their offset, the
    reason of the latest decision, how unfamiliar the sheet looked, and "defect-free" written out (never blank)."""
    level = images["domain_level"] if "domain_level" in images else pd.Series(None, index=images.index)
    table = pd.DataFrame({
        "inspected_at": _in_zone(images["inspected_at"], tz),
        "image": images["image_name"],
        "sha256": images["image_sha256"],
        "model_set": images["model_set"] + "@" + images["model_version"],
        "model_trained": images["model_trained"],
        "model_verdict": np.where(images["defective"], "defective", "clean"),
        "model_classes": _class_list(images["model_classes"]),
        "unfamiliarity": images["ood_score"] if "ood_score" in images else np.nan,
        "familiarity": level.fillna("").replace("", "not measured"),
        "reviewed": images["reviewed"],
        "reviewer": images["reviewer"].fillna(""),
        "decision": images["decision"].fillna("not reviewed"),
        "label_classes": _class_list(current_classes(images)),
        "reason": images["reason"].fillna("") if "reason" in images else "",
        "reviewed_at": _in_zone(images["decided_at"], tz),
    })
    by_class = [dict(zip(n, p, strict=True)) for n, p in zip(images["class_names"].tolist(),
                                                                images["probabilities"].tolist(), strict=True)]
    for name in classes:
        table[f"p_{name}"] = [probabilities.get(name, np.nan) for probabilities in by_class]
    return table.sort_values("inspected_at", ignore_index=True)


def sheet_csv(table: pd.DataFrame) -> str:
    """The Statistics download: the per-sheet table as CSV, formula-leading text neutralised (OWASP)."""
    return frame_to_csv(table)


def compute(images: pd.DataFrame, reviews: pd.DataFrame, filters: StatsFilter, waiting: int) -> StatsReport:
    """Everything the Statistics page shows, for one set of filters (`waiting`: the whole queue now)."""
    images, reviews = in_sets(images, reviews, filters.model_sets)
    every = all_classes(images)
    classes = filters.classes if filters.classes is not None else every
    narrowed = not set(every) <= set(classes)  # a class filter that leaves some class out
    images = images.assign(local_time=to_local(images["inspected_at"], filters.tz),
                           local_reviewed=to_local(images["first_reviewed_at"], filters.tz),
                           local_reviewed_latest=to_local(images["decided_at"], filters.tz))
    reviews = reviews.assign(local_time=to_local(reviews["decided_at"], filters.tz))
    if narrowed:
        images_about = images[concerning(images, classes, filters.band)]
        about, changed = _decisions_about(reviews, classes, images_about["image_sha256"])
        reviews = reviews.assign(override=changed)[about]
    else:
        images_about = images
        reviews = reviews.assign(override=reviews["decision"].eq("override").to_numpy(dtype=bool))
    shown = images[_in_dates(images["local_time"], filters.start, filters.end)]
    kept = images_about[_in_dates(images_about["local_time"], filters.start, filters.end)]
    decided = reviews[_in_dates(reviews["local_time"], filters.start, filters.end)]
    labels = current_classes(shown)
    defective = int(sum(any(c in classes for c in label) for label in labels))
    backlog = backlog_over_time(images_about, filters.band, filters.freq, filters.shift_starts)
    if not backlog.empty:
        backlog = backlog[_in_dates(backlog["period"], filters.start, filters.end)].reset_index(drop=True)
    summary, confusion = agreement(decided, classes)
    return StatsReport(
        images=len(shown), defective=defective, reviewed=int(kept["reviewed"].sum()),
        decisions=len(decided), overrides=int(decided["override"].sum()),
        waiting=int((flagged(kept, filters.band) & ~kept["reviewed"].astype(bool)).sum()),
        defect_rate=defect_rate(shown, classes, filters.freq, filters.shift_starts),
        areas=area_distribution(shown, classes), agreement=summary, confusion=confusion, backlog=backlog,
        throughput=throughput(decided, filters.freq, filters.shift_starts),
        table=sheet_table(kept, classes, filters.tz), classes=classes, queue_waiting=waiting,
    )
