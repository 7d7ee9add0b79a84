"""Shared fixtures: real data from ../shared/datasets (skip only when absent) and a tiny model set."""

from __future__ import annotations

from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
SHARED = PROJECT.parent / "shared" / "datasets"
SEVERSTAL = SHARED / "severstal-sample"
NEU = SHARED / "NEU-DET" / "train"
SAMPLES = PROJECT / "sample_images"


@pytest.fixture(scope="session")
def severstal_dir() -> Path:
    if not SEVERSTAL.is_dir():
        pytest.skip(f"{SEVERSTAL} is absent")
    return SEVERSTAL


@pytest.fixture(scope="session")
def neu_dir() -> Path:
    if not NEU.is_dir():
        pytest.skip(f"{NEU} is absent")
    return NEU


def make_tiny_model_set(folder: Path, source: str = "classifier", seed: int = 0, **overrides) -> Path:
    """A randomly initialised resnet18 set: small enough for a 2-core CPU test run."""
    from core.datasets.synthetic import CLASS_NAMES
    from core.modelsets.modelset import create_untrained

    create_untrained(folder, "tiny", CLASS_NAMES, seed=seed, classifier_architecture="resnet18",
                     segmenter_encoder="resnet18", segmenter_encoder_source=source,
                     decoder_channels=(32, 16, 8, 8, 8), **overrides)
    return folder


@pytest.fixture(scope="session")
def tiny_set(tmp_path_factory) -> Path:
    return make_tiny_model_set(tmp_path_factory.mktemp("models") / "tiny")


@pytest.fixture(scope="session")
def tiny_inspector(tiny_set):
    from core.engine.inference import Inspector

    return Inspector.load(tiny_set, "cpu", batch_size=3)
