"""The two engines: one process (the CLI's Inspector), or Ray Data actors each holding one Inspector.

Ray: a local instance with `workers` CPUs by default, or an existing cluster by address (every node needs this
project and the model set at the same path). Each actor runs torch on one thread, so `workers` actors use
`workers` cores without oversubscribing them.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import pandas as pd

from core.batchscore.rows import COLUMNS, score_paths, to_frame

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def score_local(model_set: Path, paths: list[str], device: str, batch_size: int, max_pixels: int,
                precision: str) -> pd.DataFrame:
    from core.engine.inference import Inspector

    inspector = Inspector.load(model_set, device, batch_size=batch_size, max_pixels=max_pixels, precision=precision)
    return to_frame(score_paths(inspector, paths))


class _RayScorer:
    """A Ray Data actor: loads the model set once, then scores batches of paths."""

    def __init__(self, model_set: str, device: str, batch_size: int, max_pixels: int, precision: str,
                 threads: int) -> None:
        import torch

        from core.engine.inference import Inspector

        torch.set_num_threads(threads)
        self.inspector = Inspector.load(model_set, device, batch_size=batch_size, max_pixels=max_pixels,
                                        precision=precision)

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame(score_paths(self.inspector, batch["path"].tolist()), columns=COLUMNS)


def score_ray(model_set: Path, paths: list[str], device: str, batch_size: int, max_pixels: int, precision: str,
              workers: int = 2, address: str | None = None) -> pd.DataFrame:
    import ray

    runtime_env = {"env_vars": {"PYTHONPATH": str(PROJECT_ROOT)}}  # actors import this project's `core`
    started_here = not ray.is_initialized()
    if started_here:
        if address:
            ray.init(address=address, runtime_env=runtime_env, log_to_driver=False)
        else:
            ray.init(num_cpus=workers, runtime_env=runtime_env, include_dashboard=False, log_to_driver=False)
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False  # one summary line from the CLI instead of Ray's progress output
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    try:
        # Enough blocks that every actor gets work, each about one inference batch.
        blocks = max(workers, math.ceil(len(paths) / batch_size))
        dataset = ray.data.from_items([{"path": p} for p in paths], override_num_blocks=blocks)
        scored = dataset.map_batches(
            _RayScorer, batch_format="pandas", batch_size=batch_size, num_cpus=1,
            compute=ray.data.ActorPoolStrategy(size=workers),
            fn_constructor_kwargs={"model_set": str(Path(model_set).resolve()), "device": device,
                                   "batch_size": batch_size, "max_pixels": max_pixels, "precision": precision,
                                   "threads": 1})
        return to_frame(scored.to_pandas().to_dict("records"))
    finally:
        if started_here:
            ray.shutdown()
