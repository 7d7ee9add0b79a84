"""The settings audit: every threshold, minimum-area or active-set change, with who, when, old, new and why."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.review.store.db import StoreError
from core.review.store.decisions import check_reviewer
from core.review.store.models import SettingChangeRow, utc_now

CLASS_SETTING_KEYS = {"threshold": float, "min_area": int}


class SettingsAudit:
    """Mixed into ReviewLog: appends setting changes and reads the ones in force."""

    def log_setting_change(self, key: str, new_value: str, changed_by: str, *, model_set: str = "",
                           model_fingerprint: str = "", class_name: str = "", old_value: str = "",
                           reason: str = "") -> int:
        changed_by = check_reviewer(changed_by)
        if not reason.strip():  # the audit answers "why" for every row (issue 37): no caller may leave it out
            raise StoreError(f"setting change {key}", "has no reason", "say why it changes: it is logged with it")
        if key in CLASS_SETTING_KEYS:
            try:
                CLASS_SETTING_KEYS[key](new_value)
            except ValueError:
                raise StoreError(key, f"value {new_value!r} is not a {CLASS_SETTING_KEYS[key].__name__}",
                                 "enter a number") from None

        def work(session: Session) -> int:
            row = SettingChangeRow(key=key, model_set=model_set, model_fingerprint=model_fingerprint,
                                   class_name=class_name, old_value=str(old_value), new_value=str(new_value),
                                   changed_by=changed_by, reason=reason, changed_at=utc_now())
            session.add(row)
            session.flush()
            return row.id

        return self._write(work)

    def setting_changes(self, model_set: str | None = None) -> pd.DataFrame:
        query = select(SettingChangeRow).order_by(SettingChangeRow.id)
        if model_set is not None:
            query = query.where(SettingChangeRow.model_set == model_set)
        rows = self._read(lambda s: list(s.scalars(query)))
        columns = ["id", "changed_at", "changed_by", "key", "model_set", "class_name", "old_value", "new_value",
                   "reason", "model_fingerprint"]
        return pd.DataFrame([[getattr(r, c) for c in columns] for r in rows], columns=columns)

    def class_overrides(self, model_fingerprint: str) -> dict[str, dict[str, float | int]]:
        """Latest threshold / min_area per class for exactly these weights (a retrained set starts clean)."""
        rows = self._read(lambda s: list(s.scalars(
            select(SettingChangeRow).where(SettingChangeRow.model_fingerprint == model_fingerprint)
            .where(SettingChangeRow.key.in_(list(CLASS_SETTING_KEYS))).order_by(SettingChangeRow.id))))
        overrides: dict[str, dict[str, float | int]] = {}
        for row in rows:
            overrides.setdefault(row.class_name, {})[row.key] = CLASS_SETTING_KEYS[row.key](row.new_value)
        return overrides

    def active_model_set(self) -> str | None:
        """The model set last chosen on the Models page, or None if nobody chose one yet."""
        return self._read(lambda s: s.scalar(
            select(SettingChangeRow.new_value).where(SettingChangeRow.key == "active_model_set")
            .order_by(SettingChangeRow.id.desc()).limit(1)))
