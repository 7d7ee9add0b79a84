"""Settings from steelscan.toml at the project root (optional), overridden by STEELSCAN_* variables."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path

from core.errors import SteelScanError

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    models_dir: Path = PROJECT_ROOT / "models"
    model_set: str = "severstal-synthetic"
    device: str = "auto"  # auto | cpu | cuda | mps
    precision: str = "auto"  # auto: fp16 on CUDA, bf16 on CPUs with AMX; fp32: always full precision
    max_pixels: int = 40_000_000
    batch_size: int = 8
    database_url: str = f"sqlite:///{PROJECT_ROOT / 'var' / 'steelscan.db'}"
    image_store: Path = PROJECT_ROOT / "var" / "images"
    uncertainty_band: float = 0.15  # |p - threshold| under this sends a sheet to the review queue
    timezone: str = "UTC"  # the plant's time zone: statistics group hours, shifts and days in it
    # Checked by the app itself: Streamlit's server.maxUploadSize is enforced by its upload endpoint only.
    max_upload_bytes: int = 200 * 1024 * 1024
    oidc_email_domain: str = ""  # single sign-on: name@this-domain signs in as the local account `name`


def load_settings(path: Path | None = None, environ: dict[str, str] | None = None) -> Settings:
    environ = os.environ if environ is None else environ
    path = path or Path(environ.get("STEELSCAN_SETTINGS", PROJECT_ROOT / "steelscan.toml"))
    values: dict[str, object] = {}
    if path.is_file():
        try:
            values.update(tomllib.loads(path.read_text()).get("steelscan", {}))
        except tomllib.TOMLDecodeError as exc:
            raise SteelScanError(path, f"is not valid TOML ({exc})", "fix the settings file") from None
    for field in fields(Settings):
        key = f"STEELSCAN_{field.name.upper()}"
        if key in environ:
            values[field.name] = environ[key]
    settings = Settings()
    known = {f.name: f for f in fields(Settings)}
    for name, raw in values.items():
        if name not in known:
            raise SteelScanError(path, f"unknown setting {name!r}", f"valid: {', '.join(known)}")
        default = getattr(settings, name)
        try:
            value = type(default)(raw)
        except (TypeError, ValueError):
            raise SteelScanError(path, f"setting {name}={raw!r} is not a {type(default).__name__}", "fix it") from None
        settings = replace(settings, **{name: value})
    return settings
