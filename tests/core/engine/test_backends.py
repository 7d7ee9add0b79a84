"""Backend parity (exported fp32 vs torch fp32 on synthetic strips) and backend selection."""

import dataclasses

import numpy as np
import pytest
import torch

from core.contract.errors import SteelScanError
from core.datasets.synthetic import make_strip
from core.engine.backends import resolve_choice
from core.engine.inference import Inspector
from core.modelsets.export import export_model_set
from core.modelsets.modelset import load_model_set
from core.review.active import with_overrides
from tests.conftest import make_tiny_model_set


def _images() -> list[np.ndarray]:
    strips = [make_strip(seed).pixels for seed in (11, 12)]  # full 1600x256 strips
    return strips + [np.ascontiguousarray(make_strip(14).pixels[:200, :200])]  # a NEU-sized patch, odd /32


def _assert_same_verdicts(exported, reference) -> None:
    for got, want in zip(exported, reference, strict=True):
        assert np.abs(np.array(got.probabilities) - np.array(want.probabilities)).max() < 1e-4
        assert got.classes_present == want.classes_present and got.segmenter_ran == want.segmenter_ran
        # A pixel whose probability sits within float rounding of its threshold may flip; nothing more.
        assert (got.masks != want.masks).mean() < 1e-4
        # A flipped pixel can split or join a speck of an untrained set's thousands of regions: counts per class
        # agree to one in a thousand.
        for name in want.class_names:
            counts = [sum(r.class_name == name for r in v.regions) for v in (got, want)]
            assert abs(counts[0] - counts[1]) <= 1 + max(counts) // 1000


@pytest.mark.parametrize("backend", ["onnx", "openvino"])
def test_exported_fp32_matches_torch_fp32(exported_set, backend):
    images = _images()
    reference = list(Inspector.load(exported_set, "cpu", backend="torch", precision="fp32",
                                    batch_size=3).inspect_many(images))
    exported = list(Inspector.load(exported_set, "cpu", backend=backend, batch_size=3).inspect_many(images))
    assert any(v.segmenter_ran for v in reference)  # the comparison covers the decoder too
    _assert_same_verdicts(exported, reference)
    assert {(v.backend, v.precision) for v in exported} == {(backend, "fp32")}
    assert {(v.backend, v.precision) for v in reference} == {("torch", "fp32")}


def test_a_set_with_its_own_segmenter_encoder_exports_and_matches(tmp_path):
    folder = make_tiny_model_set(tmp_path / "own", source="own")
    export_model_set(folder, ("onnx",))
    images = _images()[1:]  # a full strip and the 200x200 patch, which the U-Net pads to 224x224
    reference = list(Inspector.load(folder, "cpu", backend="torch", precision="fp32").inspect_many(images))
    exported = list(Inspector.load(folder, "cpu", backend="onnx").inspect_many(images))
    _assert_same_verdicts(exported, reference)


def test_auto_picks_the_export_on_cpu_and_torch_on_gpu(exported_set, tiny_set):
    exported, plain = load_model_set(exported_set), load_model_set(tiny_set)
    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    assert resolve_choice("auto", exported, cpu, "auto") == ("onnx", "fp32")  # fp32: ONNX Runtime measured faster
    assert resolve_choice("auto", exported, gpu, "auto") == ("torch", "auto")
    assert resolve_choice("auto", plain, cpu, "auto") == ("torch", "auto")
    assert resolve_choice("onnx", exported, cpu, "auto") == ("onnx", "fp32")
    assert resolve_choice("torch", exported, cpu, "fp32") == ("torch", "fp32")
    with_int8 = dataclasses.replace(exported, card=dataclasses.replace(
        exported.card, exports={**exported.card.exports, "openvino-int8": {"files": {}}}))
    assert resolve_choice("auto", with_int8, cpu, "auto") == ("openvino", "int8")
    assert resolve_choice("openvino", with_int8, cpu, "auto") == ("openvino", "int8")
    assert resolve_choice("auto", with_int8, cpu, "fp32") == ("onnx", "fp32")  # precision fp32 keeps fp32
    with pytest.raises(SteelScanError, match="runs on the CPU"):
        resolve_choice("openvino", exported, gpu, "auto")
    with pytest.raises(SteelScanError, match="not a backend"):
        resolve_choice("tensorflow", exported, cpu, "auto")


def test_changed_thresholds_reuse_the_loaded_backend(exported_set):
    inspector = Inspector.load(exported_set, "cpu", backend="onnx")
    changed = with_overrides(inspector, {"pits": {"threshold": 0.99}})
    assert changed.backend is inspector.backend and changed.card.classes[0].threshold == 0.99
    assert changed.inspect(_images()[-1]).backend == "onnx"


def test_openvino_runs_fp32_graphs_in_fp32_on_every_cpu(exported_set, monkeypatch):
    """OpenVINO's CPU plugin picks bf16 for an "fp32" graph on CPUs with AMX unless told otherwise: the engine tells
    it, so a set gives the same probabilities on an Intel Xeon with AMX as on an AMD EPYC (where f32 is the default
    anyway, so the request itself is checked too)."""
    import openvino as ov

    asked = []
    compile_model = ov.Core.compile_model

    def recording(self, model, device, config=None):
        asked.append(dict(config or {}))
        return compile_model(self, model, device, config or {})

    monkeypatch.setattr(ov.Core, "compile_model", recording)
    inspector = Inspector.load(exported_set, "cpu", backend="openvino")
    assert asked and all(config.get("INFERENCE_PRECISION_HINT") == "f32" for config in asked)
    for compiled in inspector.backend.compiled.values():
        assert compiled.get_property("INFERENCE_PRECISION_HINT") == ov.Type.f32
