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


def write_small_strips(out: Path, seeds, constant: bool = False, height: int = 128, width: int = 512) -> Path:
    """Synthetic strips in Severstal's layout, smaller than the real 1600x256 so tiny sets run fast.
    `constant`: every image one flat grey (a deliberately useless calibration set), labels kept."""
    import cv2
    import numpy as np

    from core.datasets.severstal import write_severstal_csv
    from core.datasets.synthetic import CLASS_NAMES, make_strip
    from core.imaging.rle import rle_encode

    (out / "train_images").mkdir(parents=True, exist_ok=True)
    labels = {}
    for seed in seeds:
        strip = make_strip(seed, height=height, width=width)
        pixels = np.full_like(strip.pixels, 128) if constant else strip.pixels
        cv2.imwrite(str(out / "train_images" / strip.image_id), pixels[:, :, ::-1])
        labels[strip.image_id] = {k: rle_encode(strip.masks[k]) for k in strip.classes}
    write_severstal_csv(labels, out / "train.csv")
    (out / "classes.txt").write_text("\n".join(CLASS_NAMES) + "\n")
    return out


@pytest.fixture(scope="session")
def exported_set(tmp_path_factory) -> Path:
    """A tiny set with its fp32 ONNX and OpenVINO exports (read-only for tests: copy it to change it)."""
    from core.modelsets.export import export_model_set

    folder = make_tiny_model_set(tmp_path_factory.mktemp("exported") / "tiny")
    export_model_set(folder)
    return folder
