"""Reviewers deciding while a password guesser hammers the sign-in: are decisions lost, how slow do they get?

    python benchmarks/bench_signin_attack.py [--database-url URL] [--reviewers 8] [--rate 50] [--seconds 60]
                                             [--attacks none,one-address,rotating]

Local only: a SQLite file in a temporary folder by default (or the URL given: use 127.0.0.1 / a local server).
Each phase runs `--reviewers` processes that append decisions as fast as they can for `--seconds` (each decision
timed, each signed with a unique reason so it can be counted afterwards), and at the same time one attacker
process that starts `--rate` wrong-password sign-ins per second through Accounts.sign_in, the same call the
sign-in page makes, with the default throttling (5 failures per name, 20 per address, 1 s growing delay):
  none         no attacker: the baseline
  one-address  every attempt from 127.0.0.1, cycling through a few real and made-up names: throttling answers
               most attempts without running Argon2
  rotating     every attempt from a new address with a new name (a botnet, or a spoofed proxy header): nothing
               is throttled, every attempt runs Argon2 and writes its failure and counters
Prints, per phase: decisions written / found / lost, errors, p50 / p95 / p99 decision latency, and what the
attacker achieved (attempts per second, how many ran Argon2, how many were throttled).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, select  # noqa: E402

from core.accounts.auth import Accounts, AuthError  # noqa: E402
from core.review.loadtest import decide_against_latest, fake_inference  # noqa: E402
from core.review.store import ReviewLog  # noqa: E402
from core.review.store.models import ReviewRow  # noqa: E402

PASSWORD = "the-real-password-1"


def reviewer(url: str, store: str, tag: str, worker: int, ids: list[int], barrier, seconds: float):
    log = ReviewLog(url, store)
    latencies, errors, written, i = [], [], 0, 0
    barrier.wait()  # every process imported and connected before the clock starts
    stop = time.time() + seconds
    while time.time() < stop:
        began = time.perf_counter()
        try:
            # Several reviewers on few sheets: each decision changes the label it read (retried on a conflict).
            decide_against_latest(log, ids[(worker + i) % len(ids)], f"reviewer-{worker}",
                                  "override" if i % 3 == 0 else "accept", ("pits",), f"{tag} w{worker} #{i}",
                                  page="bench")
            written += 1
            latencies.append(time.perf_counter() - began)
        except Exception as exc:  # anything here would have reached an inspector as an error
            errors.append(f"{type(exc).__name__}: {exc}"[:200])
        i += 1
    log.close()
    return written, latencies, errors


def attacker(url: str, mode: str, rate: float, barrier, seconds: float, threads: int) -> dict:
    accounts = Accounts(url)
    outcomes = {"argon2": 0, "throttled": 0, "other": 0}
    names = ["ivan", "ada", "admin", "root", "operator"]

    def attempt(i: int) -> str:
        if mode == "one-address":
            name, client = names[i % len(names)] if i % 2 else f"user{i}", "127.0.0.1"
        else:
            name, client = f"guess{i}", f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"
        try:
            accounts.sign_in(name, f"wrong-password-{i}", client=client)
        except AuthError as exc:
            return "argon2" if "wrong user name or password" in exc.reason else "throttled"
        except Exception:  # noqa: BLE001 - counted, not hidden
            return "other"
        return "other"

    barrier.wait()
    start_at = time.time()
    futures = []
    pool = ThreadPoolExecutor(max_workers=threads)  # a slow attempt need not delay the next one's start
    for i in range(int(rate * seconds)):
        delay = start_at + i / rate - time.time()
        if delay > 0:
            time.sleep(delay)
        futures.append(pool.submit(attempt, i))
    pool.shutdown(wait=True)
    for future in futures:
        outcomes[future.result()] += 1
    outcomes["seconds"] = time.time() - start_at
    accounts.close()
    return outcomes


def phase(url: str, store: Path, mode: str, reviewers: int, rate: float, seconds: float, threads: int) -> None:
    log = ReviewLog(url, store)
    ids = [fake_inference(log, seed) for seed in range(8)]
    tag = f"bench-{uuid.uuid4().hex[:8]}"
    context = mp.get_context("spawn")
    manager = context.Manager()
    barrier = manager.Barrier(reviewers + (mode != "none"))
    with context.Pool(reviewers + 1) as pool:
        jobs = [pool.apply_async(reviewer, (url, str(store), tag, w, ids, barrier, seconds)) for w in range(reviewers)]
        attack = pool.apply_async(attacker, (url, mode, rate, barrier, seconds, threads)) if mode != "none" else None
        results = [job.get() for job in jobs]
        outcomes = attack.get() if attack else None
    with log.engine.connect() as connection:
        mine = ReviewRow.reason.like(f"{tag} %")
        found = connection.execute(select(func.count()).where(mine)).scalar_one()
    log.close()
    manager.shutdown()
    written = sum(r[0] for r in results)
    latencies = np.array([x for r in results for x in r[1]]) * 1000
    errors = [e for r in results for e in r[2]]
    p50, p95, p99 = np.percentile(latencies, [50, 95, 99]) if len(latencies) else (0, 0, 0)
    print(f"[{mode}] {reviewers} reviewers, {seconds:g} s: written {written}, found {found}, lost {written - found}, "
          f"errors {len(errors)}; decision latency p50 {p50:.1f} ms, p95 {p95:.1f} ms, p99 {p99:.1f} ms, "
          f"max {latencies.max() if len(latencies) else 0:.0f} ms; {written / seconds:.0f} decisions/s")
    if outcomes:
        total = outcomes["argon2"] + outcomes["throttled"] + outcomes["other"]
        print(f"[{mode}] attacker: {total} attempts in {outcomes['seconds']:.1f} s "
              f"({total / outcomes['seconds']:.1f}/s asked {rate:g}/s): {outcomes['argon2']} ran Argon2 (wrong "
              f"password), {outcomes['throttled']} throttled, {outcomes['other']} other")
    for error in errors[:5]:
        print(f"[{mode}]   error: {error}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url")
    parser.add_argument("--reviewers", type=int, default=8)
    parser.add_argument("--rate", type=float, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--attacks", default="none,one-address,rotating")
    parser.add_argument("--attacker-threads", type=int, default=4, help="sign-ins in flight at once")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        for mode in args.attacks.split(","):
            url = args.database_url or f"sqlite:///{Path(scratch) / f'{mode}.db'}"
            accounts = Accounts(url)
            if "ivan" not in {u["username"] for u in accounts.list_users()}:
                accounts.add_user("ivan", PASSWORD, "inspector", created_by="bench")
            accounts.close()
            phase(url, Path(scratch) / "images", mode, args.reviewers, args.rate, args.seconds, args.attacker_threads)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
