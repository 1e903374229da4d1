"""How long footage is kept and how much disk the archive may take: the retention rules."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from vms_desktop.domain.errors import InvalidIdError
from vms_desktop.domain.ids import validate_camera_id
from vms_desktop.settings.cameras import CAMERA_ID_ALLOWED, camera_variable, running_camera_ids
from vms_desktop.settings.messages import Problem, ValueProblems, format_number, shown_variable
from vms_desktop.settings.values import BUFFER_MARGIN_SECONDS

if TYPE_CHECKING:
    from vms_desktop.settings.model import Settings

MB = 1024 * 1024
GB = 1024 * MB
MAX_RECORDING_GB = 1_048_576
# The archive keeps a day by default; a year is the longest a site may ask for.
DEFAULT_RETENTION_HOURS = 24.0
MAX_RETENTION_HOURS = 8760.0
RETENTION_HOURS_ALLOWED = (
    f"a number of hours above 0, at most {MAX_RETENTION_HOURS:g}, and at least "
    f"PRE_EVENT_BUFFER_SECONDS + {BUFFER_MARGIN_SECONDS:g} seconds"
)


def kept_seconds(recording_hours: float | None, buffer_seconds: float | None) -> float:
    """Seconds kept for a camera without its own retention.

    RECORDING_RETENTION_HOURS, else a BUFFER_RETENTION_SECONDS that was set (a seed ``.env``
    keeps working as before), else the default day.
    """
    if recording_hours is not None:
        return recording_hours * 3600.0
    if buffer_seconds is not None:
        return buffer_seconds
    return DEFAULT_RETENTION_HOURS * 3600.0


def parse_hours(value: str | float) -> float:
    """A retention in hours (text or number) within its bounds; ValueError otherwise."""
    try:
        hours = float(value.strip() if isinstance(value, str) else value)
    except ValueError:
        raise ValueError(f"is not a number; allowed: {RETENTION_HOURS_ALLOWED}") from None
    if not math.isfinite(hours):
        raise ValueError(f"is not a finite number; allowed: {RETENTION_HOURS_ALLOWED}")
    if hours <= 0:
        raise ValueError(f"is too small; allowed: {RETENTION_HOURS_ALLOWED}")
    if hours > MAX_RETENTION_HOURS:
        raise ValueError(f"is too large; allowed: {RETENTION_HOURS_ALLOWED}")
    return hours


def check_camera_retention(
    values: Mapping[str, Any], validated: Mapping[str, Any]
) -> tuple[tuple[str, float], ...]:
    """(camera id, hours) for each camera's own retention, sorted by id, from text or numbers.

    ``validated`` holds the fields validated so far: when the cameras are among them (they are
    unless they were bad), each retention must be for a camera that runs. Raises
    :class:`ValueProblems` naming each bad ``CAMERA_{ID}_RETENTION_HOURS``.
    """
    running = (
        running_camera_ids(validated["cameras"], validated["demo_camera"])
        if "cameras" in validated and "demo_camera" in validated
        else None
    )
    problems: list[Problem] = []
    hours: dict[str, float] = {}
    for key, value in values.items():
        variable = shown_variable(camera_variable(str(key), "RETENTION_HOURS"))
        try:
            camera_id = validate_camera_id(str(key))
        except InvalidIdError:
            problems.append((variable, f"names an invalid camera id; allowed: {CAMERA_ID_ALLOWED}"))
            continue
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            problems.append((variable, f"is not a number; allowed: {RETENTION_HOURS_ALLOWED}"))
            continue
        try:
            hours[camera_id] = parse_hours(value)
        except ValueError as exc:
            problems.append((variable, str(exc)))
        if running is not None and camera_id not in running:
            problems.append(
                (
                    variable,
                    f"is set but {camera_variable(camera_id)} is not; allowed: a retention "
                    "for a camera that has a URL (or for the demo camera while it runs)",
                )
            )
    if problems:
        raise ValueProblems(problems)
    return tuple(sorted(hours.items()))


def retention_problems(settings: Settings, checkable: Callable[..., bool]) -> list[Problem]:
    """Every retention that is set must outlive the pre-event window by the margin.

    ``checkable(*field_names)`` says whether the fields a check involves are valid.
    """
    problems: list[Problem] = []
    pre = settings.pre_event_buffer_seconds
    needed = pre + BUFFER_MARGIN_SECONDS
    seconds = settings.buffer_retention_seconds
    if (
        checkable("buffer_retention_seconds", "pre_event_buffer_seconds")
        and seconds is not None
        and seconds < needed
    ):
        problems.append(
            (
                "BUFFER_RETENTION_SECONDS",
                f"{format_number(seconds)} is too short for "
                f"PRE_EVENT_BUFFER_SECONDS = {format_number(pre)}; allowed: at least "
                f"PRE_EVENT_BUFFER_SECONDS + {BUFFER_MARGIN_SECONDS:g} = "
                f"{format_number(needed)}",
            )
        )
    hours_set: list[tuple[str, float]] = []
    if checkable("recording_retention_hours") and settings.recording_retention_hours is not None:
        hours_set.append(("RECORDING_RETENTION_HOURS", settings.recording_retention_hours))
    if checkable("camera_retention_hours"):
        for camera_id, hours in settings.camera_retention_hours:
            hours_set.append((camera_variable(camera_id, "RETENTION_HOURS"), hours))
    if checkable("pre_event_buffer_seconds"):
        for variable, hours in hours_set:
            if hours * 3600 < needed:
                problems.append(
                    (
                        variable,
                        f"{format_number(hours)} hours is too short for "
                        f"PRE_EVENT_BUFFER_SECONDS = {format_number(pre)}; allowed: at least "
                        f"PRE_EVENT_BUFFER_SECONDS + {BUFFER_MARGIN_SECONDS:g} = "
                        f"{format_number(needed)} seconds ({needed / 3600:.4g} hours)",
                    )
                )
    return problems
