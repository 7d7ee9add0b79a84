"""Start-up figures: how soon a fresh `streamlit run app.py` shows the sign-in screen in a real browser, whether
an anonymous visitor ever sees the page list, and how fast the users CLI answers.

    .venv/bin/python benchmarks/bench_startup.py [--runs 5]

Each run starts a new server process (nothing cached), so the figure includes Python's and Streamlit's own start.
The browser is started before the clock; the clock starts when the server process is spawned and stops when the
"Sign in to SteelScan" heading is visible in headless Chromium.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_backends import cpu_description  # noqa: E402  (this folder: one CPU description for all benchmarks)

from core.accounts.auth import Accounts  # noqa: E402
from tests.helpers.browser import chromium_page, streamlit_server  # noqa: E402

# Records, from the first byte of every document, whether Streamlit's page list was ever in the DOM.
WATCH_NAVIGATION = """
window.__navSeen = false;
new MutationObserver(() => {
  const nav = '[data-testid="stSidebarNav"], [data-testid="stSidebarNavItems"]';
  if (document.querySelector(nav)) window.__navSeen = true;
}).observe(document, {subtree: true, childList: true});
"""


def sign_in_screen_seconds(env: dict[str, str], work: Path, runs: int) -> tuple[list[float], bool]:
    times, nav_seen = [], False
    with chromium_page(work / "profile", height=768, width=1366) as page:
        page.add_init_script(WATCH_NAVIGATION)
        for run in range(runs):
            started = time.perf_counter()
            with streamlit_server(env, work / f"server-{run}.log", health_timeout_s=120) as url:
                page.goto(url)
                page.get_by_role("heading", name="Sign in to SteelScan").wait_for(timeout=120_000)
                times.append(time.perf_counter() - started)
                nav_seen |= bool(page.evaluate("window.__navSeen"))
    return times, nav_seen


def users_cli_seconds(env: dict[str, str], runs: int) -> list[float]:
    command = [str(Path(sys.executable).parent / "steelscan"), "users", "list"]
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, cwd=ROOT, env={**os.environ, **env}, check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env = {"STEELSCAN_DATABASE_URL": f"sqlite:///{work / 'review.db'}", "STEELSCAN_IMAGE_STORE": str(work / "img"),
               "STEELSCAN_SETTINGS": str(work / "none.toml")}
        Accounts(env["STEELSCAN_DATABASE_URL"]).add_user("bench", "a-bench-password-1", "inspector", "benchmark")
        screen, nav_seen = sign_in_screen_seconds(env, work, args.runs)
        cli = users_cli_seconds(env, args.runs)
    print(f"CPU: {cpu_description()}")
    print(f"sign-in screen after a fresh `streamlit run`: median {statistics.median(screen):.2f} s "
          f"(runs: {', '.join(f'{t:.2f}' for t in screen)}); target <= 2 s")
    print(f"page list shown to the anonymous visitor at any moment: {'YES' if nav_seen else 'no'}")
    print(f"`steelscan users list`: median {statistics.median(cli):.2f} s "
          f"(runs: {', '.join(f'{t:.2f}' for t in cli)}); target < 1.5 s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
