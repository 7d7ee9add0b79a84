"""The inspector's shift in a real browser (headless Chromium on `streamlit run app.py`, the shipped model set
models/severstal-synthetic on the CPU): how long an inspector waits.

    .venv/bin/python benchmarks/bench_shift.py [--runs 10]

- Accept -> next sheet shown: key A pressed until the sheet list and the decision row show the next sheet (target
  <= 0.5 s).
- One-strip upload -> verdict: a 1600x256 strip handed to the file input until its verdict and Accept are on screen
  (target <= 1.5 s on the 2-core CPU); also printed: until the strip's zoomable picture is drawn as well.
- First result of a 21-strip batch: 21 strips handed over until the first verdict is on screen (target <= 3 s);
  also printed: until the whole batch is done (its progress bar gone).
Each upload starts a fresh batch (the previous one is closed in the review log and the page reloaded before the
clock starts); the next run waits until the previous batch's background inspection has finished.
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sqlalchemy  # noqa: E402
from bench_backends import cpu_description  # noqa: E402  (this folder: one CPU description for all benchmarks)
from PIL import Image  # noqa: E402

from core.accounts.auth import Accounts  # noqa: E402
from core.datasets.synthetic import make_strip  # noqa: E402
from core.review.store import ReviewLog  # noqa: E402
from tests.helpers.browser import chromium_page, streamlit_server  # noqa: E402

PASSWORD = "a-bench-password-1"
READY = """() => {
    const keyed = prefix => [...document.querySelectorAll(`[class*="st-key-${prefix}"]`)]
        .map(e => [...e.classList].find(c => c.startsWith(`st-key-${prefix}`)).slice(`st-key-${prefix}`.length));
    const picked = keyed("inspect-sheet-pick-");
    const panels = keyed("details-inspect-");
    return picked.length === 1 && panels.length === 1 && panels[0] === picked[0] ? picked[0] : null;
}"""
SHOWS = """name => { const picker = document.querySelector('[class*="st-key-inspect-sheet-pick-"]');
    const accept = document.querySelector('[class*="st-key-accept-inspect"]');
    const input = picker && picker.querySelector('input');
    const text = picker ? picker.innerText + ' ' + (input ? input.value : '') : '';
    return text.includes(name) && !!accept; }"""
IDLE = "() => !document.querySelector('[data-testid=\"stProgress\"]')"
DRAWN = "() => !!document.querySelector('[class*=\"st-key-strip-inspect-\"] .main-svg image')"


def write_strips(folder: Path, count: int, first_seed: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for seed in range(first_seed, first_seed + count):
        buffer = io.BytesIO()
        Image.fromarray(make_strip(seed, (seed % 4,)).pixels).save(buffer, format="JPEG", quality=92)
        paths.append(folder / f"strip_{seed}.jpg")
        paths[-1].write_bytes(buffer.getvalue())
    return paths


def fresh_batch(page, log: ReviewLog) -> None:
    """Close the inspector's batch and reload: the next upload opens a new one (outside the clock)."""
    page.wait_for_function(IDLE, timeout=600_000)
    batch = log.current_batch("bench")
    if batch is not None:
        log.close_batch(batch.id)
    page.reload()
    page.get_by_role("heading", name="Inspect").wait_for()
    page.locator('[data-testid="stFileUploader"] input[type="file"]').wait_for(state="attached")


def upload(page, log: ReviewLog, files: list[Path], settle: float) -> tuple[float, float]:
    """Hand `files` to a fresh batch; (the clock's start, seconds until the first verdict and Accept are on screen).

    `settle`: seconds between the reloaded page being ready and the upload (an inspector picking a file takes a
    moment, while the browser is still loading and compiling the page's scripts; 0 uploads at once)."""
    fresh_batch(page, log)
    time.sleep(settle)
    started = time.perf_counter()
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files([str(f) for f in files])
    page.wait_for_function(SHOWS, arg=files[0].name, timeout=600_000, polling=20)
    return started, time.perf_counter() - started


def upload_seconds(page, log: ReviewLog, files: list[Path], settle: float = 0.0) -> tuple[float, float]:
    """(seconds until the verdict and Accept are on screen, seconds until the strip's picture is drawn too)."""
    started, verdict = upload(page, log, files, settle)
    page.wait_for_function(DRAWN, timeout=600_000, polling=20)
    return verdict, time.perf_counter() - started


def batch_seconds(page, log: ReviewLog, files: list[Path], settle: float) -> tuple[float, float, float]:
    """(seconds until the batch's first verdict is on screen, until the whole batch is done and shown, the longest
    wait between two of its verdicts being recorded: how one by one the results come)."""
    started, first = upload(page, log, files, settle)
    page.wait_for_function(IDLE, timeout=600_000, polling=20)
    done = time.perf_counter() - started
    with log.engine.connect() as connection:
        recorded = sorted(connection.execute(sqlalchemy.text(
            "SELECT created_at FROM inferences ORDER BY id DESC LIMIT :n"), {"n": len(files)}).scalars())
    stamps = [datetime.fromisoformat(str(stamp)) for stamp in recorded]
    return first, done, max((b - a).total_seconds() for a, b in itertools.pairwise(stamps))


def accept_seconds(page, runs: int) -> list[float]:
    page.wait_for_function(IDLE, timeout=600_000)
    page.get_by_role("heading", name="Inspect").click()  # the focus away from the file input
    times = []
    for _ in range(runs):
        before = page.wait_for_function(READY, timeout=60_000).json_value()
        started = time.perf_counter()
        page.keyboard.press("a")
        page.wait_for_function(f"() => {{ const now = ({READY})(); return now !== null && now !== {before!r}; }}",
                               timeout=60_000, polling=20)
        times.append(time.perf_counter() - started)
    return times


def line(label: str, times: list[float], target: float) -> str:
    return (f"{label}: median {statistics.median(times):.2f} s (runs: {', '.join(f'{t:.2f}' for t in times)}); "
            f"target <= {target:g} s")


def engine_used(database_url: str) -> str:
    """What ran the strips (as each verdict records it) and the engine's own time a strip, read from the log."""
    with sqlalchemy.create_engine(database_url).connect() as connection:
        rows = connection.execute(sqlalchemy.text("SELECT device, verdict, timings_ms FROM inferences")).all()
    ran = Counter(f"{json.loads(v).get('backend', 'torch')} on {d}" for d, v, _ in rows)
    totals = [sum(json.loads(t).values()) for _, _, t in rows]
    return (f"engine: {', '.join(f'{n} strips by {k}' for k, n in ran.items())}; its own time a strip (timings_ms "
            f"summed): median {statistics.median(totals) / 1000:.2f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--settle", type=float, default=0.0,
                        help="seconds to wait after each reload before uploading (default 0: at once)")
    args = parser.parse_args()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env = {"STEELSCAN_MODELS_DIR": str(ROOT / "models"), "STEELSCAN_MODEL_SET": "severstal-synthetic",
               "STEELSCAN_DATABASE_URL": f"sqlite:///{work / 'review.db'}", "STEELSCAN_IMAGE_STORE": str(work / "img"),
               "STEELSCAN_DEVICE": "cpu", "STEELSCAN_SETTINGS": str(work / "none.toml"),
               "STEELSCAN_SIGN_IN_FIRST_DELAY_SECONDS": "0"}
        Accounts(env["STEELSCAN_DATABASE_URL"]).add_user("bench", PASSWORD, "inspector", "benchmark")
        singles = write_strips(work / "single", args.runs + 1, 7000)
        batch = write_strips(work / "batch", 21, 8000)
        log = ReviewLog(env["STEELSCAN_DATABASE_URL"], work / "img")
        with streamlit_server(env, work / "streamlit.log") as url, \
                chromium_page(work / "profile", height=768, width=1366) as page:
            page.goto(url)
            page.get_by_label("User name").fill("bench")
            page.get_by_role("textbox", name="Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.get_by_role("heading", name="Inspect").wait_for()
            upload_seconds(page, log, singles[-1:])  # warm-up: the model set loads once per server process
            one, one_drawn = zip(*[upload_seconds(page, log, [strip], args.settle) for strip in singles[:args.runs]],
                                 strict=True)
            first, done, gap = zip(*[batch_seconds(page, log, batch, args.settle) for _ in range(args.runs)],
                                   strict=True)
            accept = accept_seconds(page, min(args.runs, 20))  # the last batch: 21 undecided sheets
        ran = engine_used(env["STEELSCAN_DATABASE_URL"])
        log.close()
    load_after = os.getloadavg()
    print(f"CPU: {cpu_description()}; each upload {args.settle:g} s after the page's reload")
    print(f"load average (1, 5, 15 min): before {', '.join(f'{v:.2f}' for v in load_before)}; "
          f"after {', '.join(f'{v:.2f}' for v in load_after)}")
    print(line("Accept -> next sheet shown", accept, 0.5))
    print(line("one-strip upload -> verdict", one, 1.5))
    print(f"one-strip upload -> strip picture drawn as well: median {statistics.median(one_drawn):.2f} s (runs: "
          f"{', '.join(f'{t:.2f}' for t in one_drawn)}); the page is reloaded before each upload, so Plotly's "
          "script loads each time (on a working shift it is loaded once)")
    print(line("first result of a 21-strip batch", first, 3.0))
    print(f"whole 21-strip batch done: median {statistics.median(done):.1f} s "
          f"(runs: {', '.join(f'{t:.1f}' for t in done)}); longest wait between two of its results being "
          f"recorded: median {statistics.median(gap):.2f} s (runs: {', '.join(f'{t:.2f}' for t in gap)})")
    print(ran)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
