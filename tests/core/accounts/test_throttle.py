"""Sign-in throttling: a growing delay, a lock per account name and per client address, an admin unlock,
every failure logged, the Argon2 check outside any write transaction, and the CLI's changes audited."""

from __future__ import annotations

import io
import sqlite3
import time
from datetime import datetime, timedelta

import pytest

import core.accounts.auth as auth
from core.accounts.auth import Accounts, AuthError, ThrottlePolicy
from core.cli.users import main as users_cli
from core.review.store import ReviewLog

PASSWORD = "inspector-pass-1"


def make(tmp_path, **policy) -> Accounts:
    accounts = Accounts(f"sqlite:///{tmp_path / 'auth.db'}", throttle=ThrottlePolicy(**policy))
    accounts.add_user("ivan", PASSWORD, "inspector", created_by="test")
    return accounts


def reasons(accounts: Accounts) -> list[str]:
    return [f["reason"] for f in reversed(accounts.sign_in_failures(limit=1000))]


class Clock:
    """The accounts' clock, moved by hand: delays are checked exactly, whatever the machine's load."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, 8, 0, 0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def test_each_failure_makes_the_next_attempt_wait_longer(tmp_path, monkeypatch):
    clock = Clock()
    monkeypatch.setattr(auth, "utc_now", clock)
    accounts = make(tmp_path, first_delay_s=1.0, max_failures=10)
    with pytest.raises(AuthError, match="wrong user name or password"):
        accounts.sign_in("ivan", "wrong-password", client="10.0.0.7")
    # Straight away even the right password is refused, without checking it.
    with pytest.raises(AuthError, match=r"too soon after a failed attempt for user name 'ivan'.*wait 1 s"):
        accounts.sign_in("ivan", PASSWORD, client="10.0.0.7")
    clock.advance(1.1)
    with pytest.raises(AuthError, match="wrong user name or password"):
        accounts.sign_in("ivan", "wrong-again", client="10.0.0.7")
    clock.advance(1.1)  # the second delay is 2 s: still too soon
    with pytest.raises(AuthError, match="too soon.*wait 1 s"):
        accounts.sign_in("ivan", PASSWORD, client="10.0.0.7")
    clock.advance(1.0)
    assert accounts.sign_in("ivan", PASSWORD, client="10.0.0.7")[0].username == "ivan"
    assert reasons(accounts) == ["wrong_password", "delayed", "wrong_password", "delayed"]
    assert {f["client"] for f in accounts.sign_in_failures()} == {"10.0.0.7"}
    accounts.close()


def test_repeated_failures_lock_the_account_until_an_admin_unlocks_it(tmp_path):
    accounts = make(tmp_path, first_delay_s=0, max_failures=3, lock_minutes=15)
    for _ in range(3):
        with pytest.raises(AuthError, match="wrong user name or password"):
            accounts.sign_in("ivan", "wrong-password")
    with pytest.raises(AuthError, match=r"3 failed attempts for user name 'ivan': locked for 15 more minute.*"
                                        r"steelscan users unlock"):
        accounts.sign_in("ivan", PASSWORD)
    assert [a["username"] for a in accounts.locked_accounts()] == ["ivan"]
    assert accounts.unlock("ivan") is True
    assert accounts.locked_accounts() == []
    assert accounts.sign_in("ivan", PASSWORD)[0].username == "ivan"
    assert reasons(accounts) == ["wrong_password"] * 3 + ["locked"]
    accounts.close()


def test_one_client_address_trying_many_names_is_locked_too(tmp_path):
    accounts = make(tmp_path, first_delay_s=0, max_failures=50, client_max_failures=4)
    for i in range(4):
        with pytest.raises(AuthError, match="wrong user name or password"):
            accounts.sign_in(f"guess{i}", "whatever-password", client="203.0.113.9")
    assert reasons(accounts) == ["unknown_user"] * 4
    with pytest.raises(AuthError, match="address 203.0.113.9: locked"):
        accounts.sign_in("ivan", PASSWORD, client="203.0.113.9")
    # Ivan at his own terminal is not affected by the attacker's address.
    assert accounts.sign_in("ivan", PASSWORD, client="10.0.0.7")[0].username == "ivan"
    accounts.close()


class _HasherThatWrites:
    """Argon2 as usual, but while verifying, another connection tries to take the database's write lock."""

    def __init__(self, real, path) -> None:
        self.real, self.path, self.writes = real, path, []

    def verify(self, stored, password):
        other = sqlite3.connect(self.path, timeout=0.2, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
            self.writes.append("ok")
        except sqlite3.OperationalError as exc:
            self.writes.append(str(exc))
        finally:
            other.close()
        return self.real.verify(stored, password)

    def __getattr__(self, name):
        return getattr(self.real, name)


def test_the_password_check_holds_no_write_lock(tmp_path, monkeypatch):
    accounts = make(tmp_path)
    spy = _HasherThatWrites(auth._hasher, tmp_path / "auth.db")
    monkeypatch.setattr(auth, "_hasher", spy)
    accounts.sign_in("ivan", PASSWORD)
    with pytest.raises(AuthError):
        accounts.sign_in("ivan", "wrong-password")
    assert spy.writes == ["ok", "ok"]  # a decision could have been written during both checks
    accounts.close()


def test_the_users_cli_writes_the_same_change_log_as_the_users_page(tmp_path, monkeypatch, capsys):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("STEELSCAN_IMAGE_STORE", str(tmp_path / "images"))
    monkeypatch.setenv("STEELSCAN_SETTINGS", str(tmp_path / "none.toml"))
    monkeypatch.setattr("getpass.getuser", lambda: "root")
    monkeypatch.setattr("sys.stdin", io.StringIO("first-admin-password\n"))
    assert users_cli(["--database-url", url, "add", "ada", "--role", "admin", "--password-stdin"]) == 0
    assert users_cli(["--database-url", url, "role", "ada", "supervisor"]) == 0
    assert users_cli(["--database-url", url, "disable", "ada"]) == 0
    accounts = Accounts(url, throttle=ThrottlePolicy(first_delay_s=0, max_failures=1))
    accounts.set_active("ada", True)
    with pytest.raises(AuthError):
        accounts.sign_in("ada", "wrong-password")
    assert users_cli(["--database-url", url, "unlock", "ada"]) == 0
    assert accounts.sign_in("ada", "first-admin-password")[0].username == "ada"
    assert users_cli(["--database-url", url, "failures"]) == 0
    assert "\tada\t-\twrong_password" in capsys.readouterr().out
    log = ReviewLog(url, tmp_path / "images")
    changes = log.setting_changes()
    assert changes[["key", "changed_by", "old_value", "new_value", "reason"]].values.tolist() == [
        ["user_added", "cli:root", "", "admin", "account ada"],
        ["user_role", "cli:root", "admin", "supervisor", "account ada"],
        ["user_active", "cli:root", "true", "false", "account ada"],
        ["user_unlocked", "cli:root", "locked", "unlocked", "account ada"],
    ]
    log.close()
    accounts.close()



def test_a_flood_of_refused_attempts_is_logged_whole_in_few_writes(tmp_path):
    accounts = make(tmp_path, first_delay_s=60, max_failures=10)
    with pytest.raises(AuthError, match="wrong user name"):
        accounts.sign_in("ivan", "wrong-password")
    writes = []
    original = accounts._short_write
    accounts._short_write = lambda work: writes.append(1) or original(work)
    began = time.monotonic()
    for _ in range(200):
        with pytest.raises(AuthError, match="too soon"):
            accounts.sign_in("ivan", PASSWORD)
    # The first refusal at once, the rest batched: one write per second however many arrive.
    assert len(writes) <= 2 + int(time.monotonic() - began) < 200
    assert reasons(accounts) == ["wrong_password"] + ["delayed"] * 200  # none lost, in order
    accounts.close()
