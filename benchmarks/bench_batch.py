"""batch-score on a local Ray (2 workers, one CPU each) against `steelscan predict` on the same folder.

    python benchmarks/bench_batch.py [--strips 64] [--workers 2]

Wall time of each command as a user runs it (start-up, model loading and Ray's start included), and the
strips/s each reports for its scoring alone where it does.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from line_common import ROOT, environment, write_strips


def timed(command: list[str], env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(done.stderr[-2000:])
    return time.perf_counter() - start, done.stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--strips", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--model-set", default="severstal-synthetic")
    args = parser.parse_args()
    all_strips = write_strips(ROOT / "var" / "bench-strips", args.strips)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "strips"
        folder.mkdir()
        for path in all_strips[: args.strips]:
            (folder / path.name).symlink_to(path)
        env = environment(Path(tmp), args.model_set)
        cli = [sys.executable, "-m", "core.cli.main"]
        predict_s, _ = timed([*cli, "predict", str(folder)], env)
        print(f"model set {args.model_set}, cpu, {args.strips} strips")
        print(f"steelscan predict:                 {predict_s:6.1f} s wall = {args.strips / predict_s:.2f} strips/s")
        for engine in ("ray", "local"):
            wall, err = timed([*cli, "batch-score", str(folder), "--out", str(Path(tmp) / f"{engine}.parquet"),
                               "--engine", engine, "--workers", str(args.workers)], env)
            scoring = re.search(r"in ([\d.]+) s \(([\d.]+) images/s", err)
            print(f"batch-score --engine {engine:<5}:       {wall:6.1f} s wall = {args.strips / wall:.2f} strips/s "
                  f"(scoring alone {scoring.group(1)} s = {scoring.group(2)} strips/s)")


if __name__ == "__main__":
    main()
