"""Users (admins only): add accounts, reset passwords, change roles, disable or enable. Each change is logged."""

import pandas as pd
import streamlit as st

from core.accounts.auth import ROLES, AuthError
from ui import auth, state
from ui.apikeys import api_keys_section

log = state.review_log()
admin = auth.page_header("Users", "users.manage")
accounts = auth.accounts()
users = accounts.list_users()
names = [u["username"] for u in users]
st.caption("Roles nest: inspector (Inspect, Review queue) < supervisor (also Statistics, Models read-only) < admin "
           "(also changes thresholds and the active model set, and manages users). The same is possible from the "
           "shell: `python -m core.users --help`.")
st.dataframe(pd.DataFrame(users, columns=["username", "role", "active", "created_at", "created_by"]),
             hide_index=True)


def apply(change, key: str, username: str, old: str, new: str, done: str) -> None:
    """Run one account change, log it under the signed-in admin, and say what happened."""
    try:
        change()
    except AuthError as exc:
        st.error(str(exc))
        return
    log.log_setting_change(key, new, admin.username, old_value=old, reason=f"account {username}")
    st.session_state.users_notice = done
    st.session_state.users_added = key == "user_added"
    st.rerun()


notice = st.session_state.pop("users_notice", "")
if notice:
    st.success(notice)

if st.session_state.pop("users_added", False):  # emptied only after it worked: a refused form keeps what was typed
    for key in ("new_user_name", "new_user_password"):
        st.session_state.pop(key, None)
add_col, reset_col = st.columns(2)
with add_col, st.form("add_user"):
    st.markdown("**Add a user**")
    new_name = st.text_input("User name", key="new_user_name")
    new_role = st.selectbox("Role", ROLES, key="new_user_role")
    new_password = st.text_input("Initial password (10+ characters)", type="password", key="new_user_password")
    if st.form_submit_button("Add user", type="primary"):
        new_name = new_name.strip()
        apply(lambda: accounts.add_user(new_name, new_password, new_role, created_by=admin.username),
              "user_added", new_name, "", new_role, f"Added {new_name} ({new_role}).")

with reset_col, st.form("reset_password", clear_on_submit=True):
    st.markdown("**Reset a password** (signs the user out everywhere)")
    target = st.selectbox("User", names, key="reset_user")
    password = st.text_input("New password (10+ characters)", type="password", key="reset_password_value")
    if st.form_submit_button("Reset password") and target:
        apply(lambda: accounts.reset_password(target, password), "user_password", target, "", "reset",
              f"Password of {target} reset; their sessions are signed out.")

api_keys_section(log, admin)
locked = accounts.locked_addresses()  # user names are never locked, only delayed (core.accounts.auth)
st.markdown("**Sign-in locks**")
if not locked:
    st.caption("No client address is locked by failed sign-ins.")
for lock in locked:
    text_col, button_col = st.columns([4, 1], vertical_alignment="center")
    text_col.text(f"address {lock['address']}: {lock['failures']} failed sign-ins, locked until "
                  f"{lock['locked_until']:%H:%M:%S} UTC")
    if button_col.button("Unlock", key=f"unlock-{lock['address']}", icon=":material/lock_open:"):
        apply(lambda a=lock["address"]: accounts.unlock_address(a), "address_unlocked", lock["address"], "locked",
              "unlocked", f"Address {lock['address']} is unlocked.")
with st.expander("Failed sign-ins (latest 200)"):
    st.dataframe(pd.DataFrame(accounts.sign_in_failures(), columns=["at", "username", "client", "reason"]),
                 hide_index=True)

st.markdown("**Role and access**")
others = [u for u in users if u["username"] != admin.username]  # no admin can lock themselves out
if not others:
    st.caption("You are the only user: add someone above.")
    st.stop()
left, middle, right = st.columns([2, 2, 2], vertical_alignment="bottom")
chosen = left.selectbox("User", [u["username"] for u in others], key="manage_user")
row = next(u for u in others if u["username"] == chosen)
role = middle.selectbox("Role", ROLES, index=ROLES.index(row["role"]), key=f"role-{chosen}")
if role != row["role"] and middle.button(f"Make {chosen} {role}", type="primary"):
    apply(lambda: accounts.set_role(chosen, role), "user_role", chosen, row["role"], role,
          f"{chosen} is now {role} (from their next click).")
if row["active"]:
    if right.button(f"Disable {chosen}", icon=":material/block:"):
        apply(lambda: accounts.set_active(chosen, False), "user_active", chosen, "true", "false",
              f"{chosen} is disabled and signed out.")
elif right.button(f"Enable {chosen}", icon=":material/check_circle:"):
    apply(lambda: accounts.set_active(chosen, True), "user_active", chosen, "false", "true", f"{chosen} is enabled.")

changes = log.setting_changes()
changes = changes[changes["key"].str.startswith(("user_", "api_key_"))]
st.subheader("Account change log")
if changes.empty:
    st.caption("No account changes from the dashboard yet.")
else:
    st.dataframe(changes[["changed_at", "changed_by", "key", "reason", "old_value", "new_value"]].iloc[::-1],
                 hide_index=True)
