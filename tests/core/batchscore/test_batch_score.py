"""batch-score on a local Ray with two workers gives the CLI's verdicts, one Parquet row per image."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

from core.cli.batch_score import main as batch_score
from core.cli.predict import main as predict
from core.contract.settings import load_settings
from core.contract.verdict import Verdict
from core.review.store import ReviewLog
from tests.conftest import SAMPLES


@pytest.fixture
def folder(tiny_set, tmp_path, monkeypatch):
    for name, value in {"STEELSCAN_MODELS_DIR": str(tiny_set.parent), "STEELSCAN_MODEL_SET": tiny_set.name,
                        "STEELSCAN_DEVICE": "cpu", "STEELSCAN_DATABASE_URL": f"sqlite:///{tmp_path / 'log.db'}",
                        "STEELSCAN_IMAGE_STORE": str(tmp_path / "images"),
                        "STEELSCAN_SETTINGS": str(tmp_path / "none.toml")}.items():
        monkeypatch.setenv(name, value)
    images = tmp_path / "strips"
    images.mkdir()
    for path in sorted((SAMPLES / "train_images").glob("*.jpg"))[:5]:
        shutil.copy(path, images / path.name)
    (images / "sub").mkdir()
    (images / "sub" / "cut.jpg").write_bytes((images / path.name).read_bytes()[:400])  # truncated
    return images


def test_ray_with_two_workers_gives_the_cli_verdicts_and_records_them(folder, tmp_path, capsys):
    assert predict([str(folder), "--json"]) == 0
    cli = {row["image"]: row for row in map(json.loads, capsys.readouterr().out.splitlines())}
    out = tmp_path / "verdicts.parquet"
    assert batch_score([str(folder), "--out", str(out), "--engine", "ray", "--workers", "2", "--batch-size", "2",
                        "--record"]) == 0
    err = capsys.readouterr().err
    assert "5 scored, 1 rejected" in err and "cut.jpg: is truncated" in err
    frame = pd.read_parquet(out)
    assert len(frame) == 6 and frame["path"].tolist() == sorted(frame["path"])
    bad = frame[frame["error"] != ""]
    assert bad["path"].str.endswith("cut.jpg").all() and len(bad) == 1
    good = frame[frame["error"] == ""]
    assert set(good["path"]) == set(cli)
    for row in good.itertuples():
        expected = cli[row.path]
        assert row.verdict == expected["verdict"] and list(row.classes) == expected["classes"]
        assert dict(zip(row.class_names, (round(p, 4) for p in row.probabilities), strict=True)) == \
            expected["probabilities"]
        verdict = Verdict.from_dict(json.loads(row.verdict_json))
        assert verdict.mask_rles() == json.loads(row.masks_rle) and verdict.image_sha256 == expected["sha256"]
    log = ReviewLog.from_settings(load_settings())
    recorded = [int(i) for i in good["inference_id"]]
    assert [log.verdict(i).image_sha256 for i in recorded] == good["sha256"].tolist()


def test_local_engine_matches_and_an_empty_folder_is_a_one_line_error(folder, tmp_path, capsys):
    out = tmp_path / "local.parquet"
    assert batch_score([str(folder), "--out", str(out), "--engine", "local"]) == 0
    assert len(pd.read_parquet(out)) == 6
    (tmp_path / "empty").mkdir()
    assert batch_score([str(tmp_path / "empty"), "--out", str(out), "--engine", "local"]) == 1
    assert "holds no JPEG/PNG/BMP/TIFF image" in capsys.readouterr().err
