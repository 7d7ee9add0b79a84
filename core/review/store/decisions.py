"""What a person decides about one verdict: accept it, override the classes with a reason, or change an earlier
decision (naming the review it replaces, so a colleague's decision is never overwritten unseen). Any of them
may carry masks the inspector painted (RLE at the image's size) for classes they say are present."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from core.contract.errors import SteelScanError
from core.contract.verdict import Verdict
from core.imaging.rle import rle_decode, rle_encode

KINDS = ("accept", "override")


class DecisionError(SteelScanError):
    """A decision that cannot be recorded as given (no name, no reason, unknown class)."""


@dataclass(frozen=True)
class CurrentLabel:
    """An image's label now: its latest review."""

    review_id: int
    classes: tuple[str, ...]
    kind: str  # accept | override
    reviewer: str
    decided_at: datetime  # UTC, naive (as stored)
    reason: str
    model_set: str = ""  # the set whose verdict (and classes) the decision answered

    def describe(self) -> str:
        label = ", ".join(self.classes) or "defect-free"
        return f"{self.reviewer} decided {label} ({self.kind}) at {self.decided_at:%Y-%m-%d %H:%M} UTC"


class DecisionConflict(DecisionError):
    """The image's label is not the one the decision was made against: someone decided meanwhile.

    Nothing was recorded; `current` is the label now (None if the image has no review after all).
    """

    def __init__(self, image: str, current: CurrentLabel | None, expected: int | None) -> None:
        self.current = current
        self.expected = expected
        if current is None:
            reason = f"has no review {expected} to change (the decision names one that is not there)"
        elif expected is None:
            reason = f"was already reviewed: {current.describe()}"
        else:
            reason = f"changed since you looked: {current.describe()}"
        super().__init__(image, reason, "look at the current label, then confirm with 'Change decision' "
                                        "if yours should replace it")


@dataclass(frozen=True)
class Decision:
    kind: str  # accept | override
    classes: tuple[str, ...]  # the classes present, in the model set's class order; () = defect-free
    reason: str = ""
    replaces: int | None = None  # the review this one changes (its id); None = the image's first decision
    # class -> RLE the inspector painted; None = the model's masks for the classes kept
    masks_rle: dict[str, str] | None = None

    @classmethod
    def accept(cls, verdict: Verdict, masks_rle: dict[str, str] | None = None) -> Decision:
        classes = tuple(verdict.classes_present)
        return cls("accept", classes, "", masks_rle=painted_masks(masks_rle, verdict.class_names, classes,
                                                                   (verdict.height, verdict.width)))

    @classmethod
    def override(cls, verdict: Verdict, classes: Iterable[str], reason: str,
                 masks_rle: dict[str, str] | None = None) -> Decision:
        ordered = _ordered(verdict, classes)
        if ordered == tuple(verdict.classes_present):
            raise DecisionError("override", "gives the same classes as the model",
                                "use Accept, or change which classes are present")
        if not reason or not reason.strip():
            raise DecisionError("override", "needs a reason", "say in a few words why the model is wrong")
        masks = painted_masks(masks_rle, verdict.class_names, ordered, (verdict.height, verdict.width))
        return cls("override", ordered, reason.strip(), masks_rle=masks)

    @classmethod
    def defect_free(cls, verdict: Verdict, reason: str, masks_rle: dict[str, str] | None = None) -> Decision:
        """Painted masks are passed on, so that a sheet with masks painted is refused, not quietly cleared."""
        return cls.override(verdict, (), reason, masks_rle)


    @classmethod
    def change(cls, verdict: Verdict, classes: Iterable[str], reason: str, replaces: int,
               masks_rle: dict[str, str] | None = None) -> Decision:
        """A new decision for an image already reviewed: always with a reason, and naming the review it replaces
        (the label the person saw). Its kind says whether the new label agrees with the model."""
        ordered = _ordered(verdict, classes)
        if not reason or not reason.strip():
            raise DecisionError("change of decision", "needs a reason", "say in a few words why the label changes")
        if replaces is None:
            raise DecisionError("change of decision", "names no review to replace",
                                "pass the review id of the label shown (CurrentLabel.review_id)")
        kind = "accept" if ordered == tuple(verdict.classes_present) else "override"
        masks = painted_masks(masks_rle, verdict.class_names, ordered, (verdict.height, verdict.width))
        return cls(kind, ordered, reason.strip(), int(replaces), masks)

    def replacing(self, review_id: int | None) -> Decision:
        """The same decision made against another label (after the person confirmed it)."""
        return replace(self, replaces=review_id)


def painted_masks(masks_rle: dict[str, str] | None, class_names: Iterable[str], classes: Iterable[str],
                  shape: tuple[int, int]) -> dict[str, str] | None:
    """Check masks an inspector painted against the sheet: each names a known class the decision says is
    present, decodes to the image's (height, width) and marks at least one pixel. Returns them re-encoded
    (canonical RLE) in class order, or None when there are none."""
    if not masks_rle:
        return None
    names, present = tuple(class_names), set(classes)
    height, width = shape
    unknown = sorted(set(masks_rle) - set(names))
    if unknown:
        raise DecisionError("painted masks", f"name unknown classes {unknown}", f"choose from {', '.join(names)}")
    checked: dict[str, str] = {}
    for name in (n for n in names if n in masks_rle):
        if name not in present:
            raise DecisionError(f"painted mask for {name}", "is for a class the decision says is absent",
                                f"mark {name} present, or reset its mask to the model's")
        try:
            mask = rle_decode(masks_rle[name], (height, width))
        except ValueError as exc:
            raise DecisionError(f"painted mask for {name}", f"does not fit the {width}x{height} image ({exc})",
                                "repaint it on this sheet") from exc
        if not mask.any():
            raise DecisionError(f"painted mask for {name}", "is empty",
                                f"paint where the {name} defect is, or mark {name} absent")
        checked[name] = rle_encode(mask)
    return checked


def _ordered(verdict: Verdict, classes: Iterable[str]) -> tuple[str, ...]:
    chosen = set(classes)
    unknown = sorted(chosen - set(verdict.class_names))
    if unknown:
        raise DecisionError("decision", f"unknown classes {unknown}", f"choose from {', '.join(verdict.class_names)}")
    return tuple(name for name in verdict.class_names if name in chosen)


def check_reviewer(name: str | None) -> str:
    name = (name or "").strip()
    if not name:
        raise DecisionError("reviewer", "no signed-in user given",
                            "sign in first; every decision records who made it")
    return name
