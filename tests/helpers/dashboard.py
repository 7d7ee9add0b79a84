"""Shared pieces of the dashboard tests: a tiny untrained model set, small strip images, tmp settings."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.accounts.auth import Accounts
from core.contract.verdict import Region, Verdict
from core.datasets.synthetic import CLASS_NAMES, make_strip
from core.modelsets.modelset import create_untrained
from core.review.store import Decision, ReviewLog
from tests.helpers.constant_model import write_constant_model

ROOT = Path(__file__).resolve().parents[2]
MODEL_SET = "tiny-test"
KNOWN_SET = "known"  # calls every sheet "pits" at 0.9 (tests.helpers.constant_model)
PASSWORD = "a-test-password-1"


def strip_png(seed: int, classes: tuple[int, ...] = (0, 2)) -> bytes:
    """A 256x64 crop of a synthetic strip, PNG-encoded: small enough to keep every test fast."""
    pixels = make_strip(seed, classes).pixels[96:160, 400:656]
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("models")
    create_untrained(root / MODEL_SET, MODEL_SET, CLASS_NAMES, classifier_architecture="resnet18",
                     segmenter_encoder="resnet18")
    write_constant_model(root / KNOWN_SET, CLASS_NAMES, name=KNOWN_SET)
    return root


@pytest.fixture
def dashboard_env(tmp_path, models_dir, monkeypatch) -> dict[str, str]:
    """Point every setting at tmp paths (a fresh review log per test) and return the variables."""
    env = {
        "STEELSCAN_MODELS_DIR": str(models_dir),
        "STEELSCAN_MODEL_SET": MODEL_SET,
        "STEELSCAN_DATABASE_URL": f"sqlite:///{tmp_path / 'review.db'}",
        "STEELSCAN_IMAGE_STORE": str(tmp_path / "images"),
        "STEELSCAN_DEVICE": "cpu",
        "STEELSCAN_SETTINGS": str(tmp_path / "no-settings.toml"),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


def noise_png(seed: int, size: int = 64) -> bytes:
    """A distinct small PNG per seed (different content, different hash)."""
    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def make_verdict(data: bytes, name: str, probabilities: tuple[float, ...], thresholds: tuple[float, ...] = (0.5,) * 4,
                 model_set: str = MODEL_SET, fingerprint: str = "tiny-test@0.0.0+abc") -> Verdict:
    """A real Verdict with chosen probabilities (so tests know the queue order); each present class
    gets a distinct rectangular mask so exported RLEs differ per class."""
    width, height = Image.open(io.BytesIO(data)).size
    present = tuple(n for n, p, t in zip(CLASS_NAMES, probabilities, thresholds, strict=True) if p >= t)
    masks = np.zeros((len(CLASS_NAMES), height, width), dtype=bool)
    regions = []
    for index, class_name in enumerate(CLASS_NAMES):
        if class_name in present:
            x0, y0, x1, y1 = 4 + 8 * index, 2 + 4 * index, 20 + 8 * index, 12 + 4 * index
            masks[index, y0:y1 + 1, x0:x1 + 1] = True
            regions.append(Region(class_name, index, int(masks[index].sum()), (x0, y0, x1, y1), 0.9))
    return Verdict(
        image_name=name, image_sha256=hashlib.sha256(data).hexdigest(), width=width, height=height,
        class_names=CLASS_NAMES, probabilities=tuple(probabilities), thresholds=tuple(thresholds),
        defective=bool(present), classes_present=present, masks=masks, regions=tuple(regions), model_set=model_set,
        model_version="0.0.0", model_fingerprint=fingerprint, model_trained=False, device="cpu",
        segmenter_ran=bool(present), timings_ms={"classify": 1.5}, created_at="2025-01-01T00:00:00.000+00:00")


def write_concurrently(url: str, image_store: str, worker: int, count: int, barrier) -> None:
    """One of two processes hammering the same review log: `count` new images, each inspected and
    reviewed, plus the same shared image every time (both processes race to store it)."""
    log = ReviewLog(url, image_store)
    shared = noise_png(10_000)
    barrier.wait()
    for i in range(count):
        data = noise_png(worker * 1000 + i)
        inference_id = log.record_inference(make_verdict(data, f"w{worker}_{i}.png", (0.9, 0.1, 0.1, 0.1)), data)
        log.add_review(inference_id, f"worker{worker}", Decision.override(
            log.verdict(inference_id), ("scratches",), "concurrency test"))
        log.record_inference(make_verdict(shared, "shared.png", (0.1, 0.1, 0.1, 0.1)), shared)
    log.close()


def account_token(username: str = "ann", role: str = "admin") -> str:
    """Create the account (once) in the test's database and sign it in: the session token the app keeps."""
    accounts = Accounts(os.environ["STEELSCAN_DATABASE_URL"])
    try:
        if username not in {u["username"] for u in accounts.list_users()}:
            accounts.add_user(username, PASSWORD, role, created_by="test")
        return accounts.sign_in(username, PASSWORD)[1]
    finally:
        accounts.close()


def start_app(page: str | None = None, username: str = "ann", role: str = "admin", timeout: float = 180):
    """The real app.py under AppTest, signed in as `username` (account created on first use) and on `page`."""
    from streamlit.testing.v1 import AppTest

    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=timeout)
    app.session_state["auth_token"] = account_token(username, role)
    app.run()
    if page:
        app.switch_page(page).run()
    assert not app.exception, [e.value for e in app.exception]
    return app
