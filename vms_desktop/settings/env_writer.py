"""Saving settings to a ``.env`` file: the values as text, written atomically for its owner only."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path

from pydantic import SecretStr

from vms_desktop.settings.cameras import camera_variable
from vms_desktop.settings.model import Settings


def env_values(settings: Settings) -> dict[str, str]:
    """The settings as ``.env`` text values (secrets included: only for writing the file)."""
    values: dict[str, str] = {}
    for name, info in type(settings).model_fields.items():
        if not info.alias:
            continue
        value = getattr(settings, name)
        if value is None:
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        elif isinstance(value, tuple):
            value = ",".join(str(part) for part in value)
        values[info.alias] = str(value)
    for camera in settings.cameras:
        values[camera_variable(camera.id)] = camera.url
        if camera.name:
            values[camera_variable(camera.id, "NAME")] = camera.name
    for camera_id, hours in settings.camera_retention_hours:
        values[camera_variable(camera_id, "RETENTION_HOURS")] = f"{hours:.12g}"
    return values


def write_env(path: Path, values: Mapping[str, str]) -> None:
    """Write a ``.env`` file atomically, readable by its owner only (it may hold secrets)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["# Written by the vms_desktop settings dialog."]
    lines += [f"{key}={_quoted(value)}" for key, value in sorted(values.items())]
    # A fresh name nobody else can hold (O_EXCL), so two writers never share a half-written file.
    temp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    # The rename is durable only once the folder's entry is on disk.
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def _quoted(value: str) -> str:
    if any(c in value for c in " #'\"$\\") or value != value.strip():
        escaped = value.replace("\\", "\\\\").replace("'", "\\'")
        return f"'{escaped}'"
    return value
