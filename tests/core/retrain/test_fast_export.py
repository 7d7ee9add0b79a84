"""A set a job trains is exported and quantised before the gate, and the engine then runs the fastest export that
passed (never torch fp32 when an export exists)."""

import pytest

from core.cli.train import build_parser
from core.engine.inference import Inspector
from core.modelsets.export import export_key
from core.modelsets.modelset import read_card
from core.retrain.fast import make_fast
from core.training.pipeline import run
from tests.core.training.test_pipeline import write_mask_folder


@pytest.mark.slow
def test_a_trained_candidate_gets_the_fastest_export_that_passed_and_the_engine_picks_it(tmp_path):
    data = write_mask_folder(tmp_path / "data")
    out = tmp_path / "candidate"
    run(build_parser().parse_args([str(data), "--out", str(out), "--run-dir", str(tmp_path / "run"), "--steps", "8",
                                   "--input-size", "64", "--batch-size", "8", "--validations", "1",
                                   "--val-fraction", "0.25", "--pretrained", "none"]), "test")
    messages = []
    fast = make_fast(out, data, log=messages.append)
    assert fast["backend"] in ("openvino-int8", "onnx-fp32") and fast["reason"]
    exports = read_card(out).exports
    assert {"onnx-fp32", "openvino-fp32"} <= set(exports)
    assert (fast["backend"] == "openvino-int8") == ("openvino-int8" in exports)
    inspector = Inspector.load(out, "cpu")
    assert export_key(inspector.backend.name, inspector.backend.precision) == fast["backend"]
