"""Cameras from ``CAMERA_{ID}_URL`` / ``_NAME`` / ``_RETENTION_HOURS``: checks and discovery."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qsl, unquote, urlsplit

from vms_desktop.domain.camera import CameraConfig
from vms_desktop.domain.errors import InvalidIdError
from vms_desktop.domain.ids import validate_camera_id
from vms_desktop.settings.messages import Problem, ValueProblems, shown_variable
from vms_desktop.settings.sources import VariableSource
from vms_desktop.settings.values import MAX_CLIP_HEIGHT, MAX_CLIP_WIDTH, has_control, split_url

DEMO_CAMERA_ID = "demo"
DEMO_CAMERA = CameraConfig(id=DEMO_CAMERA_ID, url="demo://", name="Demo camera")

_URL_PREFIX = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://")
_CAMERA_VARIABLE = re.compile(r"CAMERA_(?P<id>.*)_(?P<part>URL|NAME|RETENTION_HOURS)", re.DOTALL)
CameraPart = Literal["URL", "NAME", "RETENTION_HOURS"]
_CAMERA_SCHEMES = ("rtsp", "rtsps", "http", "https")
CAMERA_ALLOWED = (
    "rtsp://, rtsps://, http:// or https:// URL, demo:// (optional ?width=W&height=H&fps=N), "
    "or the path of an existing video file"
)
CAMERA_ID_ALLOWED = (
    "CAMERA_{ID}_URL / _NAME / _RETENTION_HOURS where ID is 1 to 32 letters, digits, '_' or '-', "
    "starting with a letter or digit"
)
_CAMERA_NAME_MAX = 64
_DEMO_LIMITS = {"width": (16, MAX_CLIP_WIDTH), "height": (16, MAX_CLIP_HEIGHT), "fps": (1, 60)}


def _check_demo_url(value: str) -> None:
    parts = split_url(value)
    if parts.netloc or parts.path not in ("", "/") or parts.fragment:
        raise ValueError(f"a demo:// URL takes no host or path; allowed: {CAMERA_ALLOWED}")
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
        raise ValueError(f"is empty; allowed: {CAMERA_ALLOWED}")
    if has_control(value):
        raise ValueError(f"contains control characters; allowed: {CAMERA_ALLOWED}")
    prefix = _URL_PREFIX.match(value)
    if prefix is not None:
        scheme = prefix.group()[:-3].lower()
        if scheme == "demo":
            _check_demo_url(value)
            return value
        if scheme not in _CAMERA_SCHEMES:
            shown = f"{scheme}://" if len(scheme) <= 16 else "this"
            raise ValueError(f"the {shown} scheme is not supported; allowed: {CAMERA_ALLOWED}")
        if " " in value:
            raise ValueError(f"contains spaces (write them as %20); allowed: {CAMERA_ALLOWED}")
        try:
            parts = split_url(value)
        except ValueError as exc:
            raise ValueError(f"{exc}; allowed: {CAMERA_ALLOWED}") from None
        if not parts.hostname:
            raise ValueError(f"the URL has no host; allowed: {CAMERA_ALLOWED}")
        if "@" in value[len(parts.scheme) + 3 + len(parts.netloc) :]:
            # An "@" after the host means the password held a raw "/", "?" or "#" and the URL
            # splits in the wrong place: part of the password would be shown as the path.
            raise ValueError(
                "has an '@' after the host (percent-encode '/', '?', '#' and '@' in a user name "
                f"or password as %2F, %3F, %23, %40); allowed: {CAMERA_ALLOWED}"
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
            f"not a supported URL, and no video file exists there; allowed: {CAMERA_ALLOWED}"
        )
    return os.path.abspath(path)


def camera_name(value: str) -> str:
    """Validated display name of a camera (stripped); raises ValueError when unusable."""
    value = value.strip()
    if has_control(value) or len(value) > _CAMERA_NAME_MAX:
        raise ValueError(
            f"contains control characters or is too long; allowed: up to {_CAMERA_NAME_MAX} "
            "printable characters"
        )
    return value


def camera_variable(camera_id: str, part: CameraPart = "URL") -> str:
    """The variable that configures ``part`` of camera ``camera_id`` (``CAMERA_CAM01_URL``)."""
    return f"CAMERA_{camera_id.upper()}_{part}"


def check_cameras(cameras: Sequence[CameraConfig]) -> tuple[CameraConfig, ...]:
    """Cameras given directly (not by variables), checked and sorted by id.

    Raises :class:`ValueProblems` naming each bad camera's variable.
    """
    problems: list[Problem] = []
    checked: dict[str, CameraConfig] = {}
    for camera in cameras:
        variable = shown_variable(camera_variable(camera.id))
        try:
            camera_id = validate_camera_id(camera.id)
        except InvalidIdError:
            problems.append((variable, f"the camera id is invalid; allowed: {CAMERA_ID_ALLOWED}"))
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
        raise ValueProblems(problems)
    return tuple(checked[key] for key in sorted(checked))


def running_camera_ids(cameras: Sequence[CameraConfig], demo_camera: str) -> frozenset[str]:
    """Ids of the cameras that run: the configured ones, and the demo camera when it runs."""
    ids = {camera.id for camera in cameras}
    if demo_camera == "on" or (demo_camera == "auto" and not cameras):
        ids.add(DEMO_CAMERA_ID)
    return frozenset(ids)


def url_passwords(url: str) -> list[str]:
    """The password in a camera URL as written and percent-decoded, for log redaction."""
    if _URL_PREFIX.match(url) is None:
        return []
    try:
        password = urlsplit(url).password
    except ValueError:
        return []
    return [password, unquote(password)] if password else []


def discover_cameras(
    sources: Sequence[VariableSource], settings_variables: frozenset[str]
) -> tuple[list[CameraConfig], dict[str, str], list[Problem]]:
    """Cameras from ``CAMERA_{ID}_URL`` / ``_NAME``, and the ``_RETENTION_HOURS`` texts by id.

    For each variable the first source wins. The retention texts are checked by the settings,
    which also know whether their camera runs (the demo camera has no URL variable).
    """
    problems: list[Problem] = []
    found: dict[tuple[str, str], tuple[str, str, VariableSource]] = {}
    for source in sources:
        here: dict[tuple[str, str], str] = {}
        for variable, value in source.env_vars.items():
            if variable in settings_variables or value is None or not value.strip():
                continue
            match = _CAMERA_VARIABLE.fullmatch(variable)
            if match is None:
                continue
            shown = shown_variable(variable)
            try:
                camera_id = validate_camera_id(match["id"])
            except InvalidIdError:
                problems.append(
                    (shown, f"names an invalid camera id; allowed: {CAMERA_ID_ALLOWED}")
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
    retention: dict[str, str] = {}
    for (camera_id, part), (variable, value, source) in sorted(found.items()):
        if part == "RETENTION_HOURS":
            retention[camera_id] = value
            continue
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
    # A camera whose URL is wrong is reported for its URL, not again for its retention.
    kept = {camera.id for camera in cameras}
    retention = {
        camera_id: value
        for camera_id, value in retention.items()
        if camera_id in kept or (camera_id, "URL") not in found
    }
    return cameras, retention, problems
