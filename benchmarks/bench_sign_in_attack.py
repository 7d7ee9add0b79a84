"""A sign-in attack against the sign-in core path (core.accounts.auth.Accounts.sign_in), a legitimate user meanwhile.

    python benchmarks/bench_sign_in_attack.py [--seconds 60] [--rate 50] [--real-share 0.5]

For `seconds`, up to `rate` wrong-password attempts a second, each in its own thread as Streamlit runs each
session's script (up to 256 at once), rotating user names (half of them the plant's real accounts, half made up)
and client addresses (4,096 of them, as a botnet or a proxy's many clients would). Meanwhile legitimate users sign
in with the right password: `ivan` every 2 s from his own terminal (which signed in before the attack), `eve`
every 5 s from an address she never used (her name is among the attacked), and `cy` (a name the attacker does not
know) every 5 s from a new address. A fresh SQLite review log in a temporary folder; nothing is contacted.

Prints the attempts served by outcome, the process's peak RSS, and both users' sign-in success and latency
(p50 / p95 / max). Figures in docs/security.md.
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.accounts.auth import Accounts, AuthError, ThrottlePolicy  # noqa: E402

PASSWORD = "a-legit-password-1"
REAL = ("ivan", "eve", "ann", "admin", "bob", "supervisor")  # the names the attacker tries


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def outcome_of(exc: AuthError) -> str:
    text = exc.reason
    for key, label in (("wrong user name", "checked: wrong"), ("too soon", "refused: delayed (name+address)"),
                       ("new address must wait", "refused: delayed (name, new address)"),
                       ("locked", "refused: address locked"), ("busy", "refused: busy")):
        if key in text:
            return label
    return "other: " + text[:40]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--rate", type=float, default=50)
    parser.add_argument("--real-share", type=float, default=0.5, help="share of attempts naming a real account")
    args = parser.parse_args()
    rng = random.Random(0)
    with tempfile.TemporaryDirectory() as tmp:
        accounts = Accounts(f"sqlite:///{Path(tmp) / 'bench.db'}", throttle=ThrottlePolicy())
        for name in (*REAL, "cy"):
            accounts.add_user(name, PASSWORD, "inspector", created_by="bench")
        accounts.sign_in("ivan", PASSWORD, client="10.0.0.7")  # his terminal, before the attack
        outcomes: Counter[str] = Counter()
        legit: dict[str, list[tuple[bool, float, str]]] = {"ivan": [], "eve": [], "cy": []}
        lock = threading.Lock()
        peak = [rss_mb()]
        stop = threading.Event()

        def attempt(name: str, address: str) -> None:
            try:
                accounts.sign_in(name, "wrong-" + str(rng.random()), client=address)
                label = "signed in (!)"
            except AuthError as exc:
                label = outcome_of(exc)
            with lock:
                outcomes[label] += 1

        def user(name: str, address: str, every_s: float) -> None:
            while not stop.wait(every_s):
                began = time.perf_counter()
                try:
                    accounts.sign_in(name, PASSWORD, client=address)
                    ok, why = True, ""
                except AuthError as exc:
                    ok, why = False, exc.reason
                legit[name].append((ok, time.perf_counter() - began, why))

        def sample() -> None:
            while not stop.wait(0.2):
                peak[0] = max(peak[0], rss_mb())

        helpers = [threading.Thread(target=user, args=("ivan", "10.0.0.7", 2.0)),
                   threading.Thread(target=user, args=("eve", "10.0.0.8", 5.0)),
                   threading.Thread(target=user, args=("cy", "10.0.0.9", 5.0)),
                   threading.Thread(target=sample)]
        for thread in helpers:
            thread.start()
        sent = 0
        began = time.monotonic()
        with ThreadPoolExecutor(max_workers=256) as pool:
            while time.monotonic() - began < args.seconds:
                name = rng.choice(REAL) if rng.random() < args.real_share else f"user{rng.randrange(100_000)}"
                address = f"10.200.{rng.randrange(16)}.{rng.randrange(256)}"
                pool.submit(attempt, name, address)
                sent += 1
                time.sleep(max(0.0, sent / args.rate - (time.monotonic() - began)))
            stop.set()
        for thread in helpers:
            thread.join()
        took = time.monotonic() - began
        accounts.close()
    served = sum(outcomes.values())
    print(f"attack: {sent} attempts sent in {args.seconds:.0f} s ({sent / args.seconds:.1f}/s), {served} served "
          f"(answered) within {took:.1f} s")
    for label, count in sorted(outcomes.items()):
        print(f"  {label}: {count}")
    print(f"peak RSS: {max(peak[0], resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024):.0f} MB")
    for name, runs in legit.items():
        times = sorted(t for ok, t, _ in runs if ok)
        failed = [why for ok, _, why in runs if not ok]
        line = f"{name}: {len(times)}/{len(runs)} sign-ins succeeded"
        if times:
            p95 = times[min(len(times) - 1, int(0.95 * len(times)))]
            line += f"; latency p50 {statistics.median(times):.2f} s, p95 {p95:.2f} s, max {times[-1]:.2f} s"
        if failed:
            line += f"; refused: {Counter(failed).most_common(2)}"
        print(line)


if __name__ == "__main__":
    main()
