"""Settings from steelscan.toml and STEELSCAN_* variables, validated: each wrong value is named with the fix."""

from pathlib import Path

import pytest

from core.contract.errors import SteelScanError
from core.contract.settings import PROJECT_ROOT, load_settings


def write_toml(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "steelscan.toml"
    path.write_text("[steelscan]\n" + body)
    return path


def test_defaults_point_inside_the_project(tmp_path):
    settings = load_settings(tmp_path / "absent.toml", environ={})
    assert settings.models_dir == PROJECT_ROOT / "models" and (PROJECT_ROOT / "app.py").is_file()
    assert (settings.device, settings.precision, settings.uncertainty_band) == ("auto", "auto", 0.15)
    assert settings.batch_size == "auto"  # 1 on a CPU, 8 on a GPU: core.modelsets.devices.pick_batch_size


def test_file_values_are_typed_and_variables_win(tmp_path):
    path = write_toml(tmp_path, 'device = "cpu"\nbatch_size = 4\nuncertainty_band = 0.2\ntimezone = "Europe/Berlin"\n')
    settings = load_settings(path, environ={"STEELSCAN_BATCH_SIZE": "16", "STEELSCAN_MODELS_DIR": "/srv/models"})
    assert (settings.device, settings.batch_size, settings.uncertainty_band) == ("cpu", 16, 0.2)
    assert settings.timezone == "Europe/Berlin" and settings.models_dir == Path("/srv/models")


@pytest.mark.parametrize(("variable", "value", "words"), [
    ("STEELSCAN_DEVICE", "gpu", ["device='gpu'", "'auto', 'cpu', 'cuda' or 'mps'", "STEELSCAN_DEVICE"]),
    ("STEELSCAN_PRECISION", "int4", ["precision='int4'", "'auto' or 'fp32'"]),
    ("STEELSCAN_TIMEZONE", "Mars/Base", ["unknown time zone 'Mars/Base'", "IANA"]),
    ("STEELSCAN_UNCERTAINTY_BAND", "0.9", ["uncertainty_band='0.9'", "less than or equal to 0.5"]),
    ("STEELSCAN_BATCH_SIZE", "none", ["batch_size='none'", "not auto or a whole number from 1 to 256"]),
])
def test_a_wrong_variable_names_the_setting_and_what_is_valid(tmp_path, variable, value, words):
    with pytest.raises(SteelScanError) as caught:
        load_settings(tmp_path / "absent.toml", environ={variable: value})
    assert all(word in str(caught.value) for word in words), str(caught.value)


def test_an_unknown_key_in_the_file_lists_the_valid_ones(tmp_path):
    with pytest.raises(SteelScanError, match="unknown setting 'modelset'.*model_set"):
        load_settings(write_toml(tmp_path, 'modelset = "x"\n'), environ={})


def test_broken_toml_names_the_file(tmp_path):
    path = tmp_path / "steelscan.toml"
    path.write_text("[steelscan\n")
    with pytest.raises(SteelScanError, match="steelscan.toml: is not valid TOML"):
        load_settings(path, environ={})


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


def test_a_refused_secret_or_url_password_is_never_echoed(tmp_path):
    """A settings error names the setting and the fix, not the secret an operator typed."""
    with pytest.raises(SteelScanError) as short_secret:
        load_settings(tmp_path / "absent.toml", environ={"STEELSCAN_WEBHOOK_URL": "https://mes.local/hook",
                                                         "STEELSCAN_WEBHOOK_SECRET": "hunter2-short"})
    assert "webhook_secret" in str(short_secret.value) and "hunter2" not in str(short_secret.value)
    with pytest.raises(SteelScanError) as bad_url:
        load_settings(tmp_path / "absent.toml", environ={"STEELSCAN_MQTT_URL": "tcp://plant:s3cr3t-pw@broker:1883"})
    assert "mqtt_url" in str(bad_url.value) and "s3cr3t-pw" not in str(bad_url.value)
    assert "tcp://plant:***@broker:1883" in str(bad_url.value)
