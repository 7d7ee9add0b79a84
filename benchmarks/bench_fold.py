"""One strip at a time through the torch engine, with and without BatchNorm folded into the convolutions
(core.modelsets.fusion, what Inspector.load does), alternating so both see the same CPU load.

    .venv/bin/python benchmarks/bench_fold.py [--model-set models/severstal-synthetic] [--repeats 3]

Prints the CPU, the median seconds a strip for each, and the largest probability difference between them.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from bench_backends import cpu_description  # noqa: E402  (this folder: one CPU description for all benchmarks)
from PIL import Image  # noqa: E402

from core.datasets.synthetic import make_strip  # noqa: E402
from core.engine.inference import Inspector  # noqa: E402
from core.modelsets.modelset import load_model_set  # noqa: E402


def strips(count: int) -> list[bytes]:
    out = []
    for seed in range(7000, 7000 + count):
        buffer = io.BytesIO()
        Image.fromarray(make_strip(seed, (seed % 4,)).pixels).save(buffer, format="JPEG", quality=92)
        out.append(buffer.getvalue())
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-set", type=Path, default=ROOT / "models" / "severstal-synthetic")
    parser.add_argument("--strips", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    plain = Inspector(load_model_set(args.model_set, "cpu"), backend="torch", precision="fp32")
    folded = Inspector.load(args.model_set, "cpu", backend="torch", precision="fp32")
    data = strips(args.strips)
    times: dict[str, list[float]] = {"plain": [], "folded": []}
    worst = 0.0
    for engine in (plain, folded):  # warm-up: first-call allocations are not the steady state
        engine.inspect((data[0], "warm.jpg"))
    for _ in range(args.repeats):
        for blob in data:
            verdicts = []
            for name, engine in (("plain", plain), ("folded", folded)):
                start = time.perf_counter()
                verdicts.append(engine.inspect((blob, "strip.jpg")))
                times[name].append(time.perf_counter() - start)
            worst = max(worst, float(np.abs(np.subtract(verdicts[0].probabilities, verdicts[1].probabilities)).max()))
    print(f"CPU: {cpu_description()}")
    print(f"model set: {args.model_set.name}; {args.strips} strips (1600x256 JPEG) x {args.repeats}, one at a time")
    for name, values in times.items():
        print(f"{name}: median {statistics.median(values):.3f} s a strip")
    print(f"largest probability difference: {worst:.2e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
