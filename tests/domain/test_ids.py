"""Camera and event id validation, including the hostile-input corpus from QUALITY.md."""

from __future__ import annotations

import pytest

from vms_desktop.domain.errors import InvalidIdError
from vms_desktop.domain.ids import (
    CAMERA_ID_PATTERN,
    EVENT_ID_PATTERN,
    is_valid_camera_id,
    is_valid_event_id,
    validate_camera_id,
    validate_event_id,
)

ONE_MB = "a" * (1024 * 1024)

# Shared by both kinds of id: every one of these must be refused before it reaches a path.
HOSTILE = [
    "../../etc/x",
    "/etc/passwd",
    "..\\..\\x",
    "%2e%2e%2f",
    "%252e%252e",
    "cam\x00",
    "\x00",
    "cam\nx",
    "cam\n",
    "\uff0e\uff0e",
    "\uff0e\uff0e\uff0fetc",
    ONE_MB,
    "",
    " ",
    "cam 01",
    " cam01",
    "cam01 ",
    "caméra",
    "камера",
    "\u212a",  # Kelvin sign: lower() turns it into an ASCII "k"
    "cam\u202e10",
    "-cam",
    "_cam",
    ".hidden",
    "c:x",
    "cam/01",
    "cam\\01",
    "con",
    "NUL",
    "com1",
]


@pytest.mark.parametrize(
    "value", ["cam01", "CAM01", "front_door", "Front-Door", "a", "0", "a" * 32]
)
def test_camera_ids_accepted_and_lowered(value: str) -> None:
    assert validate_camera_id(value) == value.lower()
    assert is_valid_camera_id(value)


@pytest.mark.parametrize("value", [*HOSTILE, "a" * 33, "cam.01", "cam..01"])
def test_camera_ids_rejected(value: str) -> None:
    with pytest.raises(InvalidIdError):
        validate_camera_id(value)
    assert not is_valid_camera_id(value)


@pytest.mark.parametrize(
    "value", ["event-123", "Event_1.2", "a", "9", "a" * 128, "2025-05-31T10.30.00Z", "cam01.evt"]
)
def test_event_ids_accepted_unchanged(value: str) -> None:
    assert validate_event_id(value) == value
    assert is_valid_event_id(value)


@pytest.mark.parametrize("value", [*HOSTILE, "a" * 129, "a..b", "a.", "evt..", "a/b", "con.txt"])
def test_event_ids_rejected(value: str) -> None:
    with pytest.raises(InvalidIdError):
        validate_event_id(value)
    assert not is_valid_event_id(value)


@pytest.mark.parametrize("value", [None, 12, b"cam01", ["cam01"]])
def test_non_strings_rejected(value: object) -> None:
    with pytest.raises(InvalidIdError, match="not a string"):
        validate_camera_id(value)  # type: ignore[arg-type]
    with pytest.raises(InvalidIdError, match="not a string"):
        validate_event_id(value)  # type: ignore[arg-type]
    assert not is_valid_event_id(value)  # type: ignore[arg-type]


def test_error_is_a_value_error_naming_kind_and_pattern() -> None:
    with pytest.raises(ValueError) as caught:
        validate_camera_id("../x")
    message = str(caught.value)
    assert "camera id" in message
    assert CAMERA_ID_PATTERN in message
    assert isinstance(caught.value, InvalidIdError)
    assert caught.value.kind == "camera id"

    with pytest.raises(InvalidIdError) as caught_event:
        validate_event_id("../x")
    assert "event id" in str(caught_event.value)
    assert EVENT_ID_PATTERN in str(caught_event.value)


def test_error_does_not_echo_huge_input() -> None:
    with pytest.raises(InvalidIdError) as caught:
        validate_event_id("x/" + ONE_MB)
    message = str(caught.value)
    assert len(message) < 400
    assert "a" * 41 not in message
    assert str(len(ONE_MB) + 2) in message


@pytest.mark.parametrize(
    "value", ["\x00evil", "line\nbreak", "bell\x07", "rtl\u202eevil", "\uff0e\uff0e"]
)
def test_error_escapes_control_and_lookalike_characters(value: str) -> None:
    with pytest.raises(InvalidIdError) as caught:
        validate_event_id(value)
    message = str(caught.value)
    assert message.isascii()
    assert message.isprintable()
    assert "\n" not in message
