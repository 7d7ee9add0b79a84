"""What a person decides about one verdict: accept it, or override the classes with a reason."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from core.contract.errors import SteelScanError
from core.contract.verdict import Verdict

KINDS = ("accept", "override")


class DecisionError(SteelScanError):
    """A decision that cannot be recorded as given (no name, no reason, unknown class)."""


@dataclass(frozen=True)
class Decision:
    kind: str  # accept | override
    classes: tuple[str, ...]  # the classes present, in the model set's class order; () = defect-free
    reason: str = ""
    # Masks the inspector drew, class -> Severstal RLE at the image's size; they replace the model's mask of that
    # class. (Issue 12 part 1 owns the painting; the replay uses this to answer with ground-truth masks.)
    masks_rle: dict[str, str] = field(default_factory=dict)

    @classmethod
    def accept(cls, verdict: Verdict) -> Decision:
        return cls("accept", tuple(verdict.classes_present))

    @classmethod
    def override(cls, verdict: Verdict, classes: Iterable[str], reason: str) -> Decision:
        chosen = set(classes)
        unknown = sorted(chosen - set(verdict.class_names))
        if unknown:
            raise DecisionError("override", f"unknown classes {unknown}",
                                f"choose from {', '.join(verdict.class_names)}")
        ordered = tuple(name for name in verdict.class_names if name in chosen)
        if ordered == tuple(verdict.classes_present):
            raise DecisionError("override", "gives the same classes as the model",
                                "use Accept, or change which classes are present")
        if not reason or not reason.strip():
            raise DecisionError("override", "needs a reason", "say in a few words why the model is wrong")
        return cls("override", ordered, reason.strip())

    @classmethod
    def defect_free(cls, verdict: Verdict, reason: str) -> Decision:
        return cls.override(verdict, (), reason)


def check_reviewer(name: str | None) -> str:
    name = (name or "").strip()
    if not name:
        raise DecisionError("reviewer", "no signed-in user given",
                            "sign in first; every decision records who made it")
    return name
