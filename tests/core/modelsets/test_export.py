import json
import shutil

import pytest

from core.contract.errors import ModelSetError
from core.engine.inference import Inspector
from core.modelsets.export import verify_export
from core.modelsets.modelset import CARD_FILE, read_card, sha256_file


def test_export_writes_both_formats_with_their_hashes_in_the_card(exported_set):
    card = read_card(exported_set)
    assert set(card.exports) == {"onnx-fp32", "openvino-fp32"}
    onnx_files = set(card.exports["onnx-fp32"]["files"])
    assert onnx_files == {"exports/onnx-fp32/classifier.onnx", "exports/onnx-fp32/segmenter.onnx"}
    ov_files = set(card.exports["openvino-fp32"]["files"])
    assert {f.rsplit(".", 1)[1] for f in ov_files} == {"xml", "bin"} and len(ov_files) == 4
    for entry in card.exports.values():
        for name, digest in entry["files"].items():
            assert sha256_file(exported_set / name) == digest
        # "weights" is the fingerprint the set had before exporting, `card` is read after: exporting leaves the
        # fingerprint alone (threshold changes and stored verdicts are keyed on it).
        assert entry["weights"] == card.fingerprint


@pytest.mark.parametrize("backend, file_name", [("openvino", "classifier.bin"), ("onnx", "segmenter.onnx")])
def test_a_tampered_export_is_refused_at_load(tmp_path, exported_set, backend, file_name):
    folder = tmp_path / "tiny"
    shutil.copytree(exported_set, folder)
    path = folder / "exports" / f"{backend}-fp32" / file_name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelSetError) as caught:
        Inspector.load(folder, "cpu", backend=backend)
    assert file_name in str(caught.value) and "sha256" in caught.value.reason


def test_a_missing_export_file_is_named(tmp_path, exported_set):
    folder = tmp_path / "tiny"
    shutil.copytree(exported_set, folder)
    (folder / "exports" / "openvino-fp32" / "segmenter.bin").unlink()
    with pytest.raises(ModelSetError, match="segmenter.bin.*is missing"):
        verify_export(folder, read_card(folder), "openvino-fp32")


def test_asking_for_an_export_the_set_lacks_says_how_to_make_it(tiny_set):
    with pytest.raises(ModelSetError) as caught:
        Inspector.load(tiny_set, "cpu", backend="onnx")
    assert "no onnx-fp32 export" in caught.value.reason and "steelscan models export" in caught.value.fix


def test_an_export_of_other_weights_is_refused(tmp_path, exported_set):
    folder = tmp_path / "tiny"
    shutil.copytree(exported_set, folder)
    card = json.loads((folder / CARD_FILE).read_text())
    card["exports"]["onnx-fp32"]["weights"] = "tiny@0.0.0+000000000000"  # as if the weights were retrained since
    (folder / CARD_FILE).write_text(json.dumps(card))
    with pytest.raises(ModelSetError, match="was made from tiny@0.0.0\\+000000000000"):
        Inspector.load(folder, "cpu", backend="onnx")
