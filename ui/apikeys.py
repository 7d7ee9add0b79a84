"""API keys on the Users page (admins): make one (shown once), revoke one, see each key's calls."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.accounts.apikeys import SCOPES, ApiKeys
from core.accounts.auth import AuthError, User
from core.review.store import ReviewLog


def api_keys_section(log: ReviewLog, admin: User) -> None:
    keys = ApiKeys(log)
    st.subheader("API keys for line systems")
    st.caption("For `steelscan api` (MES, PLC gateways). Scopes: score (inspect only), record (inspect and record; "
               "implies score), read (sheets, queue, metrics). The key is shown once; only its hash is stored. "
               "Also from the shell: `steelscan keys --help`.")
    made = st.session_state.pop("api_key_made", None)
    if made:
        st.success(f"Key **{made[0]}** made. Copy it now, it is not shown again:")
        st.code(made[1], language=None)
    rows = keys.list()
    if rows:
        st.dataframe(pd.DataFrame(rows), hide_index=True)
    add_col, revoke_col = st.columns(2)
    with add_col, st.form("add_api_key", clear_on_submit=True):
        name = st.text_input("Key name (the line system)", key="api_key_name")
        scopes = st.multiselect("Scopes", SCOPES, default=["record"], key="api_key_scopes")
        if st.form_submit_button("Make key", type="primary"):
            _apply(log, admin, lambda: keys.add(name.strip(), scopes, created_by=admin.username),
                   "api_key_added", name.strip(), ",".join(scopes))
    live = [r["name"] for r in rows if r["revoked_at"] is None]
    with revoke_col, st.form("revoke_api_key"):
        target = st.selectbox("Key", live, key="api_key_revoke")
        if st.form_submit_button("Revoke key", disabled=not live) and target:
            _apply(log, admin, lambda: keys.revoke(target, revoked_by=admin.username), "api_key_revoked", target,
                   "revoked")


def _apply(log: ReviewLog, admin: User, change, key: str, name: str, new: str) -> None:
    try:
        secret = change()
    except AuthError as exc:
        st.error(str(exc))
        return
    log.log_setting_change(key, new, admin.username, reason=f"API key {name}")
    if key == "api_key_added":
        st.session_state.api_key_made = (name, secret)
    st.rerun()
