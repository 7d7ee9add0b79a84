"""Sign-in, roles and sessions in the real app (AppTest): what each role sees, what pages refuse, who is logged."""

from __future__ import annotations

import os
import subprocess
import threading
import time

import pytest
from sqlalchemy import text
from streamlit.testing.v1 import AppTest

from core.accounts.auth import Accounts, AuthError, ThrottlePolicy
from core.contract.settings import load_settings
from core.review.store import ReviewLog
from tests.helpers.apptest import settle
from tests.helpers.dashboard import PASSWORD, ROOT, account_token, dashboard_env, models_dir, strip_png  # noqa: F401
from ui.auth import FIRST_ADMIN_COMMAND, oidc_username, verified_email

TIMEOUT = 180
pytestmark = pytest.mark.usefixtures("dashboard_env")
PAGE_FILES = tuple(f"app_pages/{name}.py"
                   for name in ("inspect", "review_queue", "statistics", "what_if", "coils", "models", "users"))
ROLE_PAGES = {
    "inspector": ["Inspect", "Review queue"],
    "supervisor": ["Inspect", "Review queue", "Statistics", "Threshold what-if", "Coils", "Models"],
    "admin": ["Inspect", "Review queue", "Statistics", "Threshold what-if", "Coils", "Models", "Users"],
}


def app_with(token: str | None = None) -> AppTest:
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    if token:
        app.session_state["auth_token"] = token
    return app.run()


def accounts() -> Accounts:
    return Accounts(os.environ["STEELSCAN_DATABASE_URL"])


def titles(app: AppTest) -> list[str]:
    return [t.value for t in app.title]


def button(app: AppTest, prefix: str):
    matches = [b for b in app.button if b.label.startswith(prefix)]
    assert matches, f"no button starting {prefix!r} in {[b.label for b in app.button]}"
    return matches[0]


def run_page(page: str, token: str | None = None) -> AppTest:
    """A page script run on its own, as if opened around the router: it must refuse by itself."""
    app = AppTest.from_file(str(ROOT / page), default_timeout=TIMEOUT)
    if token:
        app.session_state["auth_token"] = token
    return app.run()


def test_without_accounts_no_page_is_served_and_the_first_admin_command_is_shown():
    app = app_with()
    assert not app.exception
    assert titles(app) == ["SteelScan has no accounts yet"]
    assert [c.value for c in app.code] == [FIRST_ADMIN_COMMAND]
    with pytest.raises(ValueError, match="Known pages: \\['Set up'\\]"):
        app.switch_page("app_pages/inspect.py")  # the router registers no other page
    for page in PAGE_FILES:
        direct = run_page(page)
        assert not direct.exception and not direct.file_uploader and not direct.metric
        assert titles(direct) == ["SteelScan has no accounts yet"]


def test_the_first_admin_command_shown_by_the_app_creates_an_admin():
    """The command on the set-up page, run as printed from the project folder after `make setup`."""
    command = FIRST_ADMIN_COMMAND.replace("NAME", "firstadmin").split()
    executable = ROOT / command[0]
    if not executable.exists():
        pytest.skip(f"{executable} is installed by the README's set-up (make setup)")
    done = subprocess.run([str(executable), *command[1:], "--password-stdin"], cwd=ROOT, input=PASSWORD,
                          capture_output=True, text=True, timeout=60, env=os.environ)
    assert done.returncode == 0, done.stderr
    assert [(u["username"], u["role"]) for u in accounts().list_users()] == [("firstadmin", "admin")]


def test_sign_in_form_refuses_a_wrong_password_and_records_the_signed_in_user(monkeypatch):
    monkeypatch.setenv("STEELSCAN_SIGN_IN_FREE_FAILURES", "1")
    account_token("ivan", "inspector")
    app = app_with()
    assert titles(app) == ["Sign in to SteelScan"] and not app.file_uploader
    app.text_input(key="sign_in_user").input("ivan")
    app.text_input(key="sign_in_password").input("not-the-password")
    button(app, "Sign in").click().run()
    assert any("wrong user name or password" in e.value for e in app.error)
    assert not app.session_state["auth_token"] and titles(app) == ["Sign in to SteelScan"]

    # Straight after a failure even the right password must wait (the growing delay), then it signs in.
    for wait in (0, 1.1):
        time.sleep(wait)
        app.text_input(key="sign_in_user").input("ivan")
        app.text_input(key="sign_in_password").input(PASSWORD)
        button(app, "Sign in").click().run()
        if not wait:
            assert [e.value for e in app.error] == ["sign-in: too soon after a failed attempt for user name 'ivan' "
                                                    "from this address — wait 1 s and try again"]
    assert not app.exception and titles(app) == ["Inspect"]
    assert any("Signed in: **ivan** · inspector" in m.value for m in app.sidebar.markdown)
    assert not [t for t in app.text_input if t.key == "name_input"]  # no typed name anywhere
    settle(app.file_uploader[0].upload("sheet.png", strip_png(31), "image/png").run())
    button(app, "Accept").click().run()
    assert ReviewLog.from_settings(load_settings()).reviews_frame()["reviewer"].tolist() == ["ivan"]


def test_the_sign_in_page_starts_importing_the_charts_modules_but_reads_no_data(monkeypatch):
    """A supervisor who opens Statistics at once after signing in must not wait for pandas and plotly to import:
    the first page anyone sees starts that import. The data warm-up waits for a supervisor: an inspector's sign-in
    must not spend the engine's CPU on the log's frames."""
    from ui import warmup

    import_claim, data_claim = threading.Lock(), threading.Lock()
    monkeypatch.setattr(warmup, "_import_claimed", import_claim)
    monkeypatch.setattr(warmup, "_claimed", data_claim)
    account_token("ivan", "inspector")
    app = app_with()
    assert titles(app) == ["Sign in to SteelScan"]
    assert import_claim.locked() and not data_claim.locked()
    app.text_input(key="sign_in_user").input("ivan")
    app.text_input(key="sign_in_password").input(PASSWORD)
    button(app, "Sign in").click().run()
    assert titles(app) == ["Inspect"] and not data_claim.locked()  # an inspector: no data warm-up


@pytest.mark.parametrize("role", list(ROLE_PAGES))
def test_navigation_offers_only_the_pages_of_the_role(role):
    from app import navigation_for

    assert [title for _, title, _, _ in navigation_for(role)] == ROLE_PAGES[role]
    # Every page offered opens for the role (and each refuses the others: the next test).
    app = app_with(account_token(f"user-{role}", role))
    for file, title, _, _ in navigation_for(role):
        app.switch_page(f"app_pages/{file}").run()
        assert not app.exception and titles(app) == [title]
        assert not [e for e in app.error if "may not use" in e.value]


@pytest.mark.parametrize(("role", "page", "needed"), [
    ("inspector", "app_pages/statistics.py", "supervisor"),
    ("inspector", "app_pages/models.py", "supervisor"),
    ("inspector", "app_pages/what_if.py", "supervisor"),
    ("inspector", "app_pages/coils.py", "supervisor"),
    ("inspector", "app_pages/users.py", "admin"),
    ("supervisor", "app_pages/users.py", "admin"),
])
def test_pages_refuse_a_role_without_the_permission(role, page, needed):
    app = run_page(page, account_token(f"user-{role}", role))
    assert not app.exception and not app.title
    refusals = [e.value for e in app.error if "may not use this page" in e.value]
    assert refusals and f"needs the {needed} role" in refusals[0]
    assert not app.metric and not app.dataframe and not app.file_uploader


def test_supervisor_sees_models_read_only():
    app = app_with(account_token("sam", "supervisor"))
    app.switch_page("app_pages/models.py").run()
    assert not app.exception and titles(app) == ["Models"]
    assert button(app, "Save changes").disabled and app.number_input(key="t-pits").disabled
    assert any("Only an admin can change this" in c.value for c in app.caption)
    app.switch_page("app_pages/statistics.py").run()
    assert titles(app) == ["Statistics"] and not app.error


def test_an_expired_session_goes_back_to_sign_in():
    app = app_with(account_token("ivan", "inspector"))
    assert titles(app) == ["Inspect"]
    owner = accounts()
    with owner.engine.begin() as connection:
        connection.execute(text("update user_sessions set expires_at = '2000-01-01 00:00:00'"))
    owner.close()
    app.run()
    assert titles(app) == ["Sign in to SteelScan"] and not app.file_uploader
    assert any("session has ended" in i.value for i in app.info)
    assert app.session_state["auth_token"] is None


def test_sign_out_ends_the_session_in_the_database():
    token = account_token("ivan", "inspector")
    app = app_with(token)
    settle(app.file_uploader[0].upload("sheet.png", strip_png(33), "image/png").run())
    assert app.session_state["inspect-selected"] is not None
    app.button(key="sign_out").click().run()
    assert titles(app) == ["Sign in to SteelScan"]
    assert "inspect-selected" not in app.session_state and "upload_seen" not in app.session_state
    owner = accounts()
    assert owner.user_for(token) is None
    owner.close()


def test_admin_manages_users_and_each_change_names_the_admin():
    app = app_with(account_token("ada", "admin"))
    app.switch_page("app_pages/users.py").run()
    assert titles(app) == ["Users"]
    app.text_input(key="new_user_name").input("ivan")
    app.selectbox(key="new_user_role").set_value("inspector")
    app.text_input(key="new_user_password").input("ivans-first-password")
    button(app, "Add user").click().run()
    assert not app.exception and any("Added ivan (inspector)" in s.value for s in app.success)
    assert app.text_input(key="new_user_name").value == ""  # done: the form is empty for the next one
    owner = accounts()
    _, ivan_token = owner.sign_in("ivan", "ivans-first-password")

    app.selectbox(key="reset_user").set_value("ivan")
    app.text_input(key="reset_password_value").input("ivans-second-password")
    button(app, "Reset password").click().run()
    assert owner.user_for(ivan_token) is None  # a reset signs the user out
    app.selectbox(key="manage_user").set_value("ivan")
    app.selectbox(key="role-ivan").set_value("supervisor").run()
    button(app, "Make ivan supervisor").click().run()
    button(app, "Disable ivan").click().run()
    assert {u["username"]: (u["role"], u["active"]) for u in owner.list_users()}["ivan"] == ("supervisor", False)
    assert owner.list_users()[1]["created_by"] == "ada"

    # The admin cannot lock themselves out from here, and a too short password is refused, not crashed on.
    assert "ada" not in app.selectbox(key="manage_user").options
    app.text_input(key="new_user_name").input("bob")
    app.selectbox(key="new_user_role").set_value("supervisor")
    app.text_input(key="new_user_password").input("short")
    button(app, "Add user").click().run()
    assert any("shorter than" in e.value for e in app.error)
    # Refused: what was entered stays, to be corrected rather than typed again.
    assert app.text_input(key="new_user_name").value == "bob"
    assert app.selectbox(key="new_user_role").value == "supervisor"
    assert app.text_input(key="new_user_password").value == "short"
    owner.close()

    changes = ReviewLog.from_settings(load_settings()).setting_changes()
    assert changes["key"].tolist() == ["user_added", "user_password", "user_role", "user_active"]
    assert set(changes["changed_by"]) == {"ada"} and set(changes["reason"]) == {"account ivan"}


def test_oidc_emails_map_to_local_accounts_of_the_configured_domain_only():
    assert oidc_username("ivan@plant.example", "plant.example") == "ivan"
    assert oidc_username("Ivan.K@PLANT.example", "plant.example") == "Ivan.K"
    assert oidc_username("ivan@elsewhere.example", "plant.example") is None
    assert oidc_username("ivan@plant.example", "") is None  # no domain configured: nobody maps
    assert oidc_username(None, "plant.example") is None
    assert oidc_username("../x@plant.example", "plant.example") is None


def test_oidc_needs_an_e_mail_the_provider_verified():
    assert verified_email({"email": "ivan@plant.example", "email_verified": True}) == "ivan@plant.example"
    assert verified_email({"email": "ivan@plant.example", "email_verified": False}) is None
    assert verified_email({"email": "ivan@plant.example"}) is None  # no claim: not verified
    assert verified_email({"email": "ivan@plant.example", "email_verified": "true"}) is None  # only a real true


def test_single_sign_on_button_only_where_configured():
    account_token("ivan", "inspector")
    plain = app_with()
    assert not [b for b in plain.button if "single sign-on" in b.label]
    configured = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    configured.secrets["auth"] = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "x" * 32,
                                  "client_id": "steelscan", "client_secret": "s",
                                  "server_metadata_url": "https://login.example/.well-known/openid-configuration"}
    configured.run()
    assert not configured.exception and titles(configured) == ["Sign in to SteelScan"]
    assert [b.label for b in configured.button if "single sign-on" in b.label] == ["Sign in with single sign-on"]


def test_a_failed_sign_in_keeps_the_name_and_says_the_attempt_registered_and_what_remains():
    account_token("ivan", "inspector")
    app = app_with()
    app.text_input(key="sign_in_user").input("ivan")
    app.text_input(key="sign_in_password").input("not-the-password")
    button(app, "Sign in").click().run()
    assert app.text_input(key="sign_in_user").value == "ivan"  # kept: only the password is typed again
    assert app.text_input(key="sign_in_password").value == ""
    assert [e.value for e in app.error] == [
        "sign-in: wrong user name or password (attempt 1 registered) — 2 more attempts before SteelScan makes you "
        "wait; an admin can reset a forgotten password"]
    app.text_input(key="sign_in_password").input(PASSWORD)  # the name is still there: the password alone
    button(app, "Sign in").click().run()
    assert not app.exception and titles(app) == ["Inspect"]


def test_the_first_visit_page_does_not_show_anonymous_visitors_the_database():
    app = app_with()
    assert titles(app) == ["SteelScan has no accounts yet"]
    database = os.environ["STEELSCAN_DATABASE_URL"]
    shown = [e.value for kind in ("caption", "markdown", "code", "error", "info", "text") for e in app.get(kind)]
    assert shown and not [v for v in shown if "sqlite" in v or database.split("///")[-1] in v or "Database" in v]


def test_an_admin_clears_an_address_locked_by_failed_sign_ins(monkeypatch):
    monkeypatch.setenv("STEELSCAN_SIGN_IN_CLIENT_MAX_FAILURES", "2")
    admin_token = account_token("ada", "admin")
    account_token("ivan", "inspector")
    owner = Accounts(os.environ["STEELSCAN_DATABASE_URL"], throttle=ThrottlePolicy(client_max_failures=2,
                                                                                    first_delay_s=0))
    for name in ("ivan", "guess"):
        with pytest.raises(AuthError):
            owner.sign_in(name, "not-the-password", client="203.0.113.9")
    with pytest.raises(AuthError, match="address 203.0.113.9: locked"):
        owner.sign_in("ivan", PASSWORD, client="203.0.113.9")
    app = app_with(admin_token)
    app.switch_page("app_pages/users.py").run()
    assert any(t.value.startswith("address 203.0.113.9: 2 failed sign-ins, locked until") for t in app.text)
    button(app, "Unlock").click().run()
    assert not app.exception and any("Address 203.0.113.9 is unlocked" in s.value for s in app.success)
    assert owner.sign_in("ivan", PASSWORD, client="203.0.113.9")[0].username == "ivan"
    changes = ReviewLog.from_settings(load_settings()).setting_changes()
    assert changes[["key", "changed_by"]].values.tolist() == [["address_unlocked", "ada"]]
    owner.close()
