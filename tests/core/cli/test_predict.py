import json

import pytest

from core.cli.predict import main
from tests.conftest import SAMPLES


@pytest.fixture()
def env(tiny_set, monkeypatch):
    monkeypatch.setenv("STEELSCAN_MODELS_DIR", str(tiny_set.parent))
    monkeypatch.setenv("STEELSCAN_MODEL_SET", tiny_set.name)
    monkeypatch.setenv("STEELSCAN_DEVICE", "cpu")


def test_folder_of_samples_gives_one_line_each(env, capsys):
    assert main([str(SAMPLES)]) == 0
    out, err = capsys.readouterr()
    lines = out.strip().splitlines()
    assert len(lines) == len(list((SAMPLES / "train_images").glob("*.jpg")))
    assert all(line.split("\t")[1] in ("clean", "defective") for line in lines)
    assert "untrained model set" in lines[0]
    assert f"{len(lines)} inspected, 0 rejected" in err


def test_bad_files_go_to_stderr_and_the_rest_is_inspected(env, tmp_path, capsys):
    (tmp_path / "zero.jpg").write_bytes(b"")
    (tmp_path / "page.png").write_text("<html></html>")
    good = sorted((SAMPLES / "train_images").glob("*.jpg"))[0]
    assert main([str(tmp_path / "zero.jpg"), str(good), str(tmp_path / "page.png"), "--json"]) == 0
    out, err = capsys.readouterr()
    record = json.loads(out.strip())
    assert record["image"] == str(good) and record["verdict"] in ("clean", "defective")
    assert set(record["probabilities"]) == {"pits", "crazing", "scratches", "patches"}
    assert "zero.jpg: is empty" in err and "page.png: is not an image" in err
    assert "Traceback" not in err


def test_nothing_inspected_exits_non_zero(env, tmp_path, capsys):
    (tmp_path / "zero.jpg").write_bytes(b"")
    assert main([str(tmp_path / "zero.jpg")]) == 1
    assert "0 inspected, 1 rejected" in capsys.readouterr().err


def test_real_strips_and_overlays(env, severstal_dir, tmp_path, capsys):
    assert main([str(severstal_dir / "train_images"), "--overlay-dir", str(tmp_path / "ov")]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 11
    overlays = sorted((tmp_path / "ov").glob("*.overlay.png"))
    assert len(overlays) == 11


def test_unknown_model_set_lists_the_installed_ones(env, capsys):
    assert main([str(SAMPLES), "--model-set", "nope"]) == 1
    err = capsys.readouterr().err
    assert "no such model set" in err and "tiny" in err
