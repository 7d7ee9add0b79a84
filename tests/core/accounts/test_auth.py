import io
from datetime import timedelta

import pytest
from sqlalchemy import text

from core.accounts.auth import Accounts, AuthError, ThrottlePolicy, role_allows
from core.cli.users import main as users_cli


@pytest.fixture()
def accounts(tmp_path):
    accounts = Accounts(f"sqlite:///{tmp_path / 'auth.db'}")
    yield accounts
    accounts.close()


def test_no_accounts_until_the_first_admin(accounts):
    assert not accounts.has_users()
    accounts.add_user("ada", "correct horse battery", "admin", created_by="test")
    assert accounts.has_users()


def test_passwords_are_argon2_hashes_never_plain(accounts):
    accounts.add_user("ada", "correct horse battery", "admin", created_by="test")
    with accounts.engine.connect() as connection:
        stored = connection.execute(text("select password_hash from users")).scalar_one()
    assert stored.startswith("$argon2id$") and "correct horse" not in stored


def test_sign_in_gives_a_session_and_wrong_passwords_say_nothing_more(accounts):
    accounts.add_user("ivan", "inspector-pass-1", "inspector", created_by="test")
    user, token = accounts.sign_in("ivan", "inspector-pass-1")
    assert user.username == "ivan" and user.role == "inspector"
    assert accounts.user_for(token) == user
    with pytest.raises(AuthError, match="wrong user name or password") as wrong_password:
        accounts.sign_in("ivan", "nope-nope-nope")
    with pytest.raises(AuthError, match="wrong user name or password") as unknown_user:
        accounts.sign_in("nobody", "inspector-pass-1")
    assert str(wrong_password.value) == str(unknown_user.value)
    with accounts.engine.connect() as connection:
        stored_token = connection.execute(text("select token_sha256 from user_sessions")).scalar_one()
    assert stored_token != token and len(stored_token) == 64


def test_sessions_expire_and_end_on_sign_out_and_reset(tmp_path):
    # No growing delay here (this test is about sessions): a right password straight after a wrong one is let in.
    short = Accounts(f"sqlite:///{tmp_path / 'a.db'}", session_hours=-1, throttle=ThrottlePolicy(first_delay_s=0))
    short.add_user("ivan", "inspector-pass-1", "inspector", created_by="test")
    _, token = short.sign_in("ivan", "inspector-pass-1")
    assert short.user_for(token) is None
    short.session_ttl = timedelta(hours=1)
    _, token = short.sign_in("ivan", "inspector-pass-1")
    short.sign_out(token)
    assert short.user_for(token) is None
    _, token = short.sign_in("ivan", "inspector-pass-1")
    short.reset_password("ivan", "a-brand-new-password")
    assert short.user_for(token) is None
    with pytest.raises(AuthError):
        short.sign_in("ivan", "inspector-pass-1")
    assert short.sign_in("ivan", "a-brand-new-password")[0].username == "ivan"
    short.close()


def test_disabled_accounts_cannot_sign_in_and_lose_their_sessions(accounts):
    accounts.add_user("sam", "supervisor-pass", "supervisor", created_by="test")
    _, token = accounts.sign_in("sam", "supervisor-pass")
    accounts.set_active("sam", False)
    assert accounts.user_for(token) is None
    with pytest.raises(AuthError, match="disabled"):
        accounts.sign_in("sam", "supervisor-pass")


def test_roles_nest():
    assert role_allows("inspector", "inspect") and role_allows("inspector", "review")
    assert not role_allows("inspector", "statistics") and not role_allows("inspector", "models.view")
    assert role_allows("supervisor", "statistics") and role_allows("supervisor", "models.view")
    assert not role_allows("supervisor", "models.edit") and not role_allows("supervisor", "users.manage")
    assert role_allows("admin", "models.edit") and role_allows("admin", "users.manage")
    with pytest.raises(ValueError, match="unknown permission"):
        role_allows("admin", "fly")


def test_bad_accounts_are_refused(accounts):
    with pytest.raises(AuthError, match="shorter than"):
        accounts.add_user("ada", "short", "admin", created_by="test")
    with pytest.raises(AuthError, match="not a valid user name"):
        accounts.add_user("../etc", "long-enough-password", "admin", created_by="test")
    with pytest.raises(AuthError, match="unknown"):
        accounts.add_user("ada", "long-enough-password", "root", created_by="test")
    accounts.add_user("ada", "long-enough-password", "admin", created_by="test")
    with pytest.raises(AuthError, match="already exists"):
        accounts.add_user("ada", "long-enough-password", "admin", created_by="test")


def test_admin_cli_adds_resets_and_lists(tmp_path, monkeypatch, capsys):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setattr("sys.stdin", io.StringIO("first-admin-password\n"))
    assert users_cli(["--database-url", url, "add", "ada", "--role", "admin", "--password-stdin"]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("second-admin-password\n"))
    assert users_cli(["--database-url", url, "reset", "ada", "--password-stdin"]) == 0
    assert users_cli(["--database-url", url, "list"]) == 0
    assert "ada\tadmin" in capsys.readouterr().out
    monkeypatch.setattr("sys.stdin", io.StringIO("x\n"))
    assert users_cli(["--database-url", url, "reset", "ghost", "--password-stdin"]) == 1
    accounts = Accounts(url)
    assert accounts.sign_in("ada", "second-admin-password")[0].role == "admin"
    accounts.close()
