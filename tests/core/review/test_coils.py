"""Coils in the review log: a sheet's coil and position stored beside its verdict (indexed, in its message), a coil's
sheets head to tail, and its report: per-class counts, the grade by the rule (inspectors' labels first), CSV/JSON."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta

import pytest
from alembic import command as alembic_command
from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy.exc import DBAPIError

from core.contract.coil import CoilError, CoilPlace, GradeRule
from core.delivery.outbox import Outbox
from core.review.coils import coil_report, report_csv, report_json
from core.review.store import Decision, ReviewLog, migrate
from core.review.store.models import OutboxRow
from tests.core.review.test_migrate import build_release_1_2, empty_url  # noqa: F401  (fixture)
from tests.helpers.dashboard import make_verdict, noise_png

T0 = datetime(2026, 12, 9, 6, 0)
RULE = GradeRule.parse("A: 0 defects; B: <= 2 defects; C: otherwise")


def record(log: ReviewLog, seed: int, name: str, probabilities, place: CoilPlace | None, minute: int) -> int:
    data = noise_png(seed)
    return log.record_inference(make_verdict(data, name, probabilities), data, source="watch",
                                at=T0 + timedelta(minutes=minute), place=place)


@pytest.fixture
def log(tmp_path):
    log = ReviewLog(f"sqlite:///{tmp_path / 'log.db'}", tmp_path / "images", Outbox("hot-strip-1", ("mqtt",)))
    yield log
    log.close()


CLEAN, PITS, SCRATCHES = (0.1, 0.1, 0.1, 0.1), (0.9, 0.1, 0.1, 0.1), (0.1, 0.1, 0.9, 0.1)


def test_a_coils_sheets_come_back_head_to_tail_and_each_image_once(log):
    record(log, 1, "cam/C1_30m.png", PITS, CoilPlace("C1", 30.0), 0)
    record(log, 2, "cam/C1_10m.png", CLEAN, CoilPlace("C1", 10.0), 1)
    record(log, 3, "cam/C1_20m.png", SCRATCHES, CoilPlace("C1", 20.0), 2)
    record(log, 4, "cam/upload.png", PITS, None, 3)
    record(log, 5, "cam/C2_5m.png", CLEAN, CoilPlace("C2", 5.0), 4)
    again = record(log, 3, "cam/C1_20m.png", CLEAN, CoilPlace("C1", 20.0), 5)  # inspected again: latest counts

    sheets = log.coil_sheets("C1")
    assert [(s.position, s.image_name) for s in sheets] == [(10.0, "cam/C1_10m.png"), (20.0, "cam/C1_20m.png"),
                                                            (30.0, "cam/C1_30m.png")]
    assert sheets[1].inference_id == again and sheets[1].classes_present == ()
    assert log.coil_sheets("nope") == []
    assert [(c.coil, c.sheets, c.head_m, c.tail_m) for c in log.recent_coils()] == [("C1", 3, 10.0, 30.0),
                                                                                  ("C2", 1, 5.0, 5.0)]
    assert log.place_of(again) == CoilPlace("C1", 20.0) and log.place_of(4) is None
    plan = log._read(lambda s: " ".join(str(r[-1]) for r in s.execute(text(
        "EXPLAIN QUERY PLAN SELECT id FROM inferences WHERE coil = 'C1' ORDER BY position"))))
    assert "ix_inferences_coil_position" in plan, plan  # a coil's sheets: one index range, no table scan


def test_the_verdicts_message_carries_coil_and_position(log):
    placed = record(log, 1, "cam/C7_12.5m.png", PITS, CoilPlace("C7", 12.5), 0)
    bare = record(log, 2, "cam/upload.png", PITS, None, 1)
    messages = {r.inference_id: r.payload for r in log._read(lambda s: list(s.scalars(select(OutboxRow))))}
    assert (messages[placed]["coil"], messages[placed]["position_m"]) == ("C7", 12.5)
    assert (messages[bare]["coil"], messages[bare]["position_m"]) == (None, None)
    # The Verdict itself stays what the model said: no coil inside it.
    assert "coil" not in log.verdict(placed).to_dict()


def test_the_report_counts_classes_and_grades_by_the_inspectors_labels(log):
    ids = [record(log, 10 + i, f"cam/C3_{m}m.png", probs, CoilPlace("C3", float(m)), i)
           for i, (m, probs) in enumerate([(0, CLEAN), (10, PITS), (20, SCRATCHES), (30, PITS)])]
    report = coil_report(log, "C3", RULE, timezone="Europe/Berlin")
    assert report.counts == {"pits": 2, "crazing": 0, "scratches": 1, "patches": 0} and report.defective == 3
    assert (report.grade, report.grade_why) == ("C", "otherwise (3 defects)") and report.positioned
    assert report.sheets["along"].tolist() == [0.0, 10.0, 20.0, 30.0]
    assert str(report.sheets["inspected_at"].iloc[0]) == "2026-12-09 07:00:00+01:00"  # the plant's zone

    # An inspector says one pits sheet is clean: two defective sheets left, grade B, the label marked as theirs.
    log.add_review(ids[3], "sam", Decision.override(log.verdict(ids[3]), (), "a water stain"))
    report = coil_report(log, "C3", RULE)
    assert (report.grade, report.grade_why) == ("B", "<= 2 defects (2)")
    assert report.counts["pits"] == 1
    assert report.sheets["label_source"].tolist() == ["model", "model", "model", "inspector"]

    with pytest.raises(CoilError, match="counts rust, which coil C3's model sets do not know"):
        coil_report(log, "C3", GradeRule.parse("A: 0 rust; B: otherwise"))
    with pytest.raises(CoilError, match="has no sheets"):
        coil_report(log, "C404", RULE)


def test_without_positions_the_map_runs_by_sheet_number(log):
    record(log, 1, "cam/a.png", PITS, CoilPlace("P1"), 0)
    record(log, 2, "cam/b.png", CLEAN, CoilPlace("P1"), 1)
    report = coil_report(log, "P1", RULE)
    assert not report.positioned and report.sheets["along"].tolist() == [1.0, 2.0]
    assert "sheet number" in report.axis_title


def test_the_csv_and_json_exports_hold_the_whole_report(log):
    record(log, 1, "cam/=HYPERLINK(1).png", PITS, CoilPlace("C4", 5.0), 0)
    record(log, 2, "cam/ok.png", CLEAN, CoilPlace("C4", 15.0), 1)
    report = coil_report(log, "C4", RULE)
    rows = list(csv.DictReader(io.StringIO(report_csv(report))))
    assert [(r["coil"], r["coil_grade"], r["position"], r["classes"]) for r in rows] == [
        ("C4", "B", "5.0", "pits"), ("C4", "B", "15.0", "defect-free")]
    assert rows[0]["image"] == "'=HYPERLINK(1).png"  # a spreadsheet shows it, never runs it
    data = json.loads(report_json(report))
    assert (data["coil"], data["grade"], data["grade_rule"], data["sheets"]) == ("C4", "B", RULE.text, 2)
    assert data["counts"]["pits"] == 1 and data["position_unit"] == "m"
    assert [(s["position"], s["classes"]) for s in data["sheet_list"]] == [(5.0, ["pits"]), (15.0, [])]


def test_the_coils_revision_adds_indexed_columns_and_keeps_inferences_append_only(empty_url):  # noqa: F811
    """0010 is a plain ADD COLUMN: on SQLite a table rebuild would drop 0009's append-only triggers."""
    build_release_1_2(empty_url)
    engine = create_engine(empty_url)
    migrate.upgrade(engine)
    with engine.begin() as connection:
        alembic_command.downgrade(migrate._config(connection), "0009_hardening")
        assert not {"coil", "position"} & {c["name"] for c in inspect(connection).get_columns("inferences")}
        alembic_command.upgrade(migrate._config(connection), "head")
        assert {"coil", "position"} <= {c["name"] for c in inspect(connection).get_columns("inferences")}
        assert "ix_inferences_coil_position" in {i["name"] for i in inspect(connection).get_indexes("inferences")}
        assert connection.execute(text("select count(*) from inferences where coil is null")).scalar() > 0
    for statement in ("update inferences set coil = 'C1'", "delete from inferences"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
            connection.execute(text(statement))
    engine.dispose()
