"""Promotion and rollback: the active set is the review log's latest `active_model_set` row (core.review.active),
which every page, the API and the watcher read afresh, so a change reaches every user without a restart. Each
change records who, when and why; a promotion also writes itself into the set's lineage.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd

from core.contract.errors import SteelScanError
from core.modelsets.modelset import list_model_sets, read_card, write_card
from core.review.store import ReviewLog
from core.review.store.models import utc_now

KEY = "active_model_set"


def _switch(log: ReviewLog, models_dir: Path, name: str, who: str, reason: str, kind: str, previous: str) -> None:
    if name not in list_model_sets(models_dir):
        raise SteelScanError(Path(models_dir) / name, "is not installed", "pick a set listed on the Models page")
    if not reason or not reason.strip():
        raise SteelScanError(kind, "needs a reason", "say in a few words why this set should run")
    previous = previous or log.active_model_set() or ""
    log.log_setting_change(KEY, name, who, model_set=name, model_fingerprint=read_card(Path(models_dir) / name)
                           .fingerprint, old_value=previous, reason=f"{kind}: {reason.strip()}")


def promote(log: ReviewLog, models_dir: Path, name: str, who: str, reason: str, previous: str = "") -> None:
    """Make a candidate the active set (admins only: the caller checks the role) and note it in its lineage.
    `previous`: the set running now (the settings' default when nobody chose one yet), for the log."""
    _switch(log, models_dir, name, who, reason, "promote", previous)
    folder = Path(models_dir) / name
    card = read_card(folder)
    if card.lineage:
        lineage = dict(card.lineage)
        lineage["promotions"] = [*lineage.get("promotions", []),
                                 {"by": who, "at": utc_now().isoformat(timespec="seconds"), "reason": reason.strip()}]
        write_card(folder, replace(card, lineage=lineage))


def roll_back(log: ReviewLog, models_dir: Path, name: str, who: str, reason: str, previous: str = "") -> None:
    """Make any earlier set the active one again."""
    _switch(log, models_dir, name, who, reason, "rollback", previous)


def history(log: ReviewLog) -> pd.DataFrame:
    """Every change of the active set, newest first: who, when, from, to, why."""
    changes = log.setting_changes()
    changes = changes[changes["key"] == KEY]
    table = changes[["changed_at", "changed_by", "old_value", "new_value", "reason"]].iloc[::-1]
    return table.rename(columns={"changed_at": "when (UTC)", "changed_by": "who", "old_value": "from",
                                 "new_value": "to"})


def chain(models_dir: Path, name: str, limit: int = 20) -> list[dict]:
    """The set and its ancestors, newest first: name, job, snapshot, gate verdict, promotions."""
    out, seen = [], set()
    while name and name not in seen and len(out) < limit:
        seen.add(name)
        folder = Path(models_dir) / name
        try:
            card = read_card(folder)
        except SteelScanError as exc:
            out.append({"name": name, "problem": str(exc)})
            break
        lineage = card.lineage
        out.append({"name": name, "trained": card.trained, "created": card.created, "job": lineage.get("job"),
                    "snapshot": lineage.get("snapshot"), "gate": lineage.get("gate"),
                    "promotions": lineage.get("promotions", []), "parent": lineage.get("parent")})
        name = lineage.get("parent")
    return out
