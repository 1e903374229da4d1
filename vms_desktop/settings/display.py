"""Settings as people read them: one (variable, value) row each, secrets and passwords hidden."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import SecretStr

from vms_desktop.domain.redaction import redact_url
from vms_desktop.settings.cameras import camera_variable
from vms_desktop.settings.messages import format_number

if TYPE_CHECKING:
    from vms_desktop.settings.model import Settings

# Settings kept secret as a whole because their URL carries credentials.
_SECRET_URLS = frozenset({"MQTT_URL"})


def describe_settings(settings: Settings) -> list[tuple[str, str]]:
    """(variable, display value) for every setting, safe for start-up logs and screens."""
    rows: list[tuple[str, str]] = []
    for name, info in type(settings).model_fields.items():
        if not info.alias:
            continue
        value = getattr(settings, name)
        if info.alias in _SECRET_URLS and isinstance(value, SecretStr):
            # The broker's address helps; only its credentials are secret.
            rows.append((info.alias, redact_url(value.get_secret_value())))
            continue
        rows.append((info.alias, display_value(value)))
    for camera in settings.cameras:
        rows.append((camera_variable(camera.id), camera.display_url))
        if camera.name:
            rows.append((camera_variable(camera.id, "NAME"), camera.name))
    for camera_id, hours in settings.camera_retention_hours:
        rows.append((camera_variable(camera_id, "RETENTION_HOURS"), format_number(hours)))
    return rows


def display_value(value: object) -> str:
    """One setting's value as shown: hidden when secret, credentials out of URLs."""
    if value is None:
        return "(not set)"
    if isinstance(value, SecretStr):
        return "(set, hidden)"
    if isinstance(value, tuple):
        return ",".join(redact_url(str(part)) for part in value)
    if isinstance(value, float):
        return format_number(value)
    return redact_url(str(value))
