"""An inspector's list of sheets (a batch in order): each sheet's verdict summary and current label, and where to go
after a decision. Read in one query per list, so the sheet list and the batch overview stay cheap to redraw."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select

from core.review.store import CurrentLabel, ReviewLog
from core.review.store.models import InferenceRow
from core.review.store.sampling import OUT_OF_DOMAIN, SAMPLE_KEY

# A batch banner when more than this share of a set's sheets in it are out of domain (and at least two are).
MOST = 0.5


@dataclass(frozen=True)
class Sheet:
    inference_id: int
    image_sha256: str
    name: str
    classes: tuple[str, ...]  # the model's
    defective: bool
    flagged: bool  # waits in the review queue (core.review.queue.is_flagged)
    label: CurrentLabel | None  # the latest review, None while undecided
    model_set: str = ""
    domain_level: str = ""  # familiar | unusual | out of domain; "" when the set has no domain

    @property
    def decided(self) -> bool:
        return self.label is not None

    def describe(self) -> str:
        """One line for the sheet list: the current label when decided (not the model's), else the verdict."""
        if self.label is not None:
            shown = ", ".join(self.label.classes) or "defect-free"
            return f"✓ {self.name} — {shown} ({self.label.reviewer}, {self.label.decided_at:%d %b %H:%M})"
        model = ("defective: " + ", ".join(self.classes)) if self.defective else "clean"
        return f"• {self.name} — {model}{' · flagged' if self.flagged else ''}"


def sheets_of(log: ReviewLog, inference_ids: Sequence[int], band: float) -> list[Sheet]:
    """The sheets of these inferences, in the order given (unknown ids left out)."""
    wanted = list(dict.fromkeys(int(i) for i in inference_ids))
    if not wanted:
        return []
    query = select(InferenceRow.id, InferenceRow.image_sha256, InferenceRow.verdict["image"].as_string(),
                   InferenceRow.classes_present, InferenceRow.defective, InferenceRow.margin,
                   InferenceRow.verdict[SAMPLE_KEY].as_string(), InferenceRow.model_set,
                   InferenceRow.verdict["domain_level"].as_string(),
                   InferenceRow.verdict["out_of_domain"].as_boolean()).where(InferenceRow.id.in_(wanted))
    rows = {row[0]: row for row in log._read(lambda s: s.execute(query).all())}
    labels = log.current_labels({row[1] for row in rows.values()})
    sheets = []
    for iid in wanted:
        if iid not in rows:
            continue
        _, sha, name, classes, defective, margin, sampled, model_set, level, ood = rows[iid]
        sheets.append(Sheet(iid, sha, name or sha[:12], tuple(classes), bool(defective),
                            bool(defective or margin < band or sampled), labels.get(sha), model_set,
                            level or (OUT_OF_DOMAIN if ood else "")))  # verdicts before the levels: flag only
    return sheets


def domain_alarms(sheets: Sequence[Sheet]) -> list[str]:
    """One line per model set when most of a batch's sheets inspected with it are out of domain: the camera, the
    lighting or the active set is likely wrong, and every verdict of the batch is suspect."""
    alarms = []
    for model_set in dict.fromkeys(s.model_set for s in sheets):
        mine = [s for s in sheets if s.model_set == model_set]
        out = sum(s.domain_level == OUT_OF_DOMAIN for s in mine)
        if out >= 2 and out > MOST * len(mine):
            alarms.append(f"{out} of {len(mine)} sheets are out of domain for set {model_set} — check the camera / "
                          "the active set")
    return alarms


def next_undecided(sheets: Sequence[Sheet], current: int | None) -> int | None:
    """The inference id of the next undecided sheet after `current` in list order, wrapping round; None if all
    are decided. Never jumps back to the first undecided when a later one waits."""
    ids = [s.inference_id for s in sheets]
    start = ids.index(current) + 1 if current in ids else 0
    for sheet in [*sheets[start:], *sheets[:start]]:
        if not sheet.decided and sheet.inference_id != current:
            return sheet.inference_id
    return None


def step(sheets: Sequence[Sheet], current: int | None, offset: int) -> int | None:
    """The sheet `offset` places from `current` (N/P), stopping at the ends."""
    ids = [s.inference_id for s in sheets]
    if not ids:
        return None
    if current not in ids:
        return ids[0]
    return ids[max(0, min(len(ids) - 1, ids.index(current) + offset))]
