"""The dashboard says when an image looks unlike the training data, and describes a dataset folder."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from core.datasets import open_dataset
from core.datasets.synthetic import CLASS_NAMES
from core.engine.domain import fit_domain
from core.modelsets.modelset import create_untrained
from tests.app_pages.test_app import start
from tests.core.datasets.test_yolo import write_yolo
from tests.helpers.apptest import settle
from tests.helpers.dashboard import MODEL_SET, dashboard_env, models_dir, strip_png  # noqa: F401  (fixtures)

pytestmark = pytest.mark.usefixtures("dashboard_env")


@pytest.fixture(scope="module")
def fitted_models_dir(tmp_path_factory):
    """A tiny set whose domain is 24 synthetic strip crops, like the ones the tests upload."""
    root = tmp_path_factory.mktemp("fitted-models")
    create_untrained(root / MODEL_SET, MODEL_SET, CLASS_NAMES, classifier_architecture="resnet18",
                     segmenter_encoder="resnet18")
    data = tmp_path_factory.mktemp("crops") / "yolo"
    write_yolo(data, {"train": {f"c{seed}": "" for seed in range(24)}}, "train: images/train\nnames: [x]\n")
    for seed in range(24):
        Image.open(io.BytesIO(strip_png(1000 + seed, ()))).save(data / "images" / "train" / f"c{seed}.png")
    fit_domain(root / MODEL_SET, open_dataset(data), device="cpu")
    return root


def test_inspect_page_says_plainly_when_an_image_looks_unlike_the_training_data(fitted_models_dir, monkeypatch):
    monkeypatch.setenv("STEELSCAN_MODELS_DIR", str(fitted_models_dir))
    app = start("app_pages/inspect.py")
    rng = np.random.default_rng(5)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (64, 256, 3), dtype=np.uint8)).save(buffer, format="PNG")
    settle(app.file_uploader[0].upload("noise.png", buffer.getvalue(), "image/png").run())
    assert not app.exception, [e.value for e in app.exception]
    assert any("looks unlike the images the model was trained on" in w.value for w in app.warning)
    settle(app.file_uploader[0].upload("strip.png", strip_png(77, ()), "image/png").run())
    next(b for b in app.button if b.label == "Next").click().run()  # the second upload joined the batch after it
    assert not any("looks unlike" in w.value for w in app.warning)
    assert any("looks like the model's training images" in c.value for c in app.caption)


def test_models_page_describes_a_dataset_folder(tmp_path):
    root = write_yolo(tmp_path / "export", {"train": {"a": "0 0.5 0.5 0.2 0.2\n", "b": "", "c": "9 0 0 1 1\n"}},
                      "train: images/train\nnames: [dent]\n")
    app = start("app_pages/models.py")
    app.text_input[-1].input(str(root))
    next(b for b in app.button if b.label == "Describe").click().run()
    assert not app.exception, [e.value for e in app.exception]
    assert any("**yolo** layout" in m.value and "2 images (1 defective, 1 clean)" in m.value for m in app.markdown)
    assert any("1 image(s) left out" in w.value for w in app.warning)
    assert any("c.txt line 1" in c.value for c in app.code)
