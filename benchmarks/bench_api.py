"""The HTTP API on 127.0.0.1: p50/p95 latency of POST /v1/inspect for one strip, then 4 concurrent clients.

    python benchmarks/bench_api.py [--single 30] [--concurrent 60] [--clients 4] [--max-seconds 600]

Starts `steelscan api` as a separate process on a free local port with a fresh review log, makes a record-scoped
key, and sends synthetic 1600x256 JPEG strips (recorded, as a line system would). Bounded: at most `single` +
`concurrent` requests and `max-seconds` in all; only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from line_common import ROOT, environment, percentile, write_strips


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--single", type=int, default=30)
    parser.add_argument("--concurrent", type=int, default=60)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--model-set", default="severstal-synthetic")
    parser.add_argument("--max-seconds", type=float, default=600)
    args = parser.parse_args()
    strips = [p.read_bytes() for p in write_strips(ROOT / "var" / "bench-strips", args.single + args.concurrent)]
    with tempfile.TemporaryDirectory() as tmp:
        env = environment(Path(tmp), args.model_set)
        key = subprocess.run([sys.executable, "-m", "core.cli.main", "keys", "add", "bench", "--scope", "record"],
                             cwd=ROOT, env=env, capture_output=True, text=True, check=True).stdout.strip()
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = subprocess.Popen([sys.executable, "-m", "core.cli.main", "api", "--port", str(port), "--log-level",
                                   "warning"], cwd=ROOT, env=env)
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(600):
                try:
                    if httpx.get(f"{base}/healthz", timeout=5).status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.5)
            stop_at = time.monotonic() + args.max_seconds
            headers = {"X-API-Key": key}

            def send(client: httpx.Client, data: bytes, i: int) -> float:
                start = time.perf_counter()
                response = client.post(f"{base}/v1/inspect", headers=headers, timeout=300,
                                       files={"file": (f"strip_{i}.jpg", data, "image/jpeg")})
                response.raise_for_status()
                return time.perf_counter() - start

            with httpx.Client() as client:
                send(client, strips[0], -1)  # warm-up
                single = [send(client, strips[i], i) for i in range(args.single) if time.monotonic() < stop_at]
            print(f"model set {args.model_set}, cpu; one client, one strip at a time: n={len(single)}, "
                  f"p50 {percentile(single, 50) * 1000:.0f} ms, p95 {percentile(single, 95) * 1000:.0f} ms "
                  f"({len(single) / sum(single):.2f} strips/s)")
            todo = list(range(args.single, args.single + args.concurrent))
            lock, latencies = threading.Lock(), []

            def client_loop() -> None:
                with httpx.Client() as client:
                    while time.monotonic() < stop_at:
                        with lock:
                            if not todo:
                                return
                            i = todo.pop()
                        took = send(client, strips[i], i)
                        with lock:
                            latencies.append(took)

            start = time.perf_counter()
            threads = [threading.Thread(target=client_loop) for _ in range(args.clients)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            wall = time.perf_counter() - start
            print(f"{args.clients} concurrent clients: n={len(latencies)} in {wall:.1f} s = "
                  f"{len(latencies) / wall:.2f} strips/s; latency p50 {percentile(latencies, 50) * 1000:.0f} ms, "
                  f"p95 {percentile(latencies, 95) * 1000:.0f} ms")
        finally:
            server.terminate()
            server.wait(timeout=60)


if __name__ == "__main__":
    main()
