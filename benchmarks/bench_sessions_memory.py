"""Peak memory of one dashboard server process with N sessions inspecting at once.

    python benchmarks/bench_sessions_memory.py [--sessions 10] [--workers 1] [--images 1] [--model-set NAME]

How it is measured: one Python process plays the Streamlit server. It runs N AppTest sessions of the real
app (app.py, signed in as inspectors) in N threads; they share the process's st.cache_resource exactly as the
sessions of one `streamlit run` do (one model set, one inference queue of `--workers` slots, one pixel cache).
All N upload their strip(s) (1600x256 synthetic PNGs) at the same moment (a barrier) and wait for the verdicts.
Peak resident memory is the process's ru_maxrss (getrusage); the baseline is taken after one warm-up session
has loaded the model set, so "added" is what N concurrent inspections cost on top of a warm server.
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def strip_png(seed: int) -> bytes:
    from PIL import Image

    from core.datasets.synthetic import make_strip
    buffer = io.BytesIO()
    Image.fromarray(make_strip(seed, (0, 2)).pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--workers", type=int, default=1, help="inference_workers: runs at once")
    parser.add_argument("--images", type=int, default=1, help="strips each session uploads")
    parser.add_argument("--model-set", default="severstal-synthetic")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="steelscan-mem-"))
    os.environ.update({
        "STEELSCAN_DATABASE_URL": f"sqlite:///{scratch / 'review.db'}", "STEELSCAN_IMAGE_STORE": str(scratch / "img"),
        "STEELSCAN_MODEL_SET": args.model_set, "STEELSCAN_DEVICE": "cpu",
        "STEELSCAN_INFERENCE_WORKERS": str(args.workers), "STEELSCAN_SETTINGS": str(scratch / "none.toml"),
    })
    from streamlit.testing.v1 import AppTest

    from core.accounts.auth import Accounts

    accounts = Accounts(os.environ["STEELSCAN_DATABASE_URL"])
    tokens = []
    for n in range(args.sessions + 1):
        accounts.add_user(f"inspector{n}", "bench-password-1", "inspector", created_by="bench")
        tokens.append(accounts.sign_in(f"inspector{n}", "bench-password-1")[1])
    accounts.close()
    uploads = [[strip_png(1000 + n * 10 + i) for i in range(args.images)] for n in range(args.sessions + 1)]
    print(f"before the app: RSS {rss_mb():.0f} MB")

    def session(n: int, barrier: threading.Barrier | None, seconds: list) -> None:
        app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=1800)
        app.session_state["auth_token"] = tokens[n]
        app.run()
        for i, data in enumerate(uploads[n]):
            app.file_uploader[0].upload(f"s{n}_{i}.png", data, "image/png")
        if barrier is not None:
            barrier.wait()
        began = time.perf_counter()
        app.file_uploader[0].run()
        seconds.append(time.perf_counter() - began)
        assert not app.exception, [e.value for e in app.exception]

    warm: list = []
    session(args.sessions, None, warm)  # loads the model set once, as the first visitor of a server would
    baseline = rss_mb()
    print(f"warm server (model set loaded, one inspection done in {warm[0]:.1f} s): RSS {baseline:.0f} MB, "
          f"peak so far {peak_mb():.0f} MB")
    barrier, seconds = threading.Barrier(args.sessions), []
    threads = [threading.Thread(target=session, args=(n, barrier, seconds)) for n in range(args.sessions)]
    sampled = [baseline]
    for thread in threads:
        thread.start()
    while any(t.is_alive() for t in threads):
        sampled.append(rss_mb())
        time.sleep(0.05)
    for thread in threads:
        thread.join()
    print(f"{args.sessions} sessions x {args.images} strip(s) at once, inference_workers={args.workers}: "
          f"peak RSS {peak_mb():.0f} MB (sampled max {max(sampled):.0f} MB), {max(sampled) - baseline:+.0f} MB over "
          f"the warm server; slowest session {max(seconds):.1f} s, fastest {min(seconds):.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
