import pytest

from core.contract.errors import SteelScanError
from core.contract.settings import load_settings


def test_backend_setting_defaults_to_auto_and_reads_the_environment(tmp_path):
    missing = tmp_path / "none.toml"
    assert load_settings(missing, environ={}).backend == "auto"
    assert load_settings(missing, environ={"STEELSCAN_BACKEND": "openvino"}).backend == "openvino"
    (tmp_path / "s.toml").write_text('[steelscan]\nbackend = "onnx"\n')
    assert load_settings(tmp_path / "s.toml", environ={}).backend == "onnx"


def test_an_unknown_backend_names_the_setting_and_the_choices(tmp_path):
    with pytest.raises(SteelScanError) as caught:
        load_settings(tmp_path / "none.toml", environ={"STEELSCAN_BACKEND": "tensorrt"})
    assert "backend='tensorrt'" in caught.value.reason and "'openvino'" in caught.value.reason
