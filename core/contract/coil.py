"""Where a sheet lies on its coil, read from the line: a coil (or part) id and a position along it, and the coil's
grade rule. Pure functions, no database, no pandas: settings validate with them, the watcher, the API and the
Coils page use them.

A sheet's place is the line's context, not the model's output: the same image inspected again (another model set,
a replay) lies at the same place on the same coil, and a verdict made without a line (an upload, batch scoring)
has none. So it is recorded beside the Verdict, in the inference's own columns (InferenceRow.coil/.position),
never inside it: the Verdict stays what the model said.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import PurePath

COIL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
MAX_POSITION = 1_000_000.0  # metres (or a sheet index): beyond any coil


class CoilError(ValueError):
    """A coil id, position, file-name pattern or grade rule that cannot be used; the message says how to fix it."""


@dataclass(frozen=True)
class CoilPlace:
    """A sheet's coil id and its position along the coil: metres from the head end, or a sheet index where the
    line counts sheets (None: the coil is known, the position not)."""

    coil: str
    position: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.coil, str) or not COIL_ID.match(self.coil):
            raise CoilError(f"coil id {self.coil!r} is not valid: use 1 to 64 letters, digits, '_', '.' or '-', "
                            "starting with a letter or digit")
        if self.position is not None:
            try:
                position = float(self.position)
            except (TypeError, ValueError):
                raise CoilError(f"position {self.position!r} of coil {self.coil} is not a number: give metres "
                                "from the head end (or a sheet index)") from None
            if not math.isfinite(position) or not 0 <= position <= MAX_POSITION:
                raise CoilError(f"position {self.position!r} of coil {self.coil} is out of range: give metres "
                                f"from the head end, 0 to {MAX_POSITION:g}")
            object.__setattr__(self, "position", position)


def place_from_fields(coil: str | None, position: float | str | None) -> CoilPlace | None:
    """A place from a request's fields (None when neither is given); a position without a coil is refused."""
    coil = (coil or "").strip()
    if position in (None, ""):
        position = None
    if not coil:
        if position is not None:
            raise CoilError("a position was given without a coil id: send coil too (or neither)")
        return None
    return CoilPlace(coil, position)


@dataclass(frozen=True)
class CoilPattern:
    """The watcher's file-name pattern (setting coil_pattern): a regular expression with a named group `coil` and,
    optionally, `position`, searched in the file's path below the watched folder, e.g.
    `(?P<coil>[A-Z0-9]+)_(?P<position>\\d+(\\.\\d+)?)m` finds coil C123 at 12.5 m in `C123_12.5m.jpg`."""

    pattern: str

    def __post_init__(self) -> None:
        try:
            compiled = re.compile(self.pattern)
        except re.error as exc:
            raise CoilError(f"coil_pattern {self.pattern!r} is not a regular expression ({exc})") from None
        if "coil" not in compiled.groupindex:
            raise CoilError(f"coil_pattern {self.pattern!r} has no named group 'coil': write (?P<coil>...) around "
                            "the coil id, and (?P<position>...) around the metres")
        unknown = set(compiled.groupindex) - {"coil", "position"}
        if unknown:
            raise CoilError(f"coil_pattern {self.pattern!r} has named groups {sorted(unknown)}: only 'coil' and "
                            "'position' are read")
        object.__setattr__(self, "_compiled", compiled)

    def place(self, path: str | PurePath) -> CoilPlace | None:
        """The place the path names; None when the pattern does not match. A match whose coil or position is not
        valid raises CoilError (the watcher records the sheet without a place and says why)."""
        found = self._compiled.search(PurePath(path).as_posix())
        if found is None or not found.group("coil"):
            return None
        position = found.groupdict().get("position")
        return CoilPlace(found.group("coil"), float(position) if position else None)


# -- the grade rule ---------------------------------------------------------------------------------------------

DEFAULT_GRADE_RULE = "A: 0 defects; B: <= 2 defects; C: otherwise"
GRADE = re.compile(r"^[A-Za-z0-9+-]{1,8}$")
CONDITION = re.compile(r"^(<=|>=|<|>|=)?\s*(\d+)\s+(\S.*)$")
GROUPS = ("defects", "minor", "major")  # defective sheets: any, only minor classes, with any other class
_COMPARE = {"<=": int.__le__, "<": int.__lt__, ">=": int.__ge__, ">": int.__gt__, "=": int.__eq__}


@dataclass(frozen=True)
class Condition:
    op: str  # <= < >= > =
    count: int
    what: str  # defects | minor | major | a class name

    def holds(self, counts: dict[str, int]) -> bool:
        return _COMPARE[self.op](counts.get(self.what, 0), self.count)

    def __str__(self) -> str:
        return f"{self.op} {self.count} {self.what}"


@dataclass(frozen=True)
class GradeClause:
    grade: str
    conditions: tuple[Condition, ...]  # all must hold; () = otherwise


@dataclass(frozen=True)
class GradeRule:
    """A coil's grade from its counts of defective sheets (setting coil_grade_rule), e.g.
    `A: 0 defects; B: <= 2 defects; C: otherwise`. Clauses are tried in order; the first whose conditions all hold
    gives the grade. A condition is `[<=|<|>=|>|=] N WHAT` (no operator: at most N), joined by `and`; WHAT counts
    sheets: `defects` (any defect), `minor` (only classes of coil_minor_classes), `major` (any other class) or a
    class name (sheets with that class). The last clause is `GRADE: otherwise`."""

    text: str
    clauses: tuple[GradeClause, ...]
    minor_classes: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, text: str, minor_classes: tuple[str, ...] | list[str] = ()) -> GradeRule:
        parts = [part.strip() for part in text.split(";") if part.strip()]
        if not parts:
            raise CoilError(f"coil_grade_rule {text!r} is empty: write e.g. {DEFAULT_GRADE_RULE!r}")
        clauses: list[GradeClause] = []
        for part in parts:
            grade, colon, body = part.partition(":")
            grade, body = grade.strip(), body.strip()
            if not colon or not GRADE.match(grade):
                raise CoilError(f"coil_grade_rule: {part!r} does not start with a grade and a colon "
                                f"(e.g. 'B: <= 2 defects'); the whole rule reads e.g. {DEFAULT_GRADE_RULE!r}")
            if grade in {c.grade for c in clauses}:
                raise CoilError(f"coil_grade_rule: grade {grade} appears twice; give each grade one clause")
            if body.lower() == "otherwise":
                clauses.append(GradeClause(grade, ()))
                continue
            conditions = []
            for term in re.split(r"\s+and\s+", body):
                found = CONDITION.match(term.strip())
                if found is None:
                    raise CoilError(f"coil_grade_rule: {term.strip()!r} in grade {grade} is not '[<=|<|>=|>|=] N "
                                    "WHAT' (WHAT: defects, minor, major or a class name), nor 'otherwise'")
                what = found.group(3).strip()
                what = "defects" if what.lower() in ("defect", "defects") else what
                conditions.append(Condition(found.group(1) or "<=", int(found.group(2)), what))
            clauses.append(GradeClause(grade, tuple(conditions)))
        if clauses[-1].conditions:
            raise CoilError(f"coil_grade_rule {text!r} ends with {clauses[-1].grade} and conditions: end with "
                            "'GRADE: otherwise', so every coil gets a grade")
        if any(not c.conditions for c in clauses[:-1]):
            raise CoilError(f"coil_grade_rule {text!r}: 'otherwise' may only be the last clause")
        uses_minor = any(d.what in ("minor", "major") for c in clauses for d in c.conditions)
        if uses_minor and not minor_classes:
            raise CoilError("coil_grade_rule counts minor or major sheets but coil_minor_classes is empty: list the "
                            "classes that count as minor there (e.g. coil_minor_classes = ['crazing'])")
        return cls(text, tuple(clauses), frozenset(minor_classes))

    def class_names(self) -> set[str]:
        """The class names the rule counts (beyond defects/minor/major): checked against a coil's classes."""
        return {d.what for c in self.clauses for d in c.conditions if d.what not in GROUPS}

    def counts(self, sheet_classes: list[tuple[str, ...]]) -> dict[str, int]:
        """What the conditions count, from each sheet's label classes (() = defect-free)."""
        counts: dict[str, int] = {"defects": 0, "minor": 0, "major": 0}
        for classes in sheet_classes:
            if not classes:
                continue
            counts["defects"] += 1
            counts["minor" if set(classes) <= self.minor_classes else "major"] += 1
            for name in set(classes):
                counts[name] = counts.get(name, 0) + 1
        return counts

    def grade(self, sheet_classes: list[tuple[str, ...]]) -> tuple[str, str]:
        """(grade, why): the first clause whose conditions all hold, and those conditions as text."""
        counts = self.counts(sheet_classes)
        for clause in self.clauses:
            if all(d.holds(counts) for d in clause.conditions):
                if clause.conditions:
                    return clause.grade, " and ".join(f"{d} ({counts.get(d.what, 0)})" for d in clause.conditions)
                counted = dict.fromkeys(d.what for c in self.clauses for d in c.conditions)  # the rule's words
                return clause.grade, f"otherwise ({', '.join(f'{counts.get(w, 0)} {w}' for w in counted)})"
        raise AssertionError("the last clause is 'otherwise'")  # parse() guarantees it
