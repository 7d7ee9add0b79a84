"""Statistics with a big review log: how soon the page shows all its charts in a real browser.

    .venv/bin/python benchmarks/bench_statistics.py [--sheets 10000] [--runs 10] [--cold-runs 10] [--settle 0]
                                                     [--screenshot FILE]

A fresh review log gets `--sheets` reviewed sheets (bulk rows, spread over 30 days: tests/helpers/big_log.py), then
`streamlit run app.py` serves it to headless Chromium at 1366x768. Signed in as an admin, the browser goes from the
light Users page to Statistics through the sidebar link; the clock runs from the click to the moment every chart on
the page (5) has drawn its SVG. Three figures, medians:
  cold (`--cold-runs` servers, each started afresh with a new browser profile): the first open after the server
        started, `--settle` seconds after signing in (0: at once, before the warm-up that signing in starts
        (ui.warmup) can have finished; a supervisor who reads the Inspect page for a few seconds first gets the
        settled figure);
  new data (`--runs`, on the last server): one new decision recorded before each open (the log changed: frames
        re-read, numbers recomputed);
  unchanged (`--runs`): reopened with nothing new (the cached frames and numbers serve it).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_backends import cpu_description  # noqa: E402  (this folder: one CPU description for all benchmarks)

from core.accounts.auth import Accounts  # noqa: E402
from core.review.store import Decision, ReviewLog  # noqa: E402
from tests.helpers.big_log import fill_reviewed_sheets  # noqa: E402
from tests.helpers.browser import chromium_page, streamlit_server  # noqa: E402

PASSWORD = "a-bench-password-1"
CHARTS = 5  # defect rate, areas, model vs inspector, backlog, throughput
DRAWN = '[data-testid="stPlotlyChart"] .main-svg'


def open_statistics(page, fetched: list | None = None) -> float:
    """Users page -> Statistics; seconds until all charts are drawn. `fetched` gets the browser's script and style
    downloads made during the open (name, ms from the click to its end, bytes), slowest first."""
    page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name="Users").click()
    page.get_by_role("heading", name="Users").wait_for()
    page.wait_for_function(f"document.querySelectorAll('{DRAWN}').length === 0")
    clicked = page.evaluate("performance.now()")
    started = time.perf_counter()
    page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name="Statistics").click()
    page.wait_for_function(f"new Set([...document.querySelectorAll('{DRAWN}')].map("
                           f"e => e.closest('[data-testid=\"stPlotlyChart\"]'))).size >= {CHARTS}",
                           timeout=120_000)
    seconds = time.perf_counter() - started
    if fetched is not None:
        fetched.extend(page.evaluate(
            "t => performance.getEntriesByType('resource').filter(e => e.startTime >= t && "
            "['script', 'link', 'css'].includes(e.initiatorType)).map(e => [e.name.split('/').pop(), "
            "Math.round(e.responseEnd - t), e.encodedBodySize]).sort((a, b) => b[1] - a[1])", clicked))
    return seconds


def new_decision(log: ReviewLog, index: int) -> None:
    """Change one sheet's label (a new review): the log's version moves on, as on a working line."""
    sha = log.images_frame()["image_sha256"].iloc[index]
    current = log.current_label(sha)
    inference_id = log.latest_inference_id(sha)
    decision = Decision("override", ("scratches",), "bench change", current.review_id if current else None)
    log.add_review(inference_id, "bench", decision, page="bench")


def sign_in(page, url: str) -> None:
    page.goto(f"{url}/users")
    page.get_by_label("User name").fill("bench")
    page.get_by_role("textbox", name="Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Users").wait_for()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sheets", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--cold-runs", type=int, default=10, help="fresh servers (and browsers) for the cold figure")
    parser.add_argument("--settle", type=float, default=0.0, help="seconds on the Users page before the cold open")
    parser.add_argument("--screenshot", type=Path, help="save the page at 1366x768 after the last open")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env = {"STEELSCAN_DATABASE_URL": f"sqlite:///{work / 'review.db'}", "STEELSCAN_IMAGE_STORE": str(work / "img"),
               "STEELSCAN_SETTINGS": str(work / "none.toml")}
        log = ReviewLog(env["STEELSCAN_DATABASE_URL"], env["STEELSCAN_IMAGE_STORE"])
        fill_reviewed_sheets(log, args.sheets)
        Accounts(env["STEELSCAN_DATABASE_URL"]).add_user("bench", PASSWORD, "admin", "benchmark")
        cold, changed, unchanged, fetched = [], [], [], []
        for run in range(args.cold_runs):  # each cold open on a new server process and a new browser profile
            last = run == args.cold_runs - 1
            with streamlit_server(env, work / f"server{run}.log") as url, \
                    chromium_page(work / f"profile{run}", height=768, width=1366) as page:
                sign_in(page, url)
                time.sleep(args.settle)
                cold.append(open_statistics(page, fetched if last else None))
                if not last:
                    continue
                for index in range(args.runs):
                    new_decision(log, index)
                    changed.append(open_statistics(page))
                for _ in range(args.runs):
                    unchanged.append(open_statistics(page))
                if args.screenshot:
                    page.screenshot(path=str(args.screenshot), full_page=False)
                    page.screenshot(path=str(args.screenshot.with_suffix(".full.png")), full_page=True)
        load = os.getloadavg()
        log.close()

    def line(name: str, times: list[float]) -> str:
        return (f"{name}: median {statistics.median(times):.2f} s (runs: {', '.join(f'{t:.2f}' for t in times)})")

    print(f"CPU: {cpu_description()}")
    print(f"review log: {args.sheets} reviewed sheets (SQLite); browser: headless Chromium 1366x768")
    print("Statistics, click -> all 5 charts drawn; target <= 2 s")
    print(line(f"  cold (first open on a new server, {args.settle:g} s after signing in)", cold))
    print(line("  new decision before each open", changed))
    print(line("  unchanged log", unchanged))
    print("  scripts and styles the browser fetched during the last cold open (ms after the click, bytes): "
          + (", ".join(f"{name} {ms} ms {size} B" for name, ms, size in fetched[:5]) or "none"))
    print(f"load average (1, 5, 15 min) at the end: {load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
