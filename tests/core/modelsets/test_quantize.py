"""The INT8 gate: a broken calibration is refused and fp32 kept; a passing one is written with its hashes."""

import shutil

import pytest

from core.datasets import open_dataset
from core.engine.domain import fit_domain
from core.engine.inference import Inspector
from core.modelsets.export import verify_export
from core.modelsets.modelset import read_card
from core.modelsets.quantize import GATE, gate_failures, quantize_model_set
from tests.conftest import write_small_strips

PASSING = {"images": 100, "agreement": 1.0, "disagreeing_images": 0, "accuracy_drop": 0.0, "macro_f1_drop": 0.002,
           "dice_drop": 0.005}


def test_gate_passes_within_the_limits_and_names_each_failure():
    assert gate_failures(PASSING) == []
    failures = gate_failures({**PASSING, "agreement": 0.98, "disagreeing_images": 2, "accuracy_drop": 0.004,
                              "macro_f1_drop": 0.01, "dice_drop": 0.02})
    assert len(failures) == 4
    assert "agree with fp32 on 98.0%" in failures[0] and "2 differ" in failures[0]
    assert "accuracy drops by 0.40 points" in failures[1] and "macro F1 drops by 1.00 points" in failures[2]
    assert "Dice drops by 0.0200" in failures[3]
    assert gate_failures({**PASSING, "agreement": GATE["min_agreement"]}) == []  # the limits themselves pass


@pytest.fixture(scope="module")
def strips(tmp_path_factory):
    root = tmp_path_factory.mktemp("strips")
    return write_small_strips(root / "good", range(2000, 2008)), write_small_strips(root / "flat", range(3000, 3008),
                                                                                   constant=True)


def test_a_broken_calibration_is_refused_and_fp32_kept(tmp_path, exported_set, strips):
    good, flat = strips
    folder = tmp_path / "tiny"
    shutil.copytree(exported_set, folder)
    result = quantize_model_set(folder, flat, validation=good, samples=4, log=lambda _: None)
    assert not result.written
    assert result.gate["agreement"] < 0.5 and "class calls agree with fp32" in result.failures[0]
    assert "openvino-int8" not in read_card(folder).exports
    assert not (folder / "exports" / "openvino-int8").exists()
    assert sorted(p.name for p in (folder / "exports").iterdir()) == ["onnx-fp32", "openvino-fp32"]  # no leftovers
    verdict = Inspector.load(folder, "cpu").inspect(good / "train_images" / next(iter(
        sorted(p.name for p in (good / "train_images").iterdir()))))
    assert (verdict.backend, verdict.precision) == ("onnx", "fp32")  # auto without INT8: the faster fp32


def test_a_passing_int8_export_is_written_hashed_and_chosen_by_auto(tmp_path, exported_set, strips):
    good, _ = strips
    folder = tmp_path / "tiny"
    shutil.copytree(exported_set, folder)
    set_domain = fit_domain(folder, open_dataset(good), device="cpu").domain  # the set's, on torch fp32 features
    # A random tiny set's class calls sit on their thresholds, so real limits would refuse it; what is tested
    # here is the write path, with every limit open.
    open_limits = {"min_agreement": 0.0, "max_accuracy_drop": 1.0, "max_macro_f1_drop": 1.0, "max_dice_drop": 1.0}
    result = quantize_model_set(folder, good, samples=4, log=lambda _: None, limits=open_limits)
    assert result.written and result.failures == []
    card = read_card(folder)
    entry = card.exports["openvino-int8"]
    assert entry["gate"]["validation"]["images"] == 8 and entry["calibration"]["images"] == 4
    assert entry["weights"] == card.fingerprint
    verify_export(folder, card, "openvino-int8")  # hashes recorded match the files
    image = sorted((good / "train_images").iterdir())[0]
    assert Inspector.load(folder, "cpu").inspect(image).precision == "int8"
    assert Inspector.load(folder, "cpu", precision="fp32").inspect(image).precision == "fp32"
    # INT8 features are not fp32's: the export got a domain fitted on its own, used when it runs.
    own = entry["domain"]
    assert own["stats_file"] == "exports/openvino-int8/domain.safetensors" and card.domain == set_domain
    assert Inspector.load(folder, "cpu").domain.threshold == pytest.approx(own["threshold_raw"])
    assert Inspector.load(folder, "cpu", backend="torch").domain.threshold == pytest.approx(set_domain["threshold_raw"])
