"""Settings: steelscan.toml's `[steelscan]` table (optional), overridden by STEELSCAN_* variables.

Validated by pydantic-settings: a wrong value stops with one line naming the setting and what is valid.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from core.contract.errors import SteelScanError

PROJECT_ROOT = Path(__file__).resolve().parents[2]
ENV_PREFIX = "STEELSCAN_"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    models_dir: Path = PROJECT_ROOT / "models"
    model_set: str = "severstal-synthetic"
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    # auto: fp16 on CUDA, bf16 on CPUs with AMX; fp32: always full precision
    precision: Literal["auto", "fp32"] = "auto"
    # What runs the networks. auto: torch on a GPU; on a CPU the set's OpenVINO export (INT8 when it passed
    # the accuracy gate and precision is auto), else its ONNX export, else torch. See core.engine.backends.
    backend: Literal["auto", "torch", "onnx", "openvino"] = "auto"
    max_pixels: int = Field(40_000_000, gt=0)
    batch_size: int = Field(8, ge=1, le=256)
    database_url: str = f"sqlite:///{PROJECT_ROOT / 'var' / 'steelscan.db'}"
    image_store: Path = PROJECT_ROOT / "var" / "images"
    # |p - threshold| under this sends a sheet to the review queue
    uncertainty_band: float = Field(0.15, ge=0.0, le=0.5)
    timezone: str = "UTC"  # the plant's time zone: statistics group hours, shifts and days in it
    # Checked by the app itself: Streamlit's server.maxUploadSize is enforced by its upload endpoint only.
    max_upload_bytes: int = Field(200 * 1024 * 1024, gt=0)
    oidc_email_domain: str = ""  # single sign-on: name@this-domain signs in as the local account `name`

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}; use an IANA name such as Europe/Berlin or UTC") from None
        return value

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings,
                                   file_secret_settings) -> tuple[PydanticBaseSettingsSource, ...]:
        # load_settings passes the merged file + environment values in explicitly (so tests can hand in
        # an environment); reading os.environ here as well would let the real environment leak in.
        return (init_settings,)


def _describe(error: dict[str, Any]) -> str:
    name = ".".join(str(part) for part in error["loc"]) or "settings"
    if error["type"] == "extra_forbidden":
        return f"unknown setting {name!r}; valid: {', '.join(Settings.model_fields)}"
    if error["type"] == "literal_error":
        return f"setting {name}={error['input']!r} is not valid; {error['msg'].lower()}"
    return f"setting {name}={error['input']!r}: {error['msg']}"


def load_settings(path: Path | None = None, environ: dict[str, str] | None = None) -> Settings:
    environ = os.environ if environ is None else environ
    path = Path(path or environ.get("STEELSCAN_SETTINGS", PROJECT_ROOT / "steelscan.toml"))
    values: dict[str, object] = {}
    if path.is_file():
        try:
            values.update(tomllib.loads(path.read_text()).get("steelscan", {}))
        except tomllib.TOMLDecodeError as exc:
            raise SteelScanError(path, f"is not valid TOML ({exc})", "fix the settings file") from None
    for name in Settings.model_fields:
        key = f"{ENV_PREFIX}{name.upper()}"
        if key in environ:
            values[name] = environ[key]
    try:
        return Settings(**values)
    except ValidationError as exc:
        where = f"{path} or {ENV_PREFIX}* variables"
        raise SteelScanError(where, "; ".join(_describe(e) for e in exc.errors()), "fix the setting") from None
