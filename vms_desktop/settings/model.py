"""The ``Settings`` model: one validated field per variable, derived values and safe display."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, get_args

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
from vms_desktop.domain.clip import MAX_CLIP_SECONDS, MAX_WINDOW_SIDE_SECONDS
from vms_desktop.domain.redaction import redact_url
from vms_desktop.settings.cameras import (
    CAMERA_ALLOWED,
    DEMO_CAMERA,
    check_cameras,
    running_camera_ids,
    url_passwords,
)
from vms_desktop.settings.consistency import consistency_problems
from vms_desktop.settings.display import describe_settings
from vms_desktop.settings.messages import SettingsError, field_name, field_problems
from vms_desktop.settings.mqtt import (
    CLIENT_ID_ALLOWED,
    DEFAULT_TOPIC_PREFIX,
    MQTT_URL_ALLOWED,
    TOPIC_PREFIX_ALLOWED,
    MqttBroker,
    check_mqtt_value,
    parse_mqtt_url,
)
from vms_desktop.settings.paths import (
    default_buffer_path,
    default_state_path,
    default_storage_path,
)
from vms_desktop.settings.retention import (
    DEFAULT_RETENTION_HOURS,
    GB,
    MAX_RECORDING_GB,
    MAX_RETENTION_HOURS,
    MB,
    RETENTION_HOURS_ALLOWED,
    check_camera_retention,
    kept_seconds,
)
from vms_desktop.settings.values import (
    BUFFER_MARGIN_SECONDS,
    MAKE_TOKEN_COMMAND,
    MAX_CLIP_HEIGHT,
    MAX_CLIP_WIDTH,
    MIN_API_TOKEN_LENGTH,
    MIN_CLIP_SIDE,
    absolute_path,
    check_bucket,
    check_host,
    check_http_url,
    check_region,
    check_resolution,
    check_token,
    check_webhook_secret,
    check_webhook_urls,
    is_loopback,
    parse_resolution,
)

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

# DEMO_CAMERA also takes the usual boolean spellings, as people write them in .env files.
_SWITCH_WORDS = {"true": "on", "yes": "on", "1": "on", "false": "off", "no": "off", "0": "off"}


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


class Settings(BaseSettings):
    """The application's configuration, one field per variable (attribute names are lower case).

    Build it with :func:`~vms_desktop.settings.load_settings`. Secrets are
    :class:`~pydantic.SecretStr` and camera URLs are only shown through
    :attr:`CameraConfig.display_url`, so ``repr``, ``str``, ``model_dump`` and :meth:`describe` are
    safe to print.
    """

    model_config = SettingsConfigDict(
        case_sensitive=True,
        extra="forbid",
        frozen=True,
        validate_by_alias=True,
        validate_by_name=True,
        hide_input_in_errors=True,
        # How load_settings' sources read: empty counts as unset, a BOM is allowed in .env files.
        env_ignore_empty=True,
        env_file_encoding="utf-8-sig",
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
        """Only keyword arguments, so ``Settings(...)`` reads nothing ambient.

        :func:`~vms_desktop.settings.load_settings` reads the environment and the ``.env`` files
        with the sources of :mod:`vms_desktop.settings.sources`, and discovers the cameras.
        """
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
        default_storage_path,
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
        le=MAX_CLIP_SECONDS,
        allow_inf_nan=False,
    )
    pre_event_buffer_seconds: float = _setting(
        "PRE_EVENT_BUFFER_SECONDS",
        "Seconds of footage before the event time.",
        "a number of seconds from 0 to 3600",
        10.0,
        ge=0,
        le=MAX_WINDOW_SIDE_SECONDS,
        allow_inf_nan=False,
    )
    post_event_buffer_seconds: float = _setting(
        "POST_EVENT_BUFFER_SECONDS",
        "Seconds of footage after the event time.",
        "a number of seconds above 0, at most 3600",
        20.0,
        gt=0,
        le=MAX_WINDOW_SIDE_SECONDS,
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

    # --- Additions: webhooks ---
    webhook_urls: tuple[str, ...] = _setting(
        "WEBHOOK_URLS",
        "URLs that receive a POST of JSON for every clip ready or failed and every camera state "
        "change, retried until they answer.",
        "comma-separated http:// or https:// URLs (a user:password@ in them is never shown)",
        (),
        repr=False,  # a user:password@ must not reach logs through repr
    )
    webhook_secret: SecretStr | None = _setting(
        "WEBHOOK_SECRET",
        "Key of the X-VMS-Signature header (HMAC-SHA256) on webhook requests; unset: unsigned.",
        f"a random key of at least {MIN_API_TOKEN_LENGTH} printable ASCII characters without "
        f"spaces (make one with {MAKE_TOKEN_COMMAND})",
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

    # --- Additions: recording archive ---
    buffer_path: Path = _path_setting(
        "BUFFER_PATH",
        "Directory of the recording archive, one folder per camera.",
        default_buffer_path,
    )
    state_path: Path = _path_setting(
        "STATE_PATH",
        "Directory of the app's own state: clip catalogue, job records, upload queue, URL "
        "signing key.",
        default_state_path,
    )
    recording_retention_hours: float | None = _setting(
        "RECORDING_RETENTION_HOURS",
        "Hours of recording kept in the archive for each camera without its own "
        "CAMERA_{ID}_RETENTION_HOURS; unset: BUFFER_RETENTION_SECONDS when that is set, else "
        f"{DEFAULT_RETENTION_HOURS:g}.",
        RETENTION_HOURS_ALLOWED,
        gt=0,
        le=MAX_RETENTION_HOURS,
        allow_inf_nan=False,
    )
    recording_max_gb: float | None = _setting(
        "RECORDING_MAX_GB",
        "Disk budget of the whole archive in gigabytes (of 1024 MB), all cameras together: over "
        "it the oldest footage of any camera goes first; unset: no budget.",
        f"a number of gigabytes above 0, at most {MAX_RECORDING_GB}",
        gt=0,
        le=MAX_RECORDING_GB,
        allow_inf_nan=False,
    )
    buffer_retention_seconds: float | None = _setting(
        "BUFFER_RETENTION_SECONDS",
        "Seconds of recording kept (the original service's setting), used only when "
        "RECORDING_RETENTION_HOURS is unset; at least PRE_EVENT_BUFFER_SECONDS + "
        f"{BUFFER_MARGIN_SECONDS:g}.",
        f"a number of seconds, at least PRE_EVENT_BUFFER_SECONDS + {BUFFER_MARGIN_SECONDS:g}",
        gt=0,
        allow_inf_nan=False,
    )
    buffer_max_size_mb: int | None = _setting(
        "BUFFER_MAX_SIZE_MB",
        "Largest size of one camera's archive in megabytes, its oldest footage going first; "
        "unset: no cap per camera, so each keeps its whole retention (RECORDING_MAX_GB bounds "
        "all cameras together).",
        "a whole number of megabytes, at least 64",
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
        "Free space kept on the archive's file system in megabytes: below it the oldest footage "
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

    # --- Additions: MQTT ---
    mqtt_url: SecretStr | None = _setting(
        "MQTT_URL",
        "MQTT broker to take events from and publish clip, camera and health states to; unset: "
        "no MQTT.",
        MQTT_URL_ALLOWED,
    )
    mqtt_ca_file: Path | None = _setting(
        "MQTT_CA_FILE",
        "CA certificate (PEM) that signs the broker's certificate, for a private CA with "
        "mqtts://; unset: the system's CAs.",
        "the path of a readable PEM file",
    )
    mqtt_topic_prefix: str = _setting(
        "MQTT_TOPIC_PREFIX",
        "First level(s) of every MQTT topic the app uses (<prefix>/events, <prefix>/clips/...).",
        TOPIC_PREFIX_ALLOWED,
        DEFAULT_TOPIC_PREFIX,
    )
    mqtt_client_id: str | None = _setting(
        "MQTT_CLIENT_ID",
        "MQTT client id (unset: vms-desktop-<host name>); two apps on one broker need "
        "different ids.",
        CLIENT_ID_ALLOWED,
    )
    mqtt_ha_discovery: bool = _setting(
        "MQTT_HA_DISCOVERY",
        "Publish Home Assistant MQTT discovery messages for each camera and the upload queue.",
        "on or off",
        False,
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
        json_schema_extra={"allowed": CAMERA_ALLOWED},
    )
    camera_retention_hours: tuple[tuple[str, float], ...] = Field(
        default=(),
        description="Hours of recording kept for single cameras, from the "
        "CAMERA_{ID}_RETENTION_HOURS variables, as (camera id, hours) sorted by id.",
        json_schema_extra={"allowed": RETENTION_HOURS_ALLOWED},
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
        return check_bucket(value) if isinstance(value, str) else value

    @field_validator("aws_region", mode="before")
    @classmethod
    def _check_region(cls, value: Any) -> Any:
        return check_region(value) if isinstance(value, str) else value

    @field_validator("local_storage_path", "buffer_path", mode="before")
    @classmethod
    def _absolute_path(cls, value: Any) -> Any:
        return absolute_path(value) if isinstance(value, str | os.PathLike) else value

    @field_validator("clip_base_url", "s3_endpoint_url", mode="before")
    @classmethod
    def _check_url(cls, value: Any) -> Any:
        return check_http_url(value) if isinstance(value, str) else value

    @field_validator("webhook_urls", mode="before")
    @classmethod
    def _check_webhook_urls(cls, value: Any) -> Any:
        return check_webhook_urls(value) if isinstance(value, str) else value

    @field_validator("webhook_secret", mode="before")
    @classmethod
    def _check_webhook_secret(cls, value: Any) -> Any:
        return check_webhook_secret(value) if isinstance(value, str) else value

    @field_validator("clip_resolution", mode="before")
    @classmethod
    def _parse_resolution(cls, value: Any) -> Any:
        return parse_resolution(value) if isinstance(value, str) else value

    @field_validator("clip_resolution")
    @classmethod
    def _check_resolution(cls, value: tuple[int, int]) -> tuple[int, int]:
        return check_resolution(value)

    @field_validator("api_host", mode="before")
    @classmethod
    def _check_host(cls, value: Any) -> Any:
        return check_host(value) if isinstance(value, str) else value

    @field_validator("api_token", mode="before")
    @classmethod
    def _check_token(cls, value: Any) -> Any:
        return check_token(value) if isinstance(value, str) else value

    @field_validator(
        "mqtt_url", "mqtt_ca_file", "mqtt_topic_prefix", "mqtt_client_id", mode="before"
    )
    @classmethod
    def _check_mqtt(cls, value: Any, info: ValidationInfo) -> Any:
        return check_mqtt_value(info.field_name or "", value)

    @field_validator("mqtt_ha_discovery", mode="before")
    @classmethod
    def _switch_word(cls, value: Any) -> Any:
        return _SWITCH_WORDS.get(value.strip().lower(), value) if isinstance(value, str) else value

    @field_validator("cameras")
    @classmethod
    def _check_cameras(cls, cameras: tuple[CameraConfig, ...]) -> tuple[CameraConfig, ...]:
        return check_cameras(cameras)

    @field_validator("camera_retention_hours", mode="before")
    @classmethod
    def _check_camera_retention(cls, value: Any, info: ValidationInfo) -> Any:
        # Declared after the cameras, so checked against those that run.
        return check_camera_retention(value, info.data) if isinstance(value, Mapping) else value

    @field_serializer("webhook_urls")
    def _dump_webhook_urls(self, urls: tuple[str, ...]) -> list[str]:
        # Dumps are printed and logged: URLs go out without their credentials.
        return [redact_url(url) for url in urls]

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
            problems, bad_fields = field_problems(cls.model_fields, exc)
        else:
            settings._derive()
            problems = consistency_problems(settings, frozenset())
            if problems:
                raise SettingsError(problems)
            return settings
        if isinstance(data, Mapping):
            rest = {
                key: value
                for key, value in data.items()
                if field_name(cls.model_fields, str(key)) not in bad_fields
            }
            try:
                partial = handler(rest)
            except ValidationError:
                pass
            else:
                partial._derive()
                problems += consistency_problems(partial, bad_fields)
        raise SettingsError(problems)

    def _derive(self) -> None:
        if "clip_duration_seconds" not in self.model_fields_set:
            # Unset duration follows the two buffers, so changing only them is consistent.
            total = round(self.pre_event_buffer_seconds + self.post_event_buffer_seconds, 6)
            self.__dict__["clip_duration_seconds"] = total

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
        return DEMO_CAMERA.id in running_camera_ids(self.cameras, self.demo_camera)

    @property
    def active_cameras(self) -> tuple[CameraConfig, ...]:
        """The configured cameras plus :data:`DEMO_CAMERA` when it runs, sorted by id."""
        if not self.demo_camera_enabled:
            return self.cameras
        return tuple(sorted((*self.cameras, DEMO_CAMERA), key=lambda camera: camera.id))

    @property
    def retention_seconds(self) -> float:
        """Seconds of footage kept for a camera without its own retention (see kept_seconds)."""
        return kept_seconds(self.recording_retention_hours, self.buffer_retention_seconds)

    @property
    def retention_by_camera(self) -> dict[str, float]:
        """Seconds of footage kept for each running camera, by id: its own hours, else the
        retention of all.
        """
        own = {camera_id: hours * 3600.0 for camera_id, hours in self.camera_retention_hours}
        return {c.id: own.get(c.id, self.retention_seconds) for c in self.active_cameras}

    @property
    def recording_max_bytes(self) -> int | None:
        """The archive's disk budget across all cameras in bytes, or None without one."""
        return None if self.recording_max_gb is None else round(self.recording_max_gb * GB)

    @property
    def buffer_max_bytes(self) -> int | None:
        """The cap of one camera's archive in bytes, or None without one."""
        return None if self.buffer_max_size_mb is None else self.buffer_max_size_mb * MB

    @property
    def api_is_loopback(self) -> bool:
        """Whether the API binds only to the local machine."""
        return is_loopback(self.api_host)

    @property
    def mqtt_broker(self) -> MqttBroker | None:
        """The MQTT broker to use (its CA file from the URL or MQTT_CA_FILE), or None."""
        if self.mqtt_url is None:
            return None
        broker = parse_mqtt_url(self.mqtt_url.get_secret_value())
        if broker.ca_file is None and self.mqtt_ca_file is not None:
            return dataclasses.replace(broker, ca_file=self.mqtt_ca_file)
        return broker

    @property
    def loaded_from(self) -> tuple[str, ...]:
        """Where ``load_settings`` found values: the environment and the ``.env`` files read."""
        return self._loaded_from

    def secret_values(self) -> tuple[str, ...]:
        """Every secret in the configuration, for log redaction (camera passwords included).

        A camera password is listed both as written in its URL and percent-decoded.
        """
        values: list[str] = []
        secrets = (
            self.aws_access_key_id,
            self.aws_secret_access_key,
            self.api_token,
            self.webhook_secret,
        )
        for secret in secrets:
            if secret is not None:
                values.append(secret.get_secret_value())
        broker = self.mqtt_broker
        if broker is not None and broker.password:
            values.append(broker.password)
        for url in (*(camera.url for camera in self.cameras), *self.webhook_urls):
            values += url_passwords(url)
        return tuple(dict.fromkeys(value for value in values if value))

    def describe(self) -> list[tuple[str, str]]:
        """(variable, display value) for every setting, safe for start-up logs and screens."""
        return describe_settings(self)
