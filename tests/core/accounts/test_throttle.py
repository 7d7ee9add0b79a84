"""Sign-in throttling: growing delays per name and address, never a name lock, an address lock an admin clears,
parallel guesses reserved one by one, at most two Argon2 checks at once,
every failure logged, the Argon2 check outside any write transaction, and the CLI's changes audited."""

from __future__ import annotations

import io
import sqlite3
import threading
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
    accounts = make(tmp_path, first_delay_s=1.0, free_failures=1, max_failures=10)
    with pytest.raises(AuthError, match=r"wrong user name or password \(attempt 1 registered\).*wait 1 s before"):
        accounts.sign_in("ivan", "wrong-password", client="10.0.0.7")
    # Straight away even the right password is refused, without checking it.
    with pytest.raises(AuthError, match=r"too soon after a failed attempt for user name 'ivan'.*wait 1 s"):
        accounts.sign_in("ivan", PASSWORD, client="10.0.0.7")
    clock.advance(1.1)
    with pytest.raises(AuthError, match="attempt 2 registered.*wait 2 s before"):
        accounts.sign_in("ivan", "wrong-again", client="10.0.0.7")
    clock.advance(1.1)  # the second delay is 2 s: still too soon
    with pytest.raises(AuthError, match="too soon.*wait 1 s"):
        accounts.sign_in("ivan", PASSWORD, client="10.0.0.7")
    clock.advance(1.0)
    assert accounts.sign_in("ivan", PASSWORD, client="10.0.0.7")[0].username == "ivan"
    assert reasons(accounts) == ["wrong_password", "delayed", "wrong_password", "delayed"]
    assert {f["client"] for f in accounts.sign_in_failures()} == {"10.0.0.7"}
    accounts.close()


def test_a_failure_with_no_wait_due_never_refuses_an_attempt_that_read_the_clock_earlier(tmp_path, monkeypatch):
    """Parallel attempts read the clock before the one ahead of them commits: a failure that imposes no wait must
    not make them "too soon" (under load, 12 parallel guesses got 1 check instead of the 3 free ones)."""
    clock = Clock()
    monkeypatch.setattr(auth, "utc_now", clock)
    accounts = make(tmp_path, first_delay_s=30, free_failures=3, max_failures=3)
    clock.advance(0.5)  # the first attempt commits at 08:00:00.5 ...
    with pytest.raises(AuthError, match="attempt 1 registered"):
        accounts.sign_in("ivan", "guess-1", client="203.0.113.9")
    clock.advance(-0.4)  # ... the next had read the clock at 08:00:00.1
    with pytest.raises(AuthError, match="attempt 2 registered"):
        accounts.sign_in("ivan", "guess-2", client="203.0.113.9")
    with pytest.raises(AuthError, match="attempt 1 registered"):  # two failures of the name: others need not wait yet
        accounts.sign_in("ivan", "guess-3", client="198.51.100.4")
    accounts.close()


def test_the_message_says_the_attempt_registered_and_how_many_remain_before_a_delay(tmp_path):
    accounts = make(tmp_path, first_delay_s=5.0)  # by default the fourth attempt waits
    messages = []
    for _ in range(4):
        with pytest.raises(AuthError) as caught:
            accounts.sign_in("ivan", "wrong-password", client="10.0.0.7")
        messages.append(str(caught.value))
    assert [m.split(" — ")[1].split(";")[0] for m in messages[:3]] == [
        "2 more attempts before SteelScan makes you wait", "1 more attempt before SteelScan makes you wait",
        "wait 5 s before the next attempt"]
    assert [f"attempt {n} registered" in m for n, m in enumerate(messages[:3], 1)] == [True] * 3
    assert "too soon" in messages[3]  # the fourth came inside the 5 s: refused unchecked, not counted
    # An unknown name gets the same words: the message never says which half was wrong.
    with pytest.raises(AuthError, match=r"wrong user name or password \(attempt 1 registered\) — 2 more"):
        accounts.sign_in("nobody", "wrong-password", client="10.0.0.7")
    accounts.close()


def test_nobody_can_lock_a_named_user_out_from_elsewhere(tmp_path, monkeypatch):
    clock = Clock()
    monkeypatch.setattr(auth, "utc_now", clock)
    accounts = make(tmp_path, first_delay_s=1.0, max_failures=5)
    assert accounts.sign_in("ivan", PASSWORD, client="10.0.0.7")[0].username == "ivan"  # his terminal
    # 60 wrong passwords for ivan from 30 addresses (the old throttle locked the name after 5).
    for attempt in range(60):
        clock.advance(0.5)
        try:
            accounts.sign_in("ivan", f"guess-{attempt}", client=f"198.51.100.{attempt % 30}")
        except AuthError:
            pass
    assert accounts.locked_accounts() == []
    assert accounts.sign_in("ivan", PASSWORD, client="10.0.0.7")[0].username == "ivan"  # at once, not locked
    # A new address for that name waits (a guesser rotating addresses is slowed), and is told why.
    with pytest.raises(AuthError, match="user name 'ivan' had .* failed attempts from other addresses.*wait"):
        accounts.sign_in("ivan", PASSWORD, client="10.0.0.8")
    assert "locked" not in reasons(accounts)
    accounts.close()


def test_an_address_lock_is_cleared_by_an_admin(tmp_path):
    accounts = make(tmp_path, first_delay_s=0, max_failures=50, client_max_failures=4)
    for i in range(4):
        with pytest.raises(AuthError, match="wrong user name or password"):
            accounts.sign_in(f"guess{i}", "whatever-password", client="203.0.113.9")
    assert reasons(accounts) == ["unknown_user"] * 4
    with pytest.raises(AuthError, match="address 203.0.113.9: locked.*steelscan users unlock-address 203.0.113.9"):
        accounts.sign_in("ivan", PASSWORD, client="203.0.113.9")
    # Ivan at his own terminal is not affected by the attacker's address.
    assert accounts.sign_in("ivan", PASSWORD, client="10.0.0.7")[0].username == "ivan"
    assert [lock["address"] for lock in accounts.locked_addresses()] == ["203.0.113.9"]
    assert accounts.unlock_address("203.0.113.9") is True
    assert accounts.locked_addresses() == []
    assert accounts.sign_in("ivan", PASSWORD, client="203.0.113.9")[0].username == "ivan"
    accounts.close()


class _SlowHasher:
    """Argon2 as usual, but each check lasts `seconds` and the most checks running at once are counted."""

    def __init__(self, real, seconds: float) -> None:
        self.real, self.seconds, self.running, self.most, self.calls = real, seconds, 0, 0, 0
        self.lock = threading.Lock()

    def verify(self, stored, password):
        with self.lock:
            self.running += 1
            self.calls += 1
            self.most = max(self.most, self.running)
        try:
            time.sleep(self.seconds)
            return self.real.verify(stored, password)
        finally:
            with self.lock:
                self.running -= 1

    def hash(self, password):
        with self.lock:
            self.calls += 1
        return self.real.hash(password)

    def __getattr__(self, name):
        return getattr(self.real, name)


def _in_parallel(count: int, attempt) -> list[str]:
    outcomes: list[str] = []
    start = threading.Barrier(count)

    def one(i: int) -> None:
        start.wait()
        try:
            attempt(i)
            outcomes.append("signed in")
        except AuthError as exc:
            outcomes.append(exc.reason)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def test_parallel_guesses_cannot_all_pass_the_throttle(tmp_path, monkeypatch):
    accounts = make(tmp_path, first_delay_s=30, max_failures=100)
    monkeypatch.setattr(auth, "_hasher", _SlowHasher(auth._hasher, 0.3))
    outcomes = _in_parallel(12, lambda i: accounts.sign_in("ivan", f"guess-{i}", client="203.0.113.9"))
    checked = [o for o in outcomes if o.startswith("wrong user name or password")]
    # The three free attempts were checked (the third started the delay); the other nine refused unchecked.
    assert len(checked) == 3, outcomes
    assert sum("too soon" in o for o in outcomes) == 9
    accounts.close()


def test_at_most_two_password_checks_run_at_once_and_unknown_names_cost_none(tmp_path, monkeypatch):
    accounts = make(tmp_path, first_delay_s=0)
    for name in ("ann", "bob", "cy"):
        accounts.add_user(name, PASSWORD, "inspector", created_by="test")
    spy = _SlowHasher(auth._hasher, 0.4)
    monkeypatch.setattr(auth, "_hasher", spy)
    names = ["ivan", "ann", "bob", "cy"] * 2
    outcomes = _in_parallel(8, lambda i: accounts.sign_in(names[i], "wrong-password", client=f"198.51.100.{i}"))
    assert all(o.startswith("wrong user name or password") for o in outcomes), outcomes
    assert spy.most == 2  # eight parallel guesses, two Argon2 checks at a time
    calls = spy.calls
    _in_parallel(8, lambda i: accounts.sign_in(f"nobody{i}", "wrong-password", client=f"198.51.100.{i}"))
    assert spy.calls == calls  # made-up names: a sleep, no hash (no CPU, no 64 MiB each)
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
    accounts = make(tmp_path, first_delay_s=60, max_failures=10, free_failures=1)
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
