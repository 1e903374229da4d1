"""Checks between settings: S3 bucket and keys, clip duration, API token, retention, directories."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vms_desktop.settings.cameras import DEMO_CAMERA_ID
from vms_desktop.settings.messages import Problem, format_number
from vms_desktop.settings.retention import retention_problems
from vms_desktop.settings.values import (
    DURATION_TOLERANCE_SECONDS,
    MAKE_TOKEN_COMMAND,
    MIN_API_TOKEN_LENGTH,
    api_token_weakness,
    is_loopback,
)

if TYPE_CHECKING:
    from vms_desktop.settings.model import Settings


def consistency_problems(settings: Settings, skip: frozenset[str]) -> list[Problem]:
    """Problems between fields, ignoring any check that involves a field in ``skip``."""
    problems: list[Problem] = []

    def checkable(*names: str) -> bool:
        return skip.isdisjoint(names)

    if (
        checkable("video_storage_type", "s3_bucket_name")
        and settings.video_storage_type == "s3"
        and settings.s3_bucket_name is None
    ):
        problems.append(
            (
                "S3_BUCKET_NAME",
                "is required when VIDEO_STORAGE_TYPE is s3; allowed: a bucket name",
            )
        )
    if checkable("video_storage_type", "aws_access_key_id", "aws_secret_access_key") and (
        settings.video_storage_type == "s3"
    ):
        key_id, secret = settings.aws_access_key_id, settings.aws_secret_access_key
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
    if (
        checkable("mqtt_url", "mqtt_ca_file")
        and settings.mqtt_ca_file is not None
        and (settings.mqtt_broker is None or not settings.mqtt_broker.tls)
    ):
        problems.append(
            (
                "MQTT_CA_FILE",
                "is set but MQTT_URL is not an mqtts:// URL; allowed: a CA file with "
                "MQTT_URL=mqtts://..., or no MQTT_CA_FILE",
            )
        )
    pre, post = settings.pre_event_buffer_seconds, settings.post_event_buffer_seconds
    duration = settings.clip_duration_seconds
    if (
        checkable("clip_duration_seconds", "pre_event_buffer_seconds", "post_event_buffer_seconds")
        and abs(duration - (pre + post)) > DURATION_TOLERANCE_SECONDS
    ):
        problems.append(
            (
                "CLIP_DURATION_SECONDS",
                f"{format_number(duration)} differs from PRE_EVENT_BUFFER_SECONDS + "
                f"POST_EVENT_BUFFER_SECONDS = {format_number(pre)} + "
                f"{format_number(post)} = {format_number(pre + post)}; allowed: "
                "CLIP_DURATION_SECONDS = PRE_EVENT_BUFFER_SECONDS + POST_EVENT_BUFFER_SECONDS "
                "(or leave CLIP_DURATION_SECONDS unset)",
            )
        )
    if (
        checkable("api_host", "api_token")
        and settings.api_token is None
        and not is_loopback(settings.api_host)
    ):
        problems.append(
            (
                "API_TOKEN",
                f"is required because API_HOST ({settings.api_host}) is not a loopback address; "
                f"allowed: a random token of at least {MIN_API_TOKEN_LENGTH} printable ASCII "
                f"characters (make one with {MAKE_TOKEN_COMMAND}), or API_HOST=127.0.0.1",
            )
        )
    weakness = (
        api_token_weakness(settings.api_token.get_secret_value())
        if settings.api_token is not None
        else None
    )
    if checkable("api_host", "api_token") and weakness and not is_loopback(settings.api_host):
        problems.append(
            (
                "API_TOKEN",
                f"{weakness}, too easy to guess for API_HOST ({settings.api_host}), which other "
                f"machines can reach; allowed: a random token of at least "
                f"{MIN_API_TOKEN_LENGTH} printable ASCII characters (make one with "
                f"{MAKE_TOKEN_COMMAND}), or API_HOST=127.0.0.1",
            )
        )
    problems += retention_problems(settings, checkable)
    storage, buffer = settings.local_storage_path, settings.buffer_path
    if checkable("local_storage_path", "buffer_path") and (
        storage.is_relative_to(buffer) or buffer.is_relative_to(storage)
    ):
        # Buffer pruning deletes old files under BUFFER_PATH: it must never reach the clips.
        problems.append(
            (
                "BUFFER_PATH",
                "is LOCAL_STORAGE_PATH, inside it or contains it; allowed: a separate directory",
            )
        )
    if (
        checkable("demo_camera", "cameras")
        and settings.demo_camera == "on"
        and any(camera.id == DEMO_CAMERA_ID for camera in settings.cameras)
    ):
        problems.append(
            (
                "DEMO_CAMERA",
                f"is on but a configured camera already uses the id '{DEMO_CAMERA_ID}'; "
                "allowed: auto or off, or another id for that camera",
            )
        )
    return problems
