"""Peak memory of one server process while N sessions inspect at once, through the engine path the pages use.

    python benchmarks/bench_sessions_memory.py [--sessions 10] [--workers 1] [--model-set severstal-synthetic]

How it is measured: one process loads the model set once (as the server's st.cache_resource does) and starts
N threads, one per session; at the same moment (a barrier) each inspects and records one 1600x256 synthetic
strip through core.review.batch.inspect_and_record with the shared InferenceSlots (`--workers` runs at once,
the setting inference_workers), then reads its pixels through the shared byte-bounded PixelCache, as the
Inspect page does. Streamlit's own per-session overhead is not included. Peak resident memory is the
process's ru_maxrss (getrusage), printed with the RSS of the warm process before the sessions start.
"""

from __future__ import annotations

import argparse
import io
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402

from core.datasets.synthetic import make_strip  # noqa: E402
from core.engine.inference import Inspector  # noqa: E402
from core.engine.slots import InferenceSlots  # noqa: E402
from core.imaging.pixelcache import PixelCache  # noqa: E402
from core.review.batch import inspect_and_record  # noqa: E402
from core.review.store import ReviewLog  # noqa: E402


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--model-set", default="severstal-synthetic")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="steelscan-mem-"))
    inspector = Inspector.load(ROOT / "models" / args.model_set, "cpu")
    log = ReviewLog(f"sqlite:///{scratch / 'review.db'}", scratch / "images")
    slots, pixels = InferenceSlots(args.workers), PixelCache(256 * 2**20)
    uploads = []
    for n in range(args.sessions + 1):
        buffer = io.BytesIO()
        Image.fromarray(make_strip(2000 + n, (0, 2)).pixels).save(buffer, format="PNG")
        uploads.append(buffer.getvalue())
    list(inspect_and_record(inspector, log, [(uploads[-1], "warm.png")], 0.15, slots=slots))  # warm-up
    warm = rss_mb()
    barrier, seconds = threading.Barrier(args.sessions), []

    def session(n: int) -> None:
        barrier.wait()
        began = time.perf_counter()
        [item] = inspect_and_record(inspector, log, [(uploads[n], f"s{n}.png")], 0.15, slots=slots)
        pixels.get(str(log.image_path(item.image_sha256)))
        seconds.append(time.perf_counter() - began)

    threads = [threading.Thread(target=session, args=(n,)) for n in range(args.sessions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{args.sessions} sessions at once, inference_workers={args.workers}, model set {args.model_set}: "
          f"warm process {warm:.0f} MB, peak RSS {peak:.0f} MB ({peak - warm:+.0f} MB); runs at once at most "
          f"{slots.peak_running}; slowest session {max(seconds):.1f} s, fastest {min(seconds):.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
