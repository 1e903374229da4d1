"""Configuration from the environment and ``.env`` files, under the seed service's variable names.

Use :func:`load_settings` to read the configuration: it merges the process environment, ``./.env``
and the per-user ``.env`` (in that order of priority), discovers the ``CAMERA_{ID}_URL`` cameras and
reports every bad value at once as a :class:`SettingsError` whose text never shows a secret or a
camera URL. ``Settings(...)`` on its own reads nothing from the environment or from files, so tests
can build one from keyword arguments (``Settings(CLIP_FPS=10)``, or by field name) without picking
up a developer's configuration; it validates the same way and raises the same SettingsError.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any, Literal, get_args
from urllib.parse import SplitResult, parse_qsl, unquote, urlsplit

import platformdirs
from dotenv import dotenv_values
from pydantic import (
    Field,
    ModelWrapValidatorHandler,
    PrivateAttr,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_serializer,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from vms_desktop.domain.camera import CameraConfig
from vms_desktop.domain.errors import InvalidIdError
from vms_desktop.domain.ids import validate_camera_id
from vms_desktop.domain.redaction import redact_url

APP_NAME = "vms_desktop"
DEMO_CAMERA_ID = "demo"
DEMO_CAMERA = CameraConfig(id=DEMO_CAMERA_ID, url="demo://", name="Demo camera")

X264Preset = Literal[
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
    "placebo",
]
X264_PRESETS: tuple[str, ...] = get_args(X264Preset)
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]

MAX_CLIP_WIDTH = 7680
MAX_CLIP_HEIGHT = 4320
MIN_CLIP_SIDE = 16
# The buffer must outlive the pre-event window by this much, so an event posted a little late
# (network, detector latency) still finds its pre-event footage.
BUFFER_MARGIN_SECONDS = 30.0
DURATION_TOLERANCE_SECONDS = 0.001

Problem = tuple[str, str]
"""One bad setting: the variable's name and ``what is wrong; allowed: ...``."""


class SettingsError(Exception):
    """The configuration is unusable; the message has one line per bad variable.

    ``problems`` holds the same lines as (variable, explanation) pairs, for a settings dialog.
    """

    def __init__(self, problems: Sequence[Problem], sources: Sequence[str] = ()) -> None:
        unique = list(dict.fromkeys(problems))
        self.problems: tuple[Problem, ...] = tuple(unique)
        self.sources: tuple[str, ...] = tuple(sources)
        count = len(unique)
        lines = [f"Invalid configuration ({count} problem{'s' if count != 1 else ''}):"]
        lines += [f"  {variable}: {explanation}" for variable, explanation in unique]
        if sources:
            lines.append(f"Values were read from: {', '.join(sources)}")
        super().__init__("\n".join(lines))


class _ValueProblems(ValueError):
    """Problems found by a validator, each already tied to a variable (cameras name their own)."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(f"{variable}: {text}" for variable, text in problems))


def user_config_dir() -> Path:
    """Per-user configuration directory of the application (holds the user's ``.env``)."""
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def user_env_file() -> Path:
    """The per-user ``.env``, read after ``./.env`` so a double-clicked bundle finds it too."""
    return user_config_dir() / ".env"


def default_env_files() -> list[Path]:
    """``.env`` files read by :func:`load_settings` by default, highest priority first."""
    return [Path.cwd() / ".env", user_env_file()]


def _default_storage_path() -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)) / "clips"


def _default_buffer_path() -> Path:
    return Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False)) / "buffer"


def _default_state_path() -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)) / "state"


def _setting(alias: str, description: str, allowed: str, default: Any = None, **kwargs: Any) -> Any:
    """A field read from the variable ``alias``; ``allowed`` completes its error messages."""
    return Field(
        default,
        alias=alias,
        description=description,
        json_schema_extra={"allowed": allowed},
        **kwargs,
    )


def _path_setting(alias: str, description: str, default_factory: Any) -> Any:
    return Field(
        alias=alias,
        description=description,
        default_factory=default_factory,
        json_schema_extra={"allowed": "a directory path (created when needed)"},
    )


_HOSTNAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?\.?")
_TOKEN = re.compile(r"[\x21-\x7e]+")
_BUCKET = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{1,254}")
_REGION = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_RESOLUTION = re.compile(r"\s*([0-9]{1,6})\s*[,xX]\s*([0-9]{1,6})\s*")
_URL_PREFIX = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://")
_CAMERA_VARIABLE = re.compile(r"CAMERA_(?P<id>.*)_(?P<part>URL|NAME)", re.DOTALL)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

_CAMERA_SCHEMES = ("rtsp", "rtsps", "http", "https")
_CAMERA_ALLOWED = (
    "rtsp://, rtsps://, http:// or https:// URL, demo:// (optional ?width=W&height=H&fps=N), "
    "or the path of an existing video file"
)
_CAMERA_ID_ALLOWED = (
    "CAMERA_{ID}_URL / CAMERA_{ID}_NAME where ID is 1 to 32 letters, digits, '_' or '-', "
    "starting with a letter or digit"
)
_CAMERA_NAME_MAX = 64
# DEMO_CAMERA also takes the usual boolean spellings, as people write them in .env files.
_SWITCH_WORDS = {"true": "on", "yes": "on", "1": "on", "false": "off", "no": "off", "0": "off"}
_DEMO_LIMITS = {"width": (16, MAX_CLIP_WIDTH), "height": (16, MAX_CLIP_HEIGHT), "fps": (1, 60)}


# Off loopback the token is all that stands between the network and every clip.
MIN_API_TOKEN_LENGTH = 16
_MIN_TOKEN_CHARACTERS = 6
# Words of example values people leave in place (``API_TOKEN=change-me-...``).
_PLACEHOLDER_WORDS = ("changeme", "password", "example", "placeholder", "yourtoken")
MAKE_TOKEN_COMMAND = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'


def api_token_weakness(token: str) -> str | None:
    """Why ``token`` is too easy to guess for an API others can reach, or None if it is not.

    Catches what people type instead of a random token: short ones, one or a few characters
    repeated, a word repeated, a run like ``abcdefghijklmnop`` or ``0123456789...``, and
    example values left in place.
    """
    if len(token) < MIN_API_TOKEN_LENGTH:
        return f"is shorter than {MIN_API_TOKEN_LENGTH} characters"
    letters = "".join(c for c in token.lower() if c.isalpha())
    if any(word in letters for word in _PLACEHOLDER_WORDS):
        return "looks like an example value"
    if len(set(token)) < _MIN_TOKEN_CHARACTERS:
        return f"uses fewer than {_MIN_TOKEN_CHARACTERS} different characters"
    for size in range(1, len(token) // 2 + 1):
        if len(token) % size == 0 and token == token[:size] * (len(token) // size):
            return "repeats one short piece"
    steps = {ord(b) - ord(a) for a, b in pairwise(token)}
    if steps <= {1} or steps <= {-1}:
        return "is a run of consecutive characters"
    return None


def _has_control(text: str) -> bool:
    return _CONTROL.search(text) is not None


def _split_url(value: str) -> SplitResult:
    """``urlsplit`` that also parses the port, raising ValueError (without the URL) when bad."""
    try:
        parts = urlsplit(value)
        _ = parts.port  # parsing the port is part of the check
    except ValueError:
        raise ValueError(
            "not a valid URL (a '/', '?', '#' or '@' in a user name or password must be "
            "percent-encoded: %2F, %3F, %23, %40)"
        ) from None
    return parts


def _check_http_url(value: str) -> str:
    """A validated http(s) base URL without credentials or trailing slash."""
    value = value.strip()
    if _has_control(value) or " " in value:
        raise ValueError("contains spaces or control characters")
    parts = _split_url(value)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError("not an http:// or https:// URL with a host")
    if "@" in parts.netloc:
        raise ValueError("contains credentials, which do not belong in this URL")
    if parts.query or parts.fragment:
        raise ValueError("has a query or fragment")
    return value.rstrip("/")


def _check_demo_url(value: str) -> None:
    parts = _split_url(value)
    if parts.netloc or parts.path not in ("", "/") or parts.fragment:
        raise ValueError(f"a demo:// URL takes no host or path; allowed: {_CAMERA_ALLOWED}")
    seen: set[str] = set()
    for key, raw in parse_qsl(parts.query, keep_blank_values=True):
        if key not in _DEMO_LIMITS or key in seen:
            what = "repeats" if key in seen else "has an unknown"
            raise ValueError(
                f"demo:// {what} parameter {key[:20]!a}; "
                "allowed: width, height (even pixels) and fps, each at most once"
            )
        seen.add(key)
        low, high = _DEMO_LIMITS[key]
        if not raw.isascii() or not raw.isdigit() or not low <= int(raw) <= high:
            raise ValueError(
                f"demo:// {key} is not a whole number from {low} to {high}; "
                f"allowed: {key}={low}..{high}"
            )
        if key in ("width", "height") and int(raw) % 2:
            raise ValueError(f"demo:// {key} is odd; allowed: an even number of pixels")


def camera_source(value: str, base_dir: Path | None = None) -> str:
    """Validated camera source: a URL as given, or a video file's absolute path.

    Raises ValueError with ``what is wrong; allowed: ...`` that never repeats the value (it may hold
    a password). A relative file path is taken relative to ``base_dir`` (the directory of the
    ``.env`` that named it), else to the working directory.
    """
    value = value.strip()
    if not value:
        raise ValueError(f"is empty; allowed: {_CAMERA_ALLOWED}")
    if _has_control(value):
        raise ValueError(f"contains control characters; allowed: {_CAMERA_ALLOWED}")
    prefix = _URL_PREFIX.match(value)
    if prefix is not None:
        scheme = prefix.group()[:-3].lower()
        if scheme == "demo":
            _check_demo_url(value)
            return value
        if scheme not in _CAMERA_SCHEMES:
            shown = f"{scheme}://" if len(scheme) <= 16 else "this"
            raise ValueError(f"the {shown} scheme is not supported; allowed: {_CAMERA_ALLOWED}")
        if " " in value:
            raise ValueError(f"contains spaces (write them as %20); allowed: {_CAMERA_ALLOWED}")
        try:
            parts = _split_url(value)
        except ValueError as exc:
            raise ValueError(f"{exc}; allowed: {_CAMERA_ALLOWED}") from None
        if not parts.hostname:
            raise ValueError(f"the URL has no host; allowed: {_CAMERA_ALLOWED}")
        if "@" in value[len(parts.scheme) + 3 + len(parts.netloc) :]:
            # An "@" after the host means the password held a raw "/", "?" or "#" and the URL
            # splits in the wrong place: part of the password would be shown as the path.
            raise ValueError(
                "has an '@' after the host (percent-encode '/', '?', '#' and '@' in a user name "
                f"or password as %2F, %3F, %23, %40); allowed: {_CAMERA_ALLOWED}"
            )
        return value
    path = Path(value).expanduser()
    if not path.is_absolute():
        path = (base_dir if base_dir is not None else Path.cwd()) / path
    try:
        exists = path.is_file()
    except (OSError, ValueError):
        exists = False
    if not exists:
        # The value is not shown: a URL typed without its scheme (admin:pw@cam/...) lands here.
        raise ValueError(
            f"not a supported URL, and no video file exists there; allowed: {_CAMERA_ALLOWED}"
        )
    return os.path.abspath(path)


def camera_name(value: str) -> str:
    """Validated display name of a camera (stripped); raises ValueError when unusable."""
    value = value.strip()
    if _has_control(value) or len(value) > _CAMERA_NAME_MAX:
        raise ValueError(
            f"contains control characters or is too long; allowed: up to {_CAMERA_NAME_MAX} "
            "printable characters"
        )
    return value


def camera_variable(camera_id: str, part: Literal["URL", "NAME"] = "URL") -> str:
    """The variable that configures ``part`` of camera ``camera_id`` (``CAMERA_CAM01_URL``)."""
    return f"CAMERA_{camera_id.upper()}_{part}"


def _shown_variable(name: str) -> str:
    """A variable name fit for an error line, escaped and shortened when it is hostile."""
    if len(name) <= 80 and name.isascii() and name.isprintable() and " " not in name:
        return name
    return ascii(name[:60]) + ("..." if len(name) > 60 else "")


def _is_loopback(host: str) -> bool:
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _format_number(value: float) -> str:
    return f"{value:g}"


# Pydantic's own messages are replaced: several of them quote the rejected input.
_WHAT_IS_WRONG = {
    "missing": "is required",
    "int_parsing": "is not a whole number",
    "int_from_float": "is not a whole number",
    "int_type": "is not a whole number",
    "float_parsing": "is not a number",
    "float_type": "is not a number",
    "finite_number": "is not a finite number",
    "greater_than": "is too small",
    "greater_than_equal": "is too small",
    "less_than": "is too large",
    "less_than_equal": "is too large",
    "literal_error": "is not one of the allowed values",
    "string_type": "is not text",
    "extra_forbidden": "is not a setting",
}


class Settings(BaseSettings):
    """The application's configuration, one field per variable (attribute names are lower case).

    Build it with :func:`load_settings`. Secrets are :class:`~pydantic.SecretStr` and camera URLs
    are only shown through :attr:`CameraConfig.display_url`, so ``repr``, ``str``, ``model_dump``
    and :meth:`describe` are safe to print.
    """

    model_config = SettingsConfigDict(
        case_sensitive=True,
        extra="forbid",
        frozen=True,
        validate_by_alias=True,
        validate_by_name=True,
        hide_input_in_errors=True,
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Only keyword arguments: :func:`load_settings` does the reading, cameras included."""
        return (init_settings,)

    # --- Storage (seed) ---
    video_storage_type: Literal["s3", "local"] = _setting(
        "VIDEO_STORAGE_TYPE",
        "Where clips are stored: s3 (an S3 or S3-compatible bucket) or local (a directory).",
        "s3 or local",
        "local",
    )
    s3_bucket_name: str | None = _setting(
        "S3_BUCKET_NAME",
        "Bucket that holds the clips; required when VIDEO_STORAGE_TYPE is s3.",
        "an S3 bucket name (3 to 255 letters, digits, '.', '_' or '-')",
    )
    aws_region: str = _setting(
        "AWS_REGION",
        "Region of the S3 bucket.",
        "a region name such as us-east-1",
        "us-east-1",
    )
    aws_access_key_id: SecretStr | None = _setting(
        "AWS_ACCESS_KEY_ID",
        "Access key id for S3; when unset, boto3's usual credential chain is used.",
        "an access key id, set together with AWS_SECRET_ACCESS_KEY",
    )
    aws_secret_access_key: SecretStr | None = _setting(
        "AWS_SECRET_ACCESS_KEY",
        "Secret access key for S3; when unset, boto3's usual credential chain is used.",
        "a secret access key, set together with AWS_ACCESS_KEY_ID",
    )
    local_storage_path: Path = _path_setting(
        "LOCAL_STORAGE_PATH",
        "Directory of the clips when VIDEO_STORAGE_TYPE is local.",
        _default_storage_path,
    )
    clip_base_url: str | None = _setting(
        "CLIP_BASE_URL",
        "Public base URL of locally stored clips; when unset it is derived from API_HOST and "
        "API_PORT.",
        "an http:// or https:// URL without credentials",
    )

    # --- Clip generation (seed) ---
    clip_duration_seconds: float = _setting(
        "CLIP_DURATION_SECONDS",
        "Length of a clip in seconds; must equal PRE_EVENT_BUFFER_SECONDS + "
        "POST_EVENT_BUFFER_SECONDS (derived from them when unset).",
        "a number of seconds equal to PRE_EVENT_BUFFER_SECONDS + POST_EVENT_BUFFER_SECONDS",
        30.0,
        gt=0,
        le=7200,
        allow_inf_nan=False,
    )
    pre_event_buffer_seconds: float = _setting(
        "PRE_EVENT_BUFFER_SECONDS",
        "Seconds of footage before the event time.",
        "a number of seconds from 0 to 3600",
        10.0,
        ge=0,
        le=3600,
        allow_inf_nan=False,
    )
    post_event_buffer_seconds: float = _setting(
        "POST_EVENT_BUFFER_SECONDS",
        "Seconds of footage after the event time.",
        "a number of seconds above 0, at most 3600",
        20.0,
        gt=0,
        le=3600,
        allow_inf_nan=False,
    )
    clip_fps: int = _setting(
        "CLIP_FPS",
        "Frame rate of generated clips.",
        "a whole number from 1 to 60",
        15,
        ge=1,
        le=60,
    )
    clip_resolution: tuple[int, int] = _setting(
        "CLIP_RESOLUTION",
        "Width and height of generated clips, as WIDTH,HEIGHT (or WIDTHxHEIGHT).",
        f"WIDTH,HEIGHT with even numbers, width {MIN_CLIP_SIDE} to {MAX_CLIP_WIDTH}, "
        f"height {MIN_CLIP_SIDE} to {MAX_CLIP_HEIGHT} (e.g. 640,480)",
        (640, 480),
    )

    # --- Additions: storage ---
    s3_endpoint_url: str | None = _setting(
        "S3_ENDPOINT_URL",
        "Endpoint of an S3-compatible store (MinIO, SeaweedFS, ...); unset means AWS.",
        "an http:// or https:// URL without credentials",
    )
    s3_apply_lifecycle: bool = _setting(
        "S3_APPLY_LIFECYCLE",
        "Put a bucket lifecycle rule at start-up that expires clips after RETENTION_DAYS, so the "
        "bucket itself enforces retention (needs s3:PutLifecycleConfiguration).",
        "true or false",
        False,
    )

    # --- Additions: HTTP API ---
    api_host: str = _setting(
        "API_HOST",
        "Address the HTTP API binds to; anything but loopback requires API_TOKEN.",
        "an IP address or host name, e.g. 127.0.0.1",
        "127.0.0.1",
    )
    api_port: int = _setting(
        "API_PORT",
        "TCP port of the HTTP API.",
        "a whole number from 1 to 65535",
        8000,
        ge=1,
        le=65535,
    )
    api_token: SecretStr | None = _setting(
        "API_TOKEN",
        "Bearer token required by the HTTP API; mandatory when API_HOST is not loopback.",
        "printable ASCII without spaces",
    )

    # --- Additions: retention ---
    retention_days: int = _setting(
        "RETENTION_DAYS",
        "Clips older than this many days are deleted automatically.",
        "a whole number of days, at least 1",
        30,
        ge=1,
    )
    retention_interval_minutes: int = _setting(
        "RETENTION_INTERVAL_MINUTES",
        "Minutes between two automatic retention clean-ups.",
        "a whole number of minutes, at least 1",
        60,
        ge=1,
    )

    # --- Additions: recording buffer ---
    buffer_path: Path = _path_setting(
        "BUFFER_PATH",
        "Directory of the per-camera recording buffer (short video segments).",
        _default_buffer_path,
    )
    state_path: Path = _path_setting(
        "STATE_PATH",
        "Directory of the app's own state: clip catalogue, job records, upload queue, URL "
        "signing key.",
        _default_state_path,
    )
    buffer_retention_seconds: float = _setting(
        "BUFFER_RETENTION_SECONDS",
        "Seconds of recording kept in the buffer, so late events still get their pre-event "
        f"footage; at least PRE_EVENT_BUFFER_SECONDS + {BUFFER_MARGIN_SECONDS:g}.",
        f"a number of seconds, at least PRE_EVENT_BUFFER_SECONDS + {BUFFER_MARGIN_SECONDS:g}",
        600.0,
        gt=0,
        allow_inf_nan=False,
    )
    buffer_max_size_mb: int = _setting(
        "BUFFER_MAX_SIZE_MB",
        "Largest size of one camera's buffer in megabytes; the oldest segments go first.",
        "a whole number of megabytes, at least 64",
        2048,
        ge=64,
    )
    buffer_segment_seconds: float = _setting(
        "BUFFER_SEGMENT_SECONDS",
        "Target length of a buffer segment in seconds (segments cut on keyframes).",
        "a number of seconds from 0.5 to 10",
        2.0,
        ge=0.5,
        le=10,
        allow_inf_nan=False,
    )
    buffer_min_free_mb: int = _setting(
        "BUFFER_MIN_FREE_MB",
        "Free space kept on the buffer's file system in megabytes: below it the oldest footage "
        "of any camera is deleted first, so recording never fills the disk.",
        "a whole number of megabytes from 0 to 1048576",
        512,
        ge=0,
        le=1_048_576,
    )

    # --- Additions: clip encoding ---
    clip_preset: X264Preset = _setting(
        "CLIP_PRESET",
        "x264 preset of clip encoding: faster presets use less CPU for larger files.",
        ", ".join(X264_PRESETS),
        "veryfast",
    )
    clip_crf: int = _setting(
        "CLIP_CRF",
        "x264 constant rate factor of clips: lower is better quality and larger files.",
        "a whole number from 0 to 51",
        23,
        ge=0,
        le=51,
    )

    # --- Additions: cameras ---
    demo_camera: Literal["auto", "on", "off"] = _setting(
        "DEMO_CAMERA",
        "Built-in generated demo camera: auto runs it only when no camera is configured.",
        "auto, on or off",
        "auto",
    )
    camera_connect_timeout_seconds: float = _setting(
        "CAMERA_CONNECT_TIMEOUT_SECONDS",
        "Seconds allowed for opening a camera stream.",
        "a number of seconds above 0, at most 3600",
        10.0,
        gt=0,
        le=3600,
        allow_inf_nan=False,
    )
    camera_stall_timeout_seconds: float = _setting(
        "CAMERA_STALL_TIMEOUT_SECONDS",
        "Seconds without a new packet after which a camera counts as frozen and is reconnected.",
        "a number of seconds above 0, at most 3600",
        10.0,
        gt=0,
        le=3600,
        allow_inf_nan=False,
    )
    camera_reconnect_max_seconds: float = _setting(
        "CAMERA_RECONNECT_MAX_SECONDS",
        "Longest wait between two reconnection attempts (the back-off grows up to it).",
        "a number of seconds above 0, at most 3600",
        30.0,
        gt=0,
        le=3600,
        allow_inf_nan=False,
    )
    camera_auth_retry_seconds: float = _setting(
        "CAMERA_AUTH_RETRY_SECONDS",
        "Wait before retrying a camera that rejected its credentials (avoids account lock-out).",
        "a number of seconds above 0, at most 86400",
        120.0,
        gt=0,
        le=86400,
        allow_inf_nan=False,
    )

    # --- Additions: logging ---
    log_level: LogLevel = _setting(
        "LOG_LEVEL",
        "Least severe level of log messages that are recorded.",
        "DEBUG, INFO, WARNING or ERROR",
        "INFO",
    )

    cameras: tuple[CameraConfig, ...] = Field(
        default=(),
        description="Cameras from the CAMERA_{ID}_URL and CAMERA_{ID}_NAME variables, by id.",
        json_schema_extra={"allowed": _CAMERA_ALLOWED},
    )

    _loaded_from: tuple[str, ...] = PrivateAttr(default=())

    # --- Field normalisation (messages never repeat the value) ---

    @field_validator("video_storage_type", "clip_preset", "demo_camera", "log_level", mode="before")
    @classmethod
    def _normalise_choice(cls, value: Any, info: ValidationInfo) -> Any:
        if not isinstance(value, str):
            return value
        value = value.strip()
        if info.field_name == "log_level":
            value = value.upper()
            return "WARNING" if value == "WARN" else value
        value = value.lower()
        if info.field_name == "demo_camera":
            value = _SWITCH_WORDS.get(value, value)
        return value

    @field_validator("s3_bucket_name", mode="before")
    @classmethod
    def _check_bucket(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip()
            if _BUCKET.fullmatch(value) is None:
                raise ValueError("is not a valid bucket name")
        return value

    @field_validator("aws_region", mode="before")
    @classmethod
    def _check_region(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip()
            if _REGION.fullmatch(value) is None:
                raise ValueError("is not a valid region name")
        return value

    @field_validator("local_storage_path", "buffer_path", mode="before")
    @classmethod
    def _absolute_path(cls, value: Any) -> Any:
        if isinstance(value, str | os.PathLike):
            text = str(os.fspath(value))
            if not text.strip():
                raise ValueError("is empty")
            if _has_control(text):
                raise ValueError("contains control characters")
            # Absolute now, so a later change of working directory cannot move the data.
            return Path(os.path.abspath(Path(text).expanduser()))
        return value

    @field_validator("clip_base_url", "s3_endpoint_url", mode="before")
    @classmethod
    def _check_url(cls, value: Any) -> Any:
        return _check_http_url(value) if isinstance(value, str) else value

    @field_validator("clip_resolution", mode="before")
    @classmethod
    def _parse_resolution(cls, value: Any) -> Any:
        if isinstance(value, str):
            match = _RESOLUTION.fullmatch(value)
            if match is None:
                raise ValueError("is not two whole numbers WIDTH,HEIGHT")
            return int(match[1]), int(match[2])
        return value

    @field_validator("clip_resolution")
    @classmethod
    def _check_resolution(cls, value: tuple[int, int]) -> tuple[int, int]:
        width, height = value
        if (
            not MIN_CLIP_SIDE <= width <= MAX_CLIP_WIDTH
            or not MIN_CLIP_SIDE <= height <= MAX_CLIP_HEIGHT
        ):
            raise ValueError("is out of range")
        if width % 2 or height % 2:
            # H.264 with 4:2:0 chroma needs even sizes; the encoder would refuse the clip later.
            raise ValueError("has an odd width or height")
        return value

    @field_validator("api_host", mode="before")
    @classmethod
    def _check_host(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        host = value.strip()
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        try:
            return str(ipaddress.ip_address(host))
        except ValueError:
            pass
        if _HOSTNAME.fullmatch(host) is None:
            raise ValueError("is not an IP address or host name")
        return host

    @field_validator("api_token", mode="before")
    @classmethod
    def _check_token(cls, value: Any) -> Any:
        if isinstance(value, str) and _TOKEN.fullmatch(value) is None:
            # A token that cannot travel in an "Authorization: Bearer" header locks clients out.
            raise ValueError("contains spaces, control or non-ASCII characters")
        return value

    @field_validator("cameras")
    @classmethod
    def _check_cameras(cls, cameras: tuple[CameraConfig, ...]) -> tuple[CameraConfig, ...]:
        problems: list[Problem] = []
        checked: dict[str, CameraConfig] = {}
        for camera in cameras:
            variable = _shown_variable(camera_variable(camera.id))
            try:
                camera_id = validate_camera_id(camera.id)
            except InvalidIdError:
                problems.append(
                    (variable, f"the camera id is invalid; allowed: {_CAMERA_ID_ALLOWED}")
                )
                continue
            if camera_id in checked:
                problems.append((variable, "configures a camera id twice; allowed: one URL per id"))
                continue
            try:
                url = camera_source(camera.url)
                name = camera_name(camera.name)
            except ValueError as exc:
                problems.append((variable, str(exc)))
                continue
            checked[camera_id] = CameraConfig(id=camera_id, url=url, name=name)
        if problems:
            raise _ValueProblems(problems)
        return tuple(checked[key] for key in sorted(checked))

    @field_serializer("cameras")
    def _dump_cameras(self, cameras: tuple[CameraConfig, ...]) -> list[dict[str, str]]:
        # Dumps are printed and logged: URLs go out without their credentials.
        return [{"id": c.id, "url": c.display_url, "name": c.name} for c in cameras]

    # --- Whole-configuration checks ---

    @model_validator(mode="wrap")
    @classmethod
    def _validate_all(cls, data: Any, handler: ModelWrapValidatorHandler[Settings]) -> Settings:
        """Validate fields, then their consistency, and report every problem in one SettingsError.

        When fields are bad, the rest is validated again without them so that consistency problems
        among the good ones are reported in the same error instead of after the next start.
        """
        try:
            settings = handler(data)
        except ValidationError as exc:
            problems, bad_fields = cls._field_problems(exc)
        else:
            settings._derive()
            problems = settings._consistency_problems(frozenset())
            if problems:
                raise SettingsError(problems)
            return settings
        if isinstance(data, Mapping):
            rest = {k: v for k, v in data.items() if cls._field_name(str(k)) not in bad_fields}
            try:
                partial = handler(rest)
            except ValidationError:
                pass
            else:
                partial._derive()
                problems += partial._consistency_problems(bad_fields)
        raise SettingsError(problems)

    @classmethod
    def _field_name(cls, key: str) -> str:
        """Field name for a key given by field name or by variable name."""
        for name, info in cls.model_fields.items():
            if key in (name, info.alias):
                return name
        return key

    @classmethod
    def _variable(cls, field_name: str) -> str:
        info = cls.model_fields.get(field_name)
        return info.alias if info is not None and info.alias else _shown_variable(field_name)

    @classmethod
    def _allowed(cls, field_name: str) -> str:
        info = cls.model_fields.get(field_name)
        extra = info.json_schema_extra if info is not None else None
        allowed = extra.get("allowed") if isinstance(extra, dict) else None
        return str(allowed) if allowed else "a documented setting (see .env.example)"

    @classmethod
    def _field_problems(cls, exc: ValidationError) -> tuple[list[Problem], frozenset[str]]:
        problems: list[Problem] = []
        bad: set[str] = set()
        for error in exc.errors(include_url=False, include_input=False):
            field = cls._field_name(str(error["loc"][0])) if error["loc"] else ""
            bad.add(field)
            cause = (error.get("ctx") or {}).get("error")
            if isinstance(cause, _ValueProblems):
                problems += cause.problems
                continue
            if error["type"] == "value_error" and cause is not None:
                what = str(cause)
            else:
                what = _WHAT_IS_WRONG.get(error["type"], "is invalid")
            problems.append((cls._variable(field), f"{what}; allowed: {cls._allowed(field)}"))
        return problems, frozenset(bad)

    def _derive(self) -> None:
        if "clip_duration_seconds" not in self.model_fields_set:
            # Unset duration follows the two buffers, so changing only them is consistent.
            total = round(self.pre_event_buffer_seconds + self.post_event_buffer_seconds, 6)
            self.__dict__["clip_duration_seconds"] = total

    def _consistency_problems(self, skip: frozenset[str]) -> list[Problem]:
        """Problems between fields, ignoring any check that involves a field in ``skip``."""
        problems: list[Problem] = []

        def checkable(*names: str) -> bool:
            return skip.isdisjoint(names)

        if (
            checkable("video_storage_type", "s3_bucket_name")
            and self.video_storage_type == "s3"
            and self.s3_bucket_name is None
        ):
            problems.append(
                (
                    "S3_BUCKET_NAME",
                    "is required when VIDEO_STORAGE_TYPE is s3; allowed: a bucket name",
                )
            )
        if checkable("video_storage_type", "aws_access_key_id", "aws_secret_access_key") and (
            self.video_storage_type == "s3"
        ):
            key_id, secret = self.aws_access_key_id, self.aws_secret_access_key
            if (key_id is None) != (secret is None):
                missing = "AWS_ACCESS_KEY_ID" if key_id is None else "AWS_SECRET_ACCESS_KEY"
                other = "AWS_SECRET_ACCESS_KEY" if key_id is None else "AWS_ACCESS_KEY_ID"
                problems.append(
                    (
                        missing,
                        f"is not set but {other} is; allowed: both set, or neither "
                        "(boto3's usual credential chain)",
                    )
                )
        pre, post = self.pre_event_buffer_seconds, self.post_event_buffer_seconds
        duration = self.clip_duration_seconds
        if (
            checkable(
                "clip_duration_seconds", "pre_event_buffer_seconds", "post_event_buffer_seconds"
            )
            and abs(duration - (pre + post)) > DURATION_TOLERANCE_SECONDS
        ):
            problems.append(
                (
                    "CLIP_DURATION_SECONDS",
                    f"{_format_number(duration)} differs from PRE_EVENT_BUFFER_SECONDS + "
                    f"POST_EVENT_BUFFER_SECONDS = {_format_number(pre)} + "
                    f"{_format_number(post)} = {_format_number(pre + post)}; allowed: "
                    "CLIP_DURATION_SECONDS = PRE_EVENT_BUFFER_SECONDS + POST_EVENT_BUFFER_SECONDS "
                    "(or leave CLIP_DURATION_SECONDS unset)",
                )
            )
        if (
            checkable("api_host", "api_token")
            and self.api_token is None
            and not _is_loopback(self.api_host)
        ):
            problems.append(
                (
                    "API_TOKEN",
                    f"is required because API_HOST ({self.api_host}) is not a loopback address; "
                    f"allowed: a random token of at least {MIN_API_TOKEN_LENGTH} printable ASCII "
                    f"characters (make one with {MAKE_TOKEN_COMMAND}), or API_HOST=127.0.0.1",
                )
            )
        weakness = (
            api_token_weakness(self.api_token.get_secret_value())
            if self.api_token is not None
            else None
        )
        if checkable("api_host", "api_token") and weakness and not _is_loopback(self.api_host):
            problems.append(
                (
                    "API_TOKEN",
                    f"{weakness}, too easy to guess for API_HOST ({self.api_host}), which other "
                    f"machines can reach; allowed: a random token of at least "
                    f"{MIN_API_TOKEN_LENGTH} printable ASCII characters (make one with "
                    f"{MAKE_TOKEN_COMMAND}), or API_HOST=127.0.0.1",
                )
            )
        needed = pre + BUFFER_MARGIN_SECONDS
        if (
            checkable("buffer_retention_seconds", "pre_event_buffer_seconds")
            and self.buffer_retention_seconds < needed
        ):
            problems.append(
                (
                    "BUFFER_RETENTION_SECONDS",
                    f"{_format_number(self.buffer_retention_seconds)} is too short for "
                    f"PRE_EVENT_BUFFER_SECONDS = {_format_number(pre)}; allowed: at least "
                    f"PRE_EVENT_BUFFER_SECONDS + {BUFFER_MARGIN_SECONDS:g} = "
                    f"{_format_number(needed)}",
                )
            )
        storage, buffer = self.local_storage_path, self.buffer_path
        if checkable("local_storage_path", "buffer_path") and (
            storage.is_relative_to(buffer) or buffer.is_relative_to(storage)
        ):
            # Buffer pruning deletes old files under BUFFER_PATH: it must never reach the clips.
            problems.append(
                (
                    "BUFFER_PATH",
                    "is LOCAL_STORAGE_PATH, inside it or contains it; "
                    "allowed: a separate directory",
                )
            )
        if (
            checkable("demo_camera", "cameras")
            and self.demo_camera == "on"
            and any(camera.id == DEMO_CAMERA_ID for camera in self.cameras)
        ):
            problems.append(
                (
                    "DEMO_CAMERA",
                    f"is on but a configured camera already uses the id '{DEMO_CAMERA_ID}'; "
                    "allowed: auto or off, or another id for that camera",
                )
            )
        return problems

    # --- Derived values ---

    @property
    def clip_width(self) -> int:
        """Width in pixels of generated clips."""
        return self.clip_resolution[0]

    @property
    def clip_height(self) -> int:
        """Height in pixels of generated clips."""
        return self.clip_resolution[1]

    @property
    def demo_camera_enabled(self) -> bool:
        """Whether the built-in demo camera runs (DEMO_CAMERA=on, or auto with no camera)."""
        return self.demo_camera == "on" or (self.demo_camera == "auto" and not self.cameras)

    @property
    def active_cameras(self) -> tuple[CameraConfig, ...]:
        """The configured cameras plus :data:`DEMO_CAMERA` when it runs, sorted by id."""
        if not self.demo_camera_enabled:
            return self.cameras
        return tuple(sorted((*self.cameras, DEMO_CAMERA), key=lambda camera: camera.id))

    @property
    def api_is_loopback(self) -> bool:
        """Whether the API binds only to the local machine."""
        return _is_loopback(self.api_host)

    @property
    def loaded_from(self) -> tuple[str, ...]:
        """Where :func:`load_settings` found values: the environment and the ``.env`` files read."""
        return self._loaded_from

    def secret_values(self) -> tuple[str, ...]:
        """Every secret in the configuration, for log redaction (camera passwords included).

        A camera password is listed both as written in its URL and percent-decoded.
        """
        values: list[str] = []
        for secret in (self.aws_access_key_id, self.aws_secret_access_key, self.api_token):
            if secret is not None:
                values.append(secret.get_secret_value())
        for camera in self.cameras:
            if _URL_PREFIX.match(camera.url) is None:
                continue
            try:
                password = urlsplit(camera.url).password
            except ValueError:
                continue
            if password:
                values += [password, unquote(password)]
        return tuple(dict.fromkeys(value for value in values if value))

    def describe(self) -> list[tuple[str, str]]:
        """(variable, display value) for every setting, safe for start-up logs and screens."""
        rows: list[tuple[str, str]] = []
        for name, info in type(self).model_fields.items():
            if name == "cameras" or not info.alias:
                continue
            rows.append((info.alias, self._display(getattr(self, name))))
        for camera in self.cameras:
            rows.append((camera_variable(camera.id), camera.display_url))
            if camera.name:
                rows.append((camera_variable(camera.id, "NAME"), camera.name))
        return rows

    @staticmethod
    def _display(value: object) -> str:
        if value is None:
            return "(not set)"
        if isinstance(value, SecretStr):
            return "(set, hidden)"
        if isinstance(value, tuple):
            return ",".join(str(part) for part in value)
        if isinstance(value, float):
            return _format_number(value)
        return redact_url(str(value))


@dataclass(frozen=True)
class _Source:
    label: str
    values: Mapping[str, str]
    base_dir: Path | None


_PATH_FIELDS = ("local_storage_path", "buffer_path")


def _read_sources(
    env_files: Sequence[str | os.PathLike[str]], environ: Mapping[str, str]
) -> tuple[list[_Source], list[Problem]]:
    sources = [_Source("the environment", dict(environ), None)]
    problems: list[Problem] = []
    for entry in env_files:
        path = Path(entry)
        try:
            if not path.is_file():
                continue
            # No interpolation: a "$" in a password stays as written, and nothing is pulled in
            # from the real environment behind an injected one.
            values = dotenv_values(path, interpolate=False, encoding="utf-8-sig")
        except OSError as exc:
            problems.append(
                (str(path), f"cannot be read ({exc.strerror}); allowed: a readable file")
            )
            continue
        except UnicodeDecodeError:
            problems.append((str(path), "is not UTF-8 text; allowed: a UTF-8 .env file"))
            continue
        present = {key: value for key, value in values.items() if value is not None}
        sources.append(_Source(str(path), present, path.parent))
    return sources, problems


def _discover_cameras(
    sources: Sequence[_Source], settings_variables: frozenset[str]
) -> tuple[list[CameraConfig], list[Problem]]:
    """Cameras from ``CAMERA_{ID}_URL`` / ``_NAME``; for each variable the first source wins."""
    problems: list[Problem] = []
    found: dict[tuple[str, str], tuple[str, str, _Source]] = {}
    for source in sources:
        here: dict[tuple[str, str], str] = {}
        for variable, value in source.values.items():
            if variable in settings_variables or not value.strip():
                continue
            match = _CAMERA_VARIABLE.fullmatch(variable)
            if match is None:
                continue
            shown = _shown_variable(variable)
            try:
                camera_id = validate_camera_id(match["id"])
            except InvalidIdError:
                problems.append(
                    (shown, f"names an invalid camera id; allowed: {_CAMERA_ID_ALLOWED}")
                )
                continue
            key = (camera_id, match["part"])
            if key in here:
                problems.append(
                    (
                        shown,
                        f"configures the same camera as {here[key]} (ids ignore case); "
                        "allowed: one variable per camera",
                    )
                )
                continue
            here[key] = shown
            found.setdefault(key, (shown, value, source))
    cameras: list[CameraConfig] = []
    for (camera_id, part), (variable, value, source) in sorted(found.items()):
        if part != "URL":
            if (camera_id, "URL") not in found:
                problems.append(
                    (
                        variable,
                        f"is set but {camera_variable(camera_id)} is not; "
                        "allowed: a name for a camera that has a URL",
                    )
                )
            continue
        try:
            url = camera_source(value, source.base_dir)
        except ValueError as exc:
            problems.append((variable, str(exc)))
            continue
        name = ""
        if (camera_id, "NAME") in found:
            name_variable, name_value, _ = found[(camera_id, "NAME")]
            try:
                name = camera_name(name_value)
            except ValueError as exc:
                problems.append((name_variable, str(exc)))
        cameras.append(CameraConfig(id=camera_id, url=url, name=name))
    return cameras, problems


def load_settings(
    env_files: Sequence[str | os.PathLike[str]] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Read the configuration; raises :class:`SettingsError` listing every bad variable.

    ``env_files`` are ``.env`` paths, highest priority first (default :func:`default_env_files`:
    ``./.env`` then the per-user one); missing files are skipped. ``environ`` (default
    ``os.environ``) beats them all. Variable names are case-sensitive, except the ``{ID}`` in
    ``CAMERA_{ID}_URL``. Empty values count as unset, and unknown variables are ignored. A relative
    path in a ``.env`` file is relative to that file's directory.
    """
    sources, problems = _read_sources(
        default_env_files() if env_files is None else env_files,
        os.environ if environ is None else environ,
    )
    fields = Settings.model_fields
    variables = frozenset(info.alias for info in fields.values() if info.alias)
    data: dict[str, Any] = {}
    for name, info in fields.items():
        if not info.alias:
            continue
        for source in sources:
            value = source.values.get(info.alias)
            if value is None or not value.strip():
                continue
            if name in _PATH_FIELDS and source.base_dir is not None:
                path = Path(value.strip()).expanduser()
                value = str(path if path.is_absolute() else source.base_dir / path)
            data[info.alias] = value
            break
    cameras, camera_problems = _discover_cameras(sources, variables)
    data["cameras"] = tuple(cameras)
    loaded_from = [source.label for source in sources]
    try:
        settings = Settings(**data)
    except SettingsError as exc:
        problems += exc.problems
    problems += camera_problems
    if problems:
        raise SettingsError(problems, loaded_from)
    settings._loaded_from = tuple(loaded_from)
    return settings
