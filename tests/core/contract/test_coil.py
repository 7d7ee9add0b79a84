"""A sheet's coil and position (from a file-name pattern or request fields) and a coil's grade rule."""

from __future__ import annotations

import pytest

from core.contract.coil import DEFAULT_GRADE_RULE, CoilError, CoilPattern, CoilPlace, GradeRule, place_from_fields
from core.contract.errors import SteelScanError
from core.contract.settings import load_settings

BRIEF_PATTERN = r"(?P<coil>[A-Z0-9]+)_(?P<position>\d+(\.\d+)?)m"


def test_the_pattern_reads_coil_and_position_from_a_file_name_or_its_folders():
    pattern = CoilPattern(BRIEF_PATTERN)
    assert pattern.place("H24A017_12.5m.jpg") == CoilPlace("H24A017", 12.5)
    assert pattern.place("cam1/2026-12-09/C9_300m_top.png") == CoilPlace("C9", 300.0)
    assert pattern.place("strip_0001.jpg") is None  # no match: recorded without a coil
    by_folder = CoilPattern(r"(?P<coil>C\d+)/sheet_(?P<position>\d+)")
    assert by_folder.place("C77/sheet_0042.jpg") == CoilPlace("C77", 42.0)
    assert CoilPattern(r"coil-(?P<coil>\w+)\.").place("coil-X1.jpg") == CoilPlace("X1", None)  # no position group


@pytest.mark.parametrize(("pattern", "says"), [
    (r"(?P<coil>[A-Z]+", "is not a regular expression"),
    (r"([A-Z]+)_(\d+)m", "no named group 'coil'"),
    (r"(?P<coil>[A-Z]+)_(?P<metres>\d+)m", "only 'coil' and 'position'"),
])
def test_a_pattern_that_cannot_work_is_refused_with_the_fix(pattern, says):
    with pytest.raises(CoilError, match=says):
        CoilPattern(pattern)


def test_a_coil_id_or_position_that_cannot_be_stored_is_refused():
    for bad in ("", "-starts-with-dash", "has space", "x" * 65, "=cmd|' /C calc'!A0"):
        with pytest.raises(CoilError, match="not valid"):
            CoilPlace(bad)
    for bad in (-1.0, float("nan"), float("inf"), 2e6):
        with pytest.raises(CoilError, match="out of range"):
            CoilPlace("C1", bad)
    assert CoilPlace("C1", "7.25").position == 7.25  # a form field's text
    with pytest.raises(CoilError, match="is not a number"):
        CoilPlace("C1", "seven")
    # A name the pattern matches with a coil id too long to store: the watcher logs it and records no place.
    with pytest.raises(CoilError):
        CoilPattern(r"(?P<coil>\w+)_(?P<position>\d+)m").place("A" * 70 + "_3m.jpg")


def test_request_fields_give_a_place_only_with_a_coil():
    assert place_from_fields(None, None) is None and place_from_fields("  ", "") is None
    assert place_from_fields("C5", None) == CoilPlace("C5")
    assert place_from_fields(" C5 ", 3) == CoilPlace("C5", 3.0)
    with pytest.raises(CoilError, match="without a coil id"):
        place_from_fields(None, 12.0)


def test_the_default_rule_grades_by_defective_sheets():
    rule = GradeRule.parse(DEFAULT_GRADE_RULE)
    assert rule.grade([(), (), ()]) == ("A", "<= 0 defects (0)")
    assert rule.grade([("pits",), (), ("pits", "scratches")]) == ("B", "<= 2 defects (2)")
    assert rule.grade([("pits",), ("crazing",), ("patches",)])[0] == "C"


def test_minor_major_and_class_conditions():
    rule = GradeRule.parse("A: 0 defects; B: 0 major and <= 2 minor; C: < 2 pits; D: otherwise",
                           minor_classes=["crazing", "scratches"])
    assert rule.grade([("crazing",), ("scratches", "crazing")]) == ("B", "<= 0 major (0) and <= 2 minor (2)")
    # One sheet with a non-minor class: no longer B; one pits sheet is still C.
    assert rule.grade([("crazing",), ("crazing", "pits")]) == ("C", "< 2 pits (1)")
    assert rule.grade([("pits",), ("pits",)]) == ("D", "otherwise (2 defects, 2 major, 0 minor, 2 pits)")
    assert rule.counts([("crazing", "pits"), ()]) == {"defects": 1, "minor": 0, "major": 1, "crazing": 1, "pits": 1}
    assert rule.class_names() == {"pits"}
    assert GradeRule.parse("OK: = 0 defect; NG: otherwise").grade([])[0] == "OK"
    assert GradeRule.parse("X: >= 3 defects; Y: otherwise").grade([("pits",)] * 3)[0] == "X"


@pytest.mark.parametrize(("rule", "says"), [
    ("", "is empty"),
    ("A 0 defects; C: otherwise", "does not start with a grade"),
    ("A: 0 defects; B: <= 2 defects", "end with 'GRADE: otherwise'"),
    ("A: otherwise; B: otherwise", "may only be the last"),
    ("A: 0 defects; A: otherwise", "appears twice"),
    ("A: no defects; C: otherwise", "is not '"),
    ("A: 0 defects; B: <= 2 minor; C: otherwise", "coil_minor_classes is empty"),
])
def test_a_rule_that_cannot_grade_is_refused_naming_the_part(rule, says):
    with pytest.raises(CoilError, match=says):
        GradeRule.parse(rule)


def test_settings_check_the_pattern_and_rule_when_they_load(tmp_path):
    base = {"STEELSCAN_SETTINGS": str(tmp_path / "none.toml")}
    settings = load_settings(environ={**base, "STEELSCAN_COIL_PATTERN": BRIEF_PATTERN,
                                      "STEELSCAN_COIL_MINOR_CLASSES": "crazing, scratches",
                                      "STEELSCAN_COIL_GRADE_RULE": "A: 0 defects; B: <= 2 minor; C: otherwise"})
    assert settings.coil_pattern == BRIEF_PATTERN and settings.coil_minor_classes == ["crazing", "scratches"]
    assert load_settings(environ=base).coil_grade_rule == DEFAULT_GRADE_RULE
    with pytest.raises(SteelScanError, match="coil_pattern.*no named group 'coil'.*STEELSCAN_COIL_PATTERN"):
        load_settings(environ={**base, "STEELSCAN_COIL_PATTERN": r"(\w+)_(\d+)m"})
    with pytest.raises(SteelScanError, match="coil_grade_rule.*coil_minor_classes is empty"):
        load_settings(environ={**base, "STEELSCAN_COIL_GRADE_RULE": "A: 0 defects; B: <= 2 minor; C: otherwise"})
