"""A broken weight file in the active model set: a clear page naming the file, no traceback, and the Models
page can still switch to an intact set, which then inspects as usual."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.contract.settings import load_settings
from core.datasets.synthetic import CLASS_NAMES
from core.modelsets.modelset import CLASSIFIER_FILE, SEGMENTER_FILE, create_untrained
from core.review.store import ReviewLog
from tests.helpers.apptest import settle
from tests.helpers.dashboard import ROOT, account_token, dashboard_env, models_dir, strip_png  # noqa: F401

TIMEOUT = 300
pytestmark = pytest.mark.usefixtures("dashboard_env")


@pytest.fixture(scope="module")
def pristine_sets(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("fault_models")
    for name in ("line-a", "line-b"):
        create_untrained(root / name, name, CLASS_NAMES, classifier_architecture="resnet18",
                         segmenter_encoder="resnet18")
    return root


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def tamper(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-100] ^= 0xFF  # one flipped byte inside a tensor: still loads, but is not the weights the card names
    path.write_bytes(bytes(data))


FAULTS = {
    "missing": (lambda path: path.unlink(), "is missing"),
    "truncated": (truncate, "does not match the card's"),
    "tampered": (tamper, "does not match the card's"),
}


@pytest.mark.parametrize("weight_file", [CLASSIFIER_FILE, SEGMENTER_FILE])
@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_broken_weight_file_names_the_file_and_other_sets_stay_usable(fault, weight_file, pristine_sets,
                                                                         tmp_path, monkeypatch):
    models = tmp_path / "models"
    shutil.copytree(pristine_sets, models)
    broken = models / "line-a" / weight_file
    damage, reason = FAULTS[fault]
    damage(broken)
    monkeypatch.setenv("STEELSCAN_MODELS_DIR", str(models))
    monkeypatch.setenv("STEELSCAN_MODEL_SET", "line-a")

    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    app.session_state["auth_token"] = account_token("ada", "admin")
    app.run()
    assert not app.exception  # no traceback, the page itself explains
    [error] = [e.value for e in app.error]
    assert "cannot be loaded" in error and str(broken) in error and reason in error, error
    assert not app.file_uploader  # nothing to inspect with: no half-working page
    assert any("Models page" in i.value for i in app.info)

    app.switch_page("app_pages/review_queue.py").run()  # the queue still works (it needs no model)
    assert not app.exception and any("queue is empty" in s.value for s in app.success)

    app.switch_page("app_pages/models.py").run()
    assert not app.exception
    assert any("Cannot be loaded" in e.value and str(broken) in e.value for e in app.error)
    app.selectbox[0].set_value("line-b").run()
    app.text_input(key="activate_reason").input("line-a's weights are broken")
    [make_active] = [b for b in app.button if b.label == "Make line-b the active model set"]
    make_active.click().run()
    assert not app.error  # line-b loads
    app.switch_page("app_pages/inspect.py").run()
    assert not app.exception and not app.error
    assert any("Model set **line-b**" in c.value for c in app.caption)
    settle(app.file_uploader[0].upload("sheet.png", strip_png(95), "image/png").run())
    assert not app.exception and not app.error
    frame = ReviewLog.from_settings(load_settings()).images_frame()
    assert frame["model_set"].tolist() == ["line-b"]
