"""How the engine's batch size trades the wait for the first result against strips/s, per backend.

    python benchmarks/bench_batch_size.py [--strips 24] [--sizes 1,2,4,8] [--backends auto,torch] [--rounds 2]

For each backend and batch size: `Inspector.inspect_many` over the same synthetic 1600x256 JPEG strips
(about half defective), after a warm-up. Prints seconds a strip, seconds until the first verdict arrives
(what an inspector waits before a batch shows anything) and the longest gap between two verdicts (how
"per image" the results come). Rounds alternate the sizes so drifting load from other work hits all
of them. The figures say which batch size `batch_size = "auto"` should pick on this machine.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from bench_backends import cpu_description
from line_common import write_strips

from core.engine.inference import Inspector


def one_pass(inspector: Inspector, paths: list[Path]) -> tuple[float, float, float]:
    start = time.perf_counter()
    arrivals = []
    for _ in inspector.inspect_many(paths):
        arrivals.append(time.perf_counter() - start)
    gaps = [b - a for a, b in zip([0.0, *arrivals], arrivals, strict=True)]
    return arrivals[-1] / len(paths), arrivals[0], max(gaps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-set", default="models/severstal-synthetic")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--strips", type=int, default=24)
    parser.add_argument("--sizes", default="1,2,4,8")
    parser.add_argument("--backends", default="auto,torch")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    print(cpu_description(), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_strips(Path(tmp), args.strips)
        for backend in args.backends.split(","):
            inspector = Inspector.load(args.model_set, args.device, backend=backend)
            print(f"backend {backend}: {inspector.backend.name} {inspector.backend.precision} "
                  f"on {inspector.device_label}", flush=True)
            list(inspector.inspect_many(paths[:4]))  # warm-up: first-call compilation and allocations
            results: dict[int, list[tuple[float, float, float]]] = {size: [] for size in sizes}
            for _ in range(args.rounds):
                for size in sizes:
                    inspector.batch_size = size
                    results[size].append(one_pass(inspector, paths))
            for size in sizes:
                per_strip, first, gap = (statistics.median(column) for column in zip(*results[size], strict=True))
                print(f"  batch {size:>2}: {per_strip:.3f} s a strip, first verdict after {first:.2f} s, "
                      f"longest wait between verdicts {gap:.2f} s  (median of {args.rounds})", flush=True)


if __name__ == "__main__":
    main()
