"""Review-queue claims live in the database: two app servers (processes) on one PostgreSQL never hand one sheet to
two reviewers."""

from __future__ import annotations

import multiprocessing as mp
from datetime import datetime, timedelta

import pytest

from core.review.loadtest import fake_inference
from core.review.queue import Claims, claim_next
from core.review.store import Decision, ReviewLog
from tests.helpers.databases import fresh_postgres_schema

BAND = 0.15


@pytest.fixture
def pg_url():
    with fresh_postgres_schema() as url:
        yield url


def test_claims_expire_renew_and_hold_one_sheet_per_reviewer(tmp_path):
    log = ReviewLog(f"sqlite:///{tmp_path / 'log.db'}", tmp_path / "store")
    start = datetime(2026, 1, 1)
    now = [start]
    claims = Claims(log, seconds=10, clock=lambda: now[0])
    assert claims.claim(1, "ann") and not claims.claim(1, "bob")
    assert claims.held_by_others("bob") == {1} and claims.held_by_others("ann") == set()
    assert claims.claim(2, "ann") and claims.held_by_others("bob") == {2}  # one sheet per reviewer
    now[0] = start + timedelta(seconds=9)
    assert claims.claim(2, "ann")  # a rerun renews
    now[0] = start + timedelta(seconds=15)
    assert claims.held_by_others("bob") == {2}
    now[0] = start + timedelta(seconds=19.5)
    assert claims.held_by_others("bob") == set() and claims.claim(2, "bob")
    claims.release("bob")
    assert claims.held_by_others("ann") == set()
    # A second ReviewLog on the same file (another app server) sees the same claims.
    other = Claims(ReviewLog(log.url, tmp_path / "store"), seconds=10, clock=lambda: now[0])
    assert claims.claim(1, "ann") and other.held_by_others("bob") == {1} and not other.claim(1, "bob")


def _server(url: str, store: str, server: int, reviewers: int, results) -> None:
    """One app server: `reviewers` threads working the queue as the Review queue page does."""
    import threading

    log = ReviewLog(url, store)
    claims = Claims(log, seconds=60)
    decided: list[tuple[str, int]] = []

    def reviewer(name: str) -> None:
        while True:
            item, _ = claim_next(log, claims, name, BAND)
            if item is None:
                return
            log.add_review(item.inference_id, name, Decision("accept", ("pits",), ""), page="queue")
            decided.append((name, item.inference_id))
            claims.release(name)

    threads = [threading.Thread(target=reviewer, args=(f"s{server}-r{i}",)) for i in range(reviewers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results.put(decided)


def test_two_app_servers_on_postgresql_never_share_a_sheet(pg_url, tmp_path):
    store = tmp_path / "store"
    log = ReviewLog(pg_url, store)
    sheets = {fake_inference(log, seed) for seed in range(40)}
    # Server A's reviewer holds a sheet: server B (another process) must not get it.
    first, _ = claim_next(log, Claims(log, seconds=60), "holder", BAND)
    context = mp.get_context("spawn")
    results = context.Queue()
    servers = [context.Process(target=_server, args=(pg_url, str(store), s, 3, results)) for s in range(2)]
    for server in servers:
        server.start()
    decided = [row for _ in servers for row in results.get(timeout=240)]
    for server in servers:
        server.join(timeout=60)
        assert server.exitcode == 0
    ids = [inference_id for _, inference_id in decided]
    assert first.inference_id not in ids  # held by a reviewer of the first server throughout
    assert len(ids) == len(set(ids)) == len(sheets) - 1  # every other sheet decided exactly once
    assert {name.split("-")[0] for name, _ in decided} == {"s0", "s1"}  # both servers did real work
    reviews = log.reviews_frame()
    assert len(reviews) == len(sheets) - 1
