"""`steelscan models export` and `steelscan predict --backend`."""

import json

from core.cli.main import main
from core.modelsets.modelset import read_card
from tests.conftest import make_tiny_model_set, write_small_strips


def test_models_export_writes_the_onnx_graphs(tmp_path, capsys):
    folder = make_tiny_model_set(tmp_path / "tiny")
    assert main(["models", "export", str(folder), "--format", "onnx"]) == 0
    assert "onnx-fp32: exports/onnx-fp32/classifier.onnx" in capsys.readouterr().out
    assert list(read_card(folder).exports) == ["onnx-fp32"]


def test_models_without_a_set_is_a_usage_error(tmp_path, capsys):
    assert main(["models", "export", str(tmp_path / "nothing")]) == 1
    assert "no such model set" in capsys.readouterr().err


def test_predict_backend_selects_what_runs_the_networks(tmp_path, exported_set, tiny_set, capsys):
    images = write_small_strips(tmp_path / "strips", range(5000, 5002)) / "train_images"
    for backend, expected in (("onnx", "onnx"), ("torch", "torch"), ("openvino", "openvino"), ("auto", "onnx")):
        assert main(["predict", str(images), "--model-set", str(exported_set), "--backend", backend, "--json"]) == 0
        lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert len(lines) == 2 and {line["backend"] for line in lines} == {expected}
    assert main(["predict", str(images), "--model-set", str(tiny_set), "--backend", "onnx"]) == 1
    assert "no onnx-fp32 export" in capsys.readouterr().err
