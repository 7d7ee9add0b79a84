"""Shared by the line benchmarks: synthetic 1600x256 JPEG strips, a throw-away settings environment."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def write_strips(folder: Path, count: int, seed0: int = 700_000) -> list[Path]:
    """`count` synthetic strips (about half defective) as JPEG q95, like camera images."""
    from core.datasets.synthetic import make_strip

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"strip_{i:05d}.jpg"
        if not path.exists():
            buffer = io.BytesIO()
            Image.fromarray(make_strip(seed0 + i).pixels).save(buffer, format="JPEG", quality=95)
            path.write_bytes(buffer.getvalue())
        paths.append(path)
    return paths


def environment(work: Path, model_set: str = "severstal-synthetic", device: str = "cpu") -> dict[str, str]:
    """Environment for subprocesses: a fresh review log and image store under `work`."""
    env = dict(os.environ)
    env.update(STEELSCAN_DATABASE_URL=f"sqlite:///{work / 'log.db'}", STEELSCAN_IMAGE_STORE=str(work / "images"),
               STEELSCAN_MODEL_SET=model_set, STEELSCAN_DEVICE=device, STEELSCAN_SETTINGS=str(work / "none.toml"),
               STEELSCAN_IMAGE_ROOTS=str(work),
               PYTHONPATH=str(ROOT))
    return env


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]
