"""A coil's report for supervisors: its sheets along its length, per-class counts, its grade by the plant's rule
(setting coil_grade_rule, core.contract.coil.GradeRule), and the same report as CSV and JSON. The Coils page draws
it; no streamlit here.

A sheet's classes are its label: the latest inspector decision when there is one, else the model's verdict (as on
the Statistics page), so a grade follows the inspectors' corrections.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC
from zoneinfo import ZoneInfo

import pandas as pd

from core.contract.coil import CoilError, GradeRule
from core.contract.csvsafe import frame_to_csv
from core.review.store import ReviewLog
from core.review.store.coils import CoilSummary

SHEET_COLUMNS = ["sheet", "inference_id", "image", "image_sha256", "position", "along", "classes", "label_source",
                 "defective", "model_set", "out_of_domain", "source", "inspected_at"]


@dataclass(frozen=True)
class CoilReport:
    coil: str
    sheets: pd.DataFrame  # SHEET_COLUMNS, head to tail; `along` is the map's x: position, else the sheet number
    class_names: tuple[str, ...]  # the classes of the coil's model sets, in their order
    counts: dict[str, int]  # class -> sheets labelled with it (every class of class_names, 0 included)
    defective: int  # sheets with any defect
    grade: str
    grade_why: str  # the conditions that gave the grade, with the coil's counts
    rule: str
    positioned: bool  # every sheet has a position: the map's x is metres, else the sheet number

    @property
    def axis_title(self) -> str:
        return "position along the coil (m)" if self.positioned else "sheet number (no positions recorded)"


def recent_coils(log: ReviewLog, limit: int = 50) -> list[CoilSummary]:
    return log.recent_coils(limit)


def coil_report(log: ReviewLog, coil: str, rule: GradeRule, timezone: str = "UTC") -> CoilReport:
    """The coil's report; CoilError when the log has no sheet of it or the rule names a class its sets lack."""
    sheets = log.coil_sheets(coil)
    if not sheets:
        raise CoilError(f"coil {coil!r} has no sheets in the review log: pick one of the recent coils, or check the "
                        "watcher's coil_pattern and the API's coil field")
    labels = log.current_labels(s.image_sha256 for s in sheets)
    class_names: list[str] = []
    for sheet in sheets:
        class_names += [n for n in sheet.class_names if n not in class_names]
    unknown = sorted(rule.class_names() - set(class_names))
    if unknown:
        raise CoilError(f"coil_grade_rule counts {', '.join(unknown)}, which coil {coil}'s model sets do not know: "
                        f"use defects, minor, major or one of {', '.join(class_names)}")
    zone = ZoneInfo(timezone)
    positioned = all(s.position is not None for s in sheets)
    rows = []
    for number, sheet in enumerate(sheets, start=1):
        label = labels.get(sheet.image_sha256)
        classes = tuple(label.classes) if label is not None else sheet.classes_present
        rows.append((number, sheet.inference_id, sheet.image_name.replace("\\", "/").rsplit("/", 1)[-1],
                     sheet.image_sha256, sheet.position, sheet.position if positioned else float(number), classes,
                     "inspector" if label is not None else "model", bool(classes), sheet.model_set,
                     sheet.out_of_domain, sheet.source,
                     sheet.inspected_at.replace(tzinfo=UTC).astimezone(zone)))
    frame = pd.DataFrame(rows, columns=SHEET_COLUMNS)
    grade, why = rule.grade(list(frame["classes"]))
    counts = {name: int(sum(name in c for c in frame["classes"])) for name in class_names}
    return CoilReport(coil, frame, tuple(class_names), counts, int(frame["defective"].sum()), grade, why, rule.text,
                      positioned)


def report_csv(report: CoilReport) -> str:
    """One row per sheet, head to tail, with the coil and its grade on each row (formula-leading text neutralised)."""
    table = report.sheets.drop(columns=["along"]).assign(
        classes=report.sheets["classes"].map(lambda c: " ".join(c) or "defect-free"),
        inspected_at=report.sheets["inspected_at"].map(lambda t: t.isoformat(timespec="seconds")))
    table.insert(0, "coil", report.coil)
    table.insert(1, "coil_grade", report.grade)
    return frame_to_csv(table)


def report_json(report: CoilReport) -> str:
    """The coil, its grade (with the rule and why), per-class counts and every sheet, as JSON."""
    sheets = [{"sheet": int(r.sheet), "inference_id": int(r.inference_id), "image": r.image,
               "image_sha256": r.image_sha256, "position": None if pd.isna(r.position) else float(r.position),
               "classes": list(r.classes), "label_source": r.label_source, "defective": bool(r.defective),
               "model_set": r.model_set, "out_of_domain": bool(r.out_of_domain), "source": r.source,
               "inspected_at": r.inspected_at.isoformat(timespec="seconds")}
              for r in report.sheets.itertuples()]
    return json.dumps({"coil": report.coil, "grade": report.grade, "grade_rule": report.rule,
                       "grade_why": report.grade_why, "sheets": len(sheets), "defective_sheets": report.defective,
                       "counts": report.counts, "position_unit": "m" if report.positioned else None,
                       "sheet_list": sheets}, indent=2)
