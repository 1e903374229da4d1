"""Strict validation of camera ids and event ids, which end up in paths, S3 keys, SQL and logs."""

from __future__ import annotations

import re

CAMERA_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,31}$"
EVENT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"

# Matched case-insensitively before lower-casing: str.lower() maps some non-ASCII letters
# (the Kelvin sign, for one) onto ASCII ones, which would let them slip through.
_CAMERA_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}")
# fullmatch, not "$": "$" also matches before a trailing newline.
_EVENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")

# Windows opens the console, printer, ... device instead of a file with these names, with or
# without an extension, so an id equal to one of them could never be stored there.
_WINDOWS_DEVICES = frozenset(
    {"con", "prn", "aux", "nul"}
    | {f"com{i}" for i in range(1, 10)}
    | {f"lpt{i}" for i in range(1, 10)}
)

_CAMERA_RULE = (
    f"camera ids must match {CAMERA_ID_PATTERN} (upper case is lowered) "
    "and not be a Windows device name (con, nul, com1, ...)"
)
# A trailing "." is refused because Windows drops it from file names, so "a." and "a" would share
# one clip file.
_EVENT_RULE = (
    f"event ids must match {EVENT_ID_PATTERN}, contain no '..', not end with '.' "
    "and not be a Windows device name (con, nul, com1, ...)"
)

_SHOWN_CHARS = 40


class InvalidIdError(ValueError):
    """An id failed validation; the message names the rule and shows a short, escaped excerpt."""

    def __init__(self, kind: str, value: object, rule: str) -> None:
        self.kind = kind
        self.rule = rule
        super().__init__(f"invalid {kind} {_excerpt(value)}: {rule}")


def _excerpt(value: object) -> str:
    """A bounded, escaped rendering of a rejected input, safe for logs and HTTP responses."""
    if not isinstance(value, str):
        return f"(a {type(value).__name__}, not a string)"
    # ascii() escapes control characters and non-ASCII look-alikes (fullwidth dots, bidi marks).
    shown = ascii(value[:_SHOWN_CHARS])
    if len(value) > _SHOWN_CHARS:
        shown += f"... ({len(value)} characters)"
    return shown


def _is_windows_device(value: str) -> bool:
    return value.split(".", 1)[0].lower() in _WINDOWS_DEVICES


def validate_camera_id(value: str) -> str:
    """The camera id in its normal (lower-case) form; raises :class:`InvalidIdError` if invalid."""
    if (
        not isinstance(value, str)
        or _CAMERA_ID.fullmatch(value) is None
        or _is_windows_device(value)
    ):
        raise InvalidIdError("camera id", value, _CAMERA_RULE)
    return value.lower()


def is_valid_camera_id(value: str) -> bool:
    """Whether :func:`validate_camera_id` accepts ``value``."""
    try:
        validate_camera_id(value)
    except InvalidIdError:
        return False
    return True


def validate_event_id(value: str) -> str:
    """``value`` unchanged if it is a valid event id; raises :class:`InvalidIdError` otherwise."""
    if (
        not isinstance(value, str)
        or _EVENT_ID.fullmatch(value) is None
        or ".." in value
        or value.endswith(".")
        or _is_windows_device(value)
    ):
        raise InvalidIdError("event id", value, _EVENT_RULE)
    return value


def is_valid_event_id(value: str) -> bool:
    """Whether :func:`validate_event_id` accepts ``value``."""
    try:
        validate_event_id(value)
    except InvalidIdError:
        return False
    return True
