"""The folder watcher under bursts: images/s sustained, landing-to-queue latency, and a kill -9 mid-run.

    python benchmarks/bench_watcher.py [--strips 500] [--burst 50] [--every 20] [--kill-after 150]

Drops `strips` synthetic 1600x256 JPEG strips into a watched folder in bursts of `burst` every `every` seconds
(each written under a temporary name and renamed into place, as cameras do), runs `steelscan watch` as a
separate process, kills it with SIGKILL once `kill-after` images are recorded and starts it again. Prints the
sustained rate (images recorded / time from the first landing to the last record, restart included), p50/p95
of landing -> recorded in the review log (= in the queue), and how many images have more than one verdict.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from line_common import ROOT, environment, percentile, write_strips
from sqlalchemy import create_engine, text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--strips", type=int, default=500)
    parser.add_argument("--burst", type=int, default=50)
    parser.add_argument("--every", type=float, default=20.0)
    parser.add_argument("--kill-after", type=int, default=150)
    parser.add_argument("--model-set", default="severstal-synthetic")
    parser.add_argument("--timeout", type=float, default=1800)
    args = parser.parse_args()
    staging = ROOT / "var" / "bench-strips"
    sources = write_strips(staging, args.strips)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        cam = work / "cam"
        cam.mkdir()
        env = environment(work, args.model_set)
        command = [sys.executable, "-m", "core.cli.main", "watch", str(cam)]
        engine = create_engine(env["STEELSCAN_DATABASE_URL"])

        def recorded() -> int:
            with engine.connect() as connection:
                try:
                    return connection.execute(text("select count(*) from inferences")).scalar()
                except Exception:  # table not created yet
                    return 0

        landed: dict[str, datetime] = {}
        watcher = subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.DEVNULL)
        time.sleep(25)  # let it load the model set before the first burst

        def drop() -> None:
            for start in range(0, len(sources), args.burst):
                for source in sources[start:start + args.burst]:
                    part = cam / f"{source.name}.part"
                    shutil.copyfile(source, part)
                    os.rename(part, cam / source.name)
                    landed[str(cam / source.name)] = datetime.now(UTC).replace(tzinfo=None)
                time.sleep(args.every)

        dropper = threading.Thread(target=drop)
        dropper.start()
        deadline = time.monotonic() + args.timeout
        killed, at_kill = False, "never"
        while recorded() < args.strips and time.monotonic() < deadline:
            if not killed and recorded() >= args.kill_after:
                os.kill(watcher.pid, signal.SIGKILL)
                watcher.wait()
                killed = True
                at_kill = recorded()
                watcher = subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.DEVNULL)
            time.sleep(0.5)
        watcher.send_signal(signal.SIGTERM)
        watcher.wait(timeout=60)
        dropper.join()
        with engine.connect() as connection:
            rows = connection.execute(text("select verdict, created_at, image_sha256 from inferences")).all()
            per_image = connection.execute(text(
                "select count(*) from (select image_sha256 from inferences group by image_sha256 "
                "having count(*) > 1)")).scalar()
    import json

    done = [(json.loads(v)["image"] if isinstance(v, str) else v["image"], c) for v, c, _ in rows]
    done = [(name, datetime.fromisoformat(c) if isinstance(c, str) else c) for name, c in done]
    latencies = [(at - landed[name]).total_seconds() for name, at in done if name in landed]
    span = (max(at for _, at in done) - min(landed.values())).total_seconds()
    print(f"model set {args.model_set}, cpu; {len(done)}/{args.strips} strips recorded; bursts of {args.burst} "
          f"every {args.every:.0f} s (offered {args.burst / args.every:.2f} images/s); kill -9 after {at_kill}")
    print(f"sustained: {len(done) / span:.2f} images/s over {span:.0f} s (restart included)")
    print(f"landing -> queue latency: p50 {percentile(latencies, 50):.1f} s, p95 {percentile(latencies, 95):.1f} s, "
          f"max {max(latencies):.1f} s")
    print(f"images with more than one verdict: {per_image}")


if __name__ == "__main__":
    main()
