"""Settings: steelscan.toml's `[steelscan]` table (optional), overridden by STEELSCAN_* variables.

Validated by pydantic-settings: a wrong value stops with one line naming the setting and what is valid.
"""

from __future__ import annotations

import argparse
import os
import re
import tomllib
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from core.contract.coil import DEFAULT_GRADE_RULE, CoilPattern, GradeRule
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
    # Images run as one batch. auto: 1 on a CPU (each verdict as soon as it is ready, and no slower a strip),
    # 8 on a GPU (core.modelsets.devices.pick_batch_size)
    batch_size: int | Literal["auto"] = "auto"
    database_url: str = f"sqlite:///{PROJECT_ROOT / 'var' / 'steelscan.db'}"
    image_store: Path = PROJECT_ROOT / "var" / "images"
    # The secret that signs sign-in cookies (made once, mode 0600); unset: session.key beside the image store.
    session_secret_file: Path | None = None
    # |p - threshold| under this sends a sheet to the review queue
    uncertainty_band: float = Field(0.15, ge=0.0, le=0.5)
    # Beyond the flagged sheets, at most this many an hour join the queue because they teach the model: out of domain
    # or unusual, or unlike every sheet reviewed or queued (core.review.store.sampling). 0: none.
    queue_explore_per_hour: int = Field(6, ge=0)
    timezone: str = "UTC"  # the plant's time zone: statistics group hours, shifts and days in it
    # Checked by the app itself: Streamlit's server.maxUploadSize is enforced by its upload endpoint only.
    max_upload_bytes: int = Field(200 * 1024 * 1024, gt=0)
    oidc_email_domain: str = ""  # single sign-on: name@this-domain signs in as the local account `name`
    # `steelscan watch` with no folders watches these (STEELSCAN_WATCH_FOLDERS: separated by os.pathsep)
    watch_folders: list[Path] = []
    watch_patterns: list[str] = ["*.jpg", "*.jpeg", "*.png", "*.bmp", "*.tif", "*.tiff"]
    # Delivery to the plant's systems (`steelscan deliver`, docs/line.md). No sink set: nothing is delivered and
    # nothing is kept for delivery. Topics and OPC UA nodes are per line; verdicts recorded here are `line_name`'s.
    line_name: str = Field("line-1", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    mqtt_url: str = ""  # mqtt://[user:password@]host:1883 (mqtts:// for TLS)
    webhook_url: str = ""  # http(s)://..., each message POSTed as JSON, signed with webhook_secret
    webhook_secret: str = Field("", validate_default=True)
    opcua_endpoint: str = ""  # opc.tcp://0.0.0.0:4840: the OPC UA server `steelscan deliver` runs
    # Coils (core.contract.coil, docs/line.md): the watcher reads a sheet's coil id and position from its path with
    # this regular expression (named groups `coil`, `position`; "" = none); the Coils page grades each coil by the rule.
    coil_pattern: str = ""
    coil_minor_classes: list[str] = []  # classes that count as `minor` in coil_grade_rule
    coil_grade_rule: str = DEFAULT_GRADE_RULE

    @field_validator("mqtt_url", "webhook_url", "opcua_endpoint")
    @classmethod
    def _sink_url(cls, value: str, info) -> str:
        schemes = {"mqtt_url": ("mqtt://", "mqtts://"), "webhook_url": ("http://", "https://"),
                   "opcua_endpoint": ("opc.tcp://",)}[info.field_name]
        if value and not value.startswith(schemes):
            raise ValueError(f"must start with {' or '.join(schemes)} (or be empty: no such sink)")
        return value

    @field_validator("coil_pattern")
    @classmethod
    def _coil_pattern(cls, value: str) -> str:
        if value:
            CoilPattern(value)  # CoilError (a ValueError) names what is wrong
        return value

    @field_validator("coil_minor_classes", mode="before")
    @classmethod
    def _class_list(cls, value: Any) -> Any:
        return [part.strip() for part in value.split(",") if part.strip()] if isinstance(value, str) else value

    @field_validator("coil_grade_rule")
    @classmethod
    def _grade_rule(cls, value: str, info) -> str:
        GradeRule.parse(value, info.data.get("coil_minor_classes") or ())
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _webhook_signed(cls, value: str, info) -> str:
        if info.data.get("webhook_url") and len(value) < 16:
            raise ValueError("webhook_url is set: give a secret of at least 16 characters to sign each message")
        return value

    @property
    def session_secret_path(self) -> Path:
        return self.session_secret_file or self.image_store.parent / "session.key"

    @field_validator("batch_size", mode="before")
    @classmethod
    def _auto_or_size(cls, value: Any) -> Any:
        return parse_batch_size(value, ValueError)

    @field_validator("watch_folders", "watch_patterns", mode="before")
    @classmethod
    def _split_list(cls, value: Any, info) -> Any:
        # An environment variable arrives as one string (folders split on os.pathsep, patterns also on commas);
        # the TOML file gives a list.
        if isinstance(value, str):
            text = value.replace(",", os.pathsep) if info.field_name == "watch_patterns" else value
            return [part.strip() for part in text.split(os.pathsep) if part.strip()]
        return value

    # Folder mode reads only under these folders (resolved, symlinks followed); empty = Folder mode off.
    image_roots: tuple[Path, ...] = ()
    folder_max_files: int = Field(5000, ge=1)  # a folder walk stops after this many images ...
    folder_max_seconds: float = Field(10.0, gt=0)  # ... or after this long, and says so
    # Sign-in throttling (core.accounts.auth.ThrottlePolicy): per account name and per client address.
    sign_in_max_failures: int = Field(5, ge=1)
    sign_in_client_max_failures: int = Field(20, ge=1)
    sign_in_lock_minutes: float = Field(15.0, gt=0)
    sign_in_first_delay_seconds: float = Field(1.0, ge=0)
    sign_in_free_failures: int = Field(3, ge=1)  # failures of one name from one address before attempts wait
    # Reverse proxies on other hosts whose X-Forwarded-For names the browser (addresses or CIDRs; TOML list or
    # STEELSCAN_TRUSTED_PROXIES=10.0.0.5,10.1.0.0/16): see core.accounts.clients.
    trusted_proxies: tuple[str, ...] = ()
    # Inference runs (all sessions of one server process) at once; the rest wait their turn in a queue.
    inference_workers: int = Field(1, ge=1, le=64)
    pixel_cache_mb: int = Field(256, ge=1)  # decoded images kept for redraws, bounded in bytes
    # Training from the review log (core.retrain): the share of reviewed sheets drawn once, by image hash, into
    # the evaluation part (never trained on), and where training jobs keep their logs and checkpoints.
    eval_share: float = Field(0.2, gt=0.0, lt=1.0)
    runs_dir: Path = PROJECT_ROOT / "runs"
    # The API's /docs and /openapi.json describe every route to anyone who asks: off unless wanted.
    api_docs: bool = False
    # Retention in days (0 = keep forever), applied by `steelscan db prune` (and at start with prune_on_start):
    # the API call log, sign-in attempts and throttles, and signed-out or expired sign-in sessions.
    retain_api_calls_days: int = Field(90, ge=0)
    retain_sign_in_days: int = Field(30, ge=0)
    retain_sessions_days: int = Field(30, ge=0)
    prune_on_start: bool = False
    # New records are refused, with a message, while the database's or image store's disk has less free.
    min_free_disk_mb: int = Field(1024, ge=0)

    @field_validator("image_roots", mode="before")
    @classmethod
    def _roots_list(cls, value):
        # STEELSCAN_IMAGE_ROOTS="/a:/b" (os.pathsep) or a TOML list
        if isinstance(value, str):
            return tuple(part for part in value.split(os.pathsep) if part.strip())
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxy_networks(cls, value):
        from core.accounts.clients import parse_networks  # here: settings load no accounts code otherwise

        entries = tuple(part.strip() for part in value.split(",") if part.strip()) if isinstance(value, str) else value
        parse_networks(entries)  # a wrong entry stops the start, named
        return entries

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


SECRET_SETTINGS = frozenset({"webhook_secret"})  # never echoed in an error message


def shown_value(name: str, value: Any) -> str:
    """A setting's value as an error message may show it: secrets hidden, a URL's password masked."""
    if name in SECRET_SETTINGS:
        return "'(hidden)'"
    if isinstance(value, str):
        value = re.sub(r"(://[^/:@]*:)[^/@]*@", r"\1***@", value)
    return repr(value)


def _describe(error: dict[str, Any]) -> str:
    name = ".".join(str(part) for part in error["loc"]) or "settings"
    if error["type"] == "extra_forbidden":
        return f"unknown setting {name!r}; valid: {', '.join(Settings.model_fields)}"
    shown = shown_value(name, error["input"])
    if error["type"] == "literal_error":
        return f"setting {name}={shown} is not valid; {error['msg'].lower()}"
    return f"setting {name}={shown}: {error['msg'].removeprefix('Value error, ')}"


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
        names = sorted({str(e["loc"][0]) for e in exc.errors() if e["loc"]})
        fix = "correct " + ", ".join(f"{n} (or {ENV_PREFIX}{n.upper()})" for n in names) if names else "fix it"
        raise SteelScanError(where, "; ".join(_describe(e) for e in exc.errors()), fix) from None


def parse_batch_size(value: Any, error: type[Exception]) -> int | str:
    """'auto' or a whole number from 1 to 256 (a setting, a variable's text or a --batch-size argument)."""
    if value == "auto":
        return value
    try:
        size = int(value)
    except (TypeError, ValueError):
        size = 0
    if isinstance(value, bool) or not 1 <= size <= 256 or (isinstance(value, float) and value != size):
        raise error(f"{value!r} is not auto or a whole number from 1 to 256")
    return size


BATCH_SIZE_HELP = "images a batch: auto (1 on a CPU, 8 on a GPU) or a number"


def batch_size_arg(text: str) -> int | str:
    """argparse type for --batch-size."""
    return parse_batch_size(text, argparse.ArgumentTypeError)
