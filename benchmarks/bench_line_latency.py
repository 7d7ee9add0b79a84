"""The line's latency while inspectors use the dashboard: landing -> verdict recorded for the watcher's sheets.

    python benchmarks/bench_line_latency.py [--strips 60] [--every 2] [--inspectors 2] [--batch 20]
                                            [--modes none,fifo,line]

One synthetic 1600x256 JPEG strip lands in a watched folder every `every` seconds (written under a temporary name,
renamed into place, as cameras do) while `inspectors` simulated inspectors inspect `batch`-strip uploads back to
back, through the dashboard's own path (core.review.batch.inspect_and_record with the process's InferenceSlots).
The watcher (core.line.watcher.Watcher) runs in the same process, as a thread, on its own engine. Modes:

- none: the watcher does not use the slots (the code before line priority): its model work runs beside the slot
  holder's, both on all cores;
- fifo: the watcher's steps queue in the slots in arrival order, behind the inspectors' waiting steps;
- line: the watcher's steps are line work, served before every waiting dashboard step (InferenceSlots(line=True)).

Prints, per mode: landing -> recorded p50/p95/max for the watcher's sheets, and the dashboard's sheets per second.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from line_common import ROOT, environment, percentile, write_strips

MODES = ("none", "fifo", "line")


def cpu_line() -> str:
    """lscpu's model name and the SIMD/AMX flags that decide the INT8 path."""
    try:
        info = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return platform.processor() or "unknown CPU"
    fields = dict(line.split(":", 1) for line in info.splitlines() if ":" in line)
    flags = fields.get("Flags", "").split()
    have = [f for f in ("avx2", "avx512f", "avx512_vnni", "amx_tile", "amx_int8") if f in flags]
    return f"{fields.get('Model name', '?').strip()}, {os.cpu_count()} CPUs, flags {' '.join(have) or 'none of note'}"


def run_mode(mode: str, args, strips: list[Path], uploads: list[Path], work: Path) -> dict:
    from core.contract.settings import load_settings
    from core.engine.slots import InferenceSlots
    from core.line.watcher import Watcher, WatchOptions
    from core.review.active import ActiveEngine
    from core.review.batch import inspect_and_record
    from core.review.store import ReviewLog

    class FifoSlots(InferenceSlots):
        """The slots before line priority: every step in arrival order."""

        def slot(self, line: bool = False):
            return super().slot(False)

    cam = work / mode / "cam"
    cam.mkdir(parents=True)
    cam = cam.resolve()  # the watcher names sheets by their resolved path
    os.environ.update(environment(work / mode, args.model_set))
    settings = load_settings()
    log = ReviewLog.from_settings(settings)
    slots = (FifoSlots if mode == "fifo" else InferenceSlots)(settings.inference_workers)
    # Two engines, as two processes would have: the dashboard's (shared by its sessions) and the watcher's.
    dashboard, line_engine = ActiveEngine(log, settings), ActiveEngine(log, settings)
    engine = dashboard.current()
    device = f"{engine.device_label}, {engine.backend.name} {engine.backend.precision}"
    line_engine.current()
    watcher = Watcher(WatchOptions([cam], ["*.jpg"], batch_size=8, settle_s=2.0, heartbeat_s=5.0,
                                   roots=[work], name=f"bench-{mode}"),
                      line_engine, log, settings.uncertainty_band, slots=None if mode == "none" else slots)
    stop, dropped = threading.Event(), threading.Event()
    landed: dict[str, datetime] = {}
    dashboard_done = [0]

    def inspector(n: int) -> None:
        while not dropped.is_set():
            sources = [(p.read_bytes(), f"{n}/{p.name}") for p in uploads[:args.batch]]
            for _item in inspect_and_record(dashboard.current(), log, sources, settings.uncertainty_band,
                                            origin="upload", slots=slots, should_stop=dropped.is_set):
                dashboard_done[0] += 1

    def drop() -> None:
        for strip in strips:
            part = cam / f"{strip.name}.part"
            shutil.copyfile(strip, part)
            os.rename(part, cam / strip.name)
            landed[str(cam / strip.name)] = datetime.now(UTC).replace(tzinfo=None)
            time.sleep(args.every)
        dropped.set()

    watching = threading.Thread(target=watcher.run, args=(stop,))
    watching.start()
    time.sleep(1.0)
    inspectors = [threading.Thread(target=inspector, args=(n,)) for n in range(args.inspectors)]
    started = time.monotonic()
    for thread in inspectors:
        thread.start()
    time.sleep(3.0)  # the inspectors' batches are under way before the first strip lands
    dropper = threading.Thread(target=drop)
    dropper.start()
    dropper.join()
    for thread in inspectors:
        thread.join()
    elapsed = time.monotonic() - started
    deadline = time.monotonic() + 120
    while watcher.beat.inspected < len(strips) and time.monotonic() < deadline:
        time.sleep(0.2)
    stop.set()
    watching.join(timeout=30)
    from sqlalchemy import select

    from core.review.store.models import InferenceRow

    rows = log._read(lambda s: s.execute(select(InferenceRow.verdict["image"].as_string(), InferenceRow.created_at)
                                         .where(InferenceRow.source == "watch")).all())
    latencies = [(at - landed[name]).total_seconds() for name, at in rows if name in landed]
    log.close()
    return {"mode": mode, "device": device, "recorded": len(latencies), "p50": percentile(latencies, 50),
            "p95": percentile(latencies, 95), "max": max(latencies), "dashboard_rate": dashboard_done[0] / elapsed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--strips", type=int, default=60, help="watcher strips per mode")
    parser.add_argument("--every", type=float, default=2.0, help="seconds between strips landing")
    parser.add_argument("--inspectors", type=int, default=2)
    parser.add_argument("--batch", type=int, default=20, help="strips per dashboard upload")
    parser.add_argument("--modes", default=",".join(MODES), help=f"comma-separated, of {', '.join(MODES)}")
    parser.add_argument("--model-set", default="severstal-synthetic")
    args = parser.parse_args()
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = sorted(set(modes) - set(MODES))
    if unknown:
        parser.error(f"unknown modes {unknown}: use {', '.join(MODES)}")
    staging = ROOT / "var" / "bench-strips"
    every = write_strips(staging, args.strips + args.batch)  # write_strips keeps a folder's strips for reruns
    strips, uploads = every[:args.strips], every[args.strips:]
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {cpu_line()}")
    print(f"one strip every {args.every:g} s ({args.strips} per mode), {args.inspectors} inspectors inspecting "
          f"{args.batch}-strip uploads back to back; model set {args.model_set}")
    with tempfile.TemporaryDirectory() as tmp:
        for mode in modes:
            result = run_mode(mode, args, strips, uploads, Path(tmp))
            print(f"{result['mode']:>5} ({result['device']}): landing -> recorded p50 {result['p50']:.2f} s, "
                  f"p95 {result['p95']:.2f} s, max {result['max']:.2f} s over {result['recorded']} sheets; "
                  f"dashboard {result['dashboard_rate']:.2f} sheets/s", flush=True)


if __name__ == "__main__":
    main()
