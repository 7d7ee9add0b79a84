"""What test-time flips cost: a model set's hold-out images through the engine with the card's
`test_time_flips` on and off, alternating rounds in one process, median ms an image (decoding included).

    python benchmarks/bench_flips.py --model-set /tmp/mt/w224-flips --data ../shared/datasets/magnetic-tile
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_backends import cpu_description  # noqa: E402

from core.datasets import open_dataset  # noqa: E402
from core.engine.inference import Inspector  # noqa: E402
from core.evaluation.evaluate import select_indices  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-set", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--backend", default="torch")
    args = parser.parse_args()
    print(cpu_description(), flush=True)
    loaded = Inspector.load(args.model_set, "cpu", backend=args.backend)
    dataset = open_dataset(args.data)
    paths = [dataset.samples[i].image_path for i in select_indices(dataset, "holdout", loaded.card.training)]
    engines = {flips: Inspector(replace(loaded.model_set, card=replace(loaded.card, test_time_flips=flips)),
                                backend=loaded.backend) for flips in (False, True)}
    times: dict[bool, list[float]] = {False: [], True: []}
    for engine in engines.values():
        list(engine.inspect_many(paths[:5]))  # warm-up
    for _ in range(args.rounds):
        for flips, engine in engines.items():
            start = time.perf_counter()
            count = sum(1 for _ in engine.inspect_many(paths))
            times[flips].append((time.perf_counter() - start) * 1000 / count)
    for flips, values in times.items():
        print(f"test_time_flips={flips}: {statistics.median(values):.1f} ms an image (median of {args.rounds} "
              f"rounds of {len(paths)} images; rounds {', '.join(f'{v:.1f}' for v in values)})")


if __name__ == "__main__":
    main()
