import json

import numpy as np
import pytest

from core.cli.predict import main
from core.imaging.imageio import load_image
from tests.conftest import SAMPLES
from tests.helpers.constant_model import write_constant_model

SAMPLE_FILES = sorted((SAMPLES / "train_images").glob("*.jpg"))
CLASSES = ("pits", "crazing", "scratches", "patches")


@pytest.fixture()
def env(tiny_set, monkeypatch):
    monkeypatch.setenv("STEELSCAN_MODELS_DIR", str(tiny_set.parent))
    monkeypatch.setenv("STEELSCAN_MODEL_SET", tiny_set.name)
    monkeypatch.setenv("STEELSCAN_DEVICE", "cpu")


@pytest.fixture(scope="module")
def known_set(tmp_path_factory):
    """Calls every image 'pits' at 0.9 with a whole-image pits mask; the other classes 0.1 and empty."""
    return write_constant_model(tmp_path_factory.mktemp("models") / "known", CLASSES, name="known")


def test_folder_of_samples_gives_one_line_each_with_the_models_call(known_set, env, capsys):
    assert main([str(SAMPLES), "--model-set", str(known_set)]) == 0
    out, err = capsys.readouterr()
    lines = [line.split("\t") for line in out.strip().splitlines()]
    assert [fields[0] for fields in lines] == [str(p) for p in SAMPLE_FILES]
    assert all(fields[1:] == ["defective", "pits", "top=pits:0.900"] for fields in lines)
    assert f"{len(SAMPLE_FILES)} inspected, 0 rejected" in err


def test_an_untrained_set_says_so_on_every_line(env, capsys):
    assert main([str(SAMPLE_FILES[0]), str(SAMPLE_FILES[1])]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and all(line.endswith("[untrained model set]") for line in lines)


def test_bad_files_go_to_stderr_and_the_rest_is_inspected(known_set, env, tmp_path, capsys):
    (tmp_path / "zero.jpg").write_bytes(b"")
    (tmp_path / "page.png").write_text("<html></html>")
    good = SAMPLE_FILES[0]
    assert main([str(tmp_path / "zero.jpg"), str(good), str(tmp_path / "page.png"), "--json",
                 "--model-set", str(known_set)]) == 0
    out, err = capsys.readouterr()
    record = json.loads(out.strip())
    assert record["image"] == str(good) and record["verdict"] == "defective"
    assert record["probabilities"] == pytest.approx({"pits": 0.9, "crazing": 0.1, "scratches": 0.1, "patches": 0.1},
                                                    abs=2e-3)
    assert "zero.jpg: is empty" in err and "page.png: is not an image" in err
    assert "Traceback" not in err


def test_nothing_inspected_exits_non_zero(env, tmp_path, capsys):
    (tmp_path / "zero.jpg").write_bytes(b"")
    assert main([str(tmp_path / "zero.jpg")]) == 1
    assert "0 inspected, 1 rejected" in capsys.readouterr().err


def test_real_strips_get_overlays_tinted_where_the_mask_is(known_set, env, severstal_dir, tmp_path, capsys):
    strips = sorted((severstal_dir / "train_images").glob("*.jpg"))
    assert main([str(severstal_dir / "train_images"), "--overlay-dir", str(tmp_path / "ov"),
                 "--model-set", str(known_set)]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == len(strips) == 11
    for strip in strips:
        original = load_image(strip).pixels.astype(int)
        overlay = load_image(tmp_path / "ov" / f"{strip.name}.overlay.png").pixels.astype(int)
        assert overlay.shape == original.shape
        # the whole-image pits mask tints every pixel towards pits' colour (red, #e6194b)
        red_shift = (overlay[..., 0] - original[..., 0]).mean() - (overlay[..., 2] - original[..., 2]).mean()
        assert red_shift > 10, strip.name
        assert np.abs(overlay - original).mean() > 5


def test_unknown_model_set_lists_the_installed_ones(env, capsys):
    assert main([str(SAMPLES), "--model-set", "nope"]) == 1
    err = capsys.readouterr().err
    assert "no such model set" in err and "tiny" in err
