"""steelscan db prune (and prune_on_start): the API call log, sign-in failures and throttles and finished sessions are
kept only the retain_* days; a live session, a running address lock and a `known:` address (signed in as a name
within 30 days) are kept whatever the days; reviews, inferences and setting changes are never touched."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from core.accounts.auth import Accounts, AuthError
from core.accounts.rows import SessionRow, SignInFailureRow, ThrottleRow
from core.cli.db import main as db_cli
from core.contract.settings import load_settings
from core.review.loadtest import decide_against_latest, fake_inference
from core.review.store import ReviewLog
from core.review.store.models import ApiCallRow, ApiKeyRow, utc_now

PASSWORD = "a long enough password"


@pytest.fixture
def env(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'log.db'}"
    monkeypatch.setenv("STEELSCAN_SETTINGS", str(tmp_path / "none.toml"))
    monkeypatch.setenv("STEELSCAN_DATABASE_URL", url)
    monkeypatch.setenv("STEELSCAN_IMAGE_STORE", str(tmp_path / "images"))
    monkeypatch.setenv("STEELSCAN_MIN_FREE_DISK_MB", "0")
    for name, days in (("API_CALLS", 90), ("SIGN_IN", 7), ("SESSIONS", 7)):
        monkeypatch.setenv(f"STEELSCAN_RETAIN_{name}_DAYS", str(days))
    return url


def _age(session: Session, row, days: float) -> None:
    """Move a row's times `days` into the past, as if it had been written then."""
    shift = timedelta(days=days)
    if isinstance(row, ThrottleRow):
        row.last_failure_at -= shift
        row.wait_until -= shift
    elif isinstance(row, SessionRow):
        row.created_at -= shift
        row.expires_at -= shift
    elif isinstance(row, SignInFailureRow):
        row.at -= shift


def _counts(log: ReviewLog) -> dict[str, int]:
    with log.engine.connect() as connection:
        return {t: connection.execute(text(f"select count(*) from {t}")).scalar_one()
                for t in ("api_calls", "sign_in_failures", "sign_in_throttle", "user_sessions", "reviews",
                          "inferences", "setting_changes")}


def test_prune_keeps_what_has_effect_and_never_the_audit(env, capsys):
    log, accounts = ReviewLog(env, load_settings().image_store), Accounts(env)
    accounts.add_user("ann", PASSWORD, "inspector", "admin")
    inference = fake_inference(log, 1)
    decide_against_latest(log, inference, "ann", "accept", ("pits",), "fine")
    log.log_setting_change("threshold", "0.6", "ann", model_set="s", class_name="pits", reason="fewer alarms")
    _, live = accounts.sign_in("ann", PASSWORD, client="10.0.0.1")  # a known address for ann from now on
    _, old_known = accounts.sign_in("ann", PASSWORD, client="10.0.0.2")
    _, signed_out = accounts.sign_in("ann", PASSWORD, client="10.0.0.1")
    accounts.sign_out(signed_out)
    with pytest.raises(AuthError):
        accounts.sign_in("ann", "wrong password", client="10.0.0.9")
    accounts.flush_failure_log()
    with Session(log.engine) as session, session.begin():
        key = ApiKeyRow(name="line", key_sha256="0" * 64, scopes=["read"], created_by="admin")
        session.add(key)
        session.flush()
        for days in (100, 1):
            session.add(ApiCallRow(key_id=key.id, method="GET", path="/health", status=200, latency_ms=1.0,
                                   called_at=utc_now() - timedelta(days=days)))
        for row in session.scalars(select(ThrottleRow)):
            # known:ann@10.0.0.2 signed in 31 days ago (its 30 days are over); 10.0.0.1 10 days ago (still known);
            # the failures from 10.0.0.9 are 10 days old.
            _age(session, row, 31 if row.key == "known:ann@10.0.0.2" else 10)
        for row in session.scalars(select(SignInFailureRow)):
            _age(session, row, 10)
        session.execute(update(SessionRow).where(SessionRow.revoked.is_(True)).values(  # signed out 8 days ago
            created_at=utc_now() - timedelta(days=8)))
        session.execute(update(SessionRow).where(SessionRow.token_sha256 == _token_hash(old_known)).values(
            created_at=utc_now() - timedelta(days=20), expires_at=utc_now() - timedelta(days=19)))
    before = _counts(log)
    assert before["api_calls"] == 2 and before["user_sessions"] == 3 and before["sign_in_failures"] == 1

    assert db_cli(["prune"]) == 0
    out = capsys.readouterr().out
    assert "deleted 1 api_calls, 1 sign_in_failures" in out and "kept reviews, inferences, setting_changes whole" in out
    after = _counts(log)
    assert {t: after[t] for t in ("reviews", "inferences", "setting_changes")} == \
        {t: before[t] for t in ("reviews", "inferences", "setting_changes")}  # the audit, untouched
    assert after["api_calls"] == 1 and after["sign_in_failures"] == 0
    with Session(log.engine) as session:
        keys = set(session.scalars(select(ThrottleRow.key)))
    assert keys == {"known:ann@10.0.0.1"}  # 10 days old but known for 30: kept; the expired marker and failures gone
    assert accounts.user_for(live).username == "ann"  # a live session is never pruned
    assert after["user_sessions"] == 1  # the signed-out one and the long-expired one are gone
    log.close()
    accounts.close()


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def test_zero_days_keep_forever_and_prune_on_start_prunes(env, monkeypatch):
    log = ReviewLog(env, load_settings().image_store)
    with Session(log.engine) as session, session.begin():
        key = ApiKeyRow(name="line", key_sha256="1" * 64, scopes=["read"], created_by="admin")
        session.add(key)
        session.flush()
        session.add(ApiCallRow(key_id=key.id, method="GET", path="/health", status=200, latency_ms=1.0,
                               called_at=utc_now() - timedelta(days=400)))
    monkeypatch.setenv("STEELSCAN_RETAIN_API_CALLS_DAYS", "0")
    assert db_cli(["prune"]) == 0
    monkeypatch.setenv("STEELSCAN_RETAIN_API_CALLS_DAYS", "90")
    ReviewLog.from_settings(load_settings()).close()  # prune_on_start is off by default
    assert _api_calls(log) == 1
    monkeypatch.setenv("STEELSCAN_PRUNE_ON_START", "true")
    ReviewLog.from_settings(load_settings()).close()
    assert _api_calls(log) == 0
    log.close()


def _api_calls(log: ReviewLog) -> int:
    with log.engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(ApiCallRow)).scalar_one()
