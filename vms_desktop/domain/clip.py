"""Events, clip metadata and clip job states: the records every layer passes around."""

from __future__ import annotations

import enum
import math
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from vms_desktop.domain.ids import validate_camera_id, validate_event_id

# Printable ASCII words: event types land in S3 metadata (ASCII only), logs and file listings.
EVENT_TYPE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9 ._:/-]{0,63}$"
_EVENT_TYPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._:/-]{0,63}")


class InvalidEventError(ValueError):
    """An event field is malformed; the message names the field."""


def validate_event_type(value: str) -> str:
    """The event type, if it is 1-64 printable ASCII characters (letters, digits, ' ._:/-')."""
    if not isinstance(value, str) or not _EVENT_TYPE.fullmatch(value):
        raise InvalidEventError(f"event_type must match {EVENT_TYPE_PATTERN}")
    return value


def utc(moment: datetime) -> datetime:
    """``moment`` in UTC; naive datetimes are refused (they would mean different instants)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidEventError("timestamp needs a time zone, e.g. 2025-05-31T10:30:00Z")
    return moment.astimezone(UTC)


def iso(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and a ``Z``."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(text: str) -> datetime:
    """An aware UTC datetime from ISO 8601 text (``Z`` or an offset required)."""
    return utc(datetime.fromisoformat(text.replace("Z", "+00:00")))


@dataclass(frozen=True)
class Event:
    """Something that happened on a camera at a moment, from a detector or an operator."""

    id: str
    camera_id: str
    event_type: str
    timestamp: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "id", validate_event_id(self.id))
        object.__setattr__(self, "camera_id", validate_camera_id(self.camera_id))
        validate_event_type(self.event_type)
        object.__setattr__(self, "timestamp", utc(self.timestamp))

    def same_as(self, other: Event) -> bool:
        """True when both describe the same event (a repeated request, not a conflict)."""
        return (self.id, self.camera_id, self.event_type, self.timestamp) == (
            other.id,
            other.camera_id,
            other.event_type,
            other.timestamp,
        )


class ClipStatus(enum.StrEnum):
    """Where a clip job is."""

    PENDING = "pending"
    RECORDING = "recording"
    ENCODING = "encoding"
    UPLOADING = "uploading"
    READY = "ready"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        """True for states a job never leaves."""
        return self in (ClipStatus.READY, ClipStatus.FAILED)


# The bounds of a clip's window, shared with the settings that configure the default one: each
# side at most an hour, the whole clip at most two hours.
MAX_WINDOW_SIDE_SECONDS = 3600.0
MAX_CLIP_SECONDS = 7200.0
# Two windows closer than this on each side are the same (stored times keep milliseconds).
WINDOW_TOLERANCE_SECONDS = 0.001


@dataclass(frozen=True)
class EventWindow:
    """How many seconds of footage a clip holds before and after its event."""

    pre_seconds: float
    post_seconds: float

    def __post_init__(self) -> None:
        for name, value in (
            ("pre_event_seconds", self.pre_seconds),
            ("post_event_seconds", self.post_seconds),
        ):
            if not math.isfinite(value) or not 0 <= value <= MAX_WINDOW_SIDE_SECONDS:
                raise InvalidEventError(
                    f"{name} must be a number of seconds from 0 to {MAX_WINDOW_SIDE_SECONDS:g}"
                )
        length = self.pre_seconds + self.post_seconds
        if not 0 < length <= MAX_CLIP_SECONDS:
            raise InvalidEventError(
                "pre_event_seconds + post_event_seconds must be above 0 and at most "
                f"{MAX_CLIP_SECONDS:g} seconds"
            )
        object.__setattr__(self, "pre_seconds", float(self.pre_seconds))
        object.__setattr__(self, "post_seconds", float(self.post_seconds))

    @property
    def length(self) -> float:
        """Seconds of the whole clip."""
        return self.pre_seconds + self.post_seconds

    def bounds(self, moment: datetime) -> tuple[float, float]:
        """The window around ``moment``, UTC seconds."""
        at = moment.timestamp()
        return at - self.pre_seconds, at + self.post_seconds

    def agrees(self, pre_seconds: float | None, post_seconds: float | None) -> bool:
        """Whether the sides a request names (None: not named) are this window's."""
        return all(
            asked is None or abs(asked - kept) <= WINDOW_TOLERANCE_SECONDS
            for asked, kept in ((pre_seconds, self.pre_seconds), (post_seconds, self.post_seconds))
        )

    @classmethod
    def around(cls, event: Event, window_start: datetime, window_end: datetime) -> EventWindow:
        """The window of a clip stored with only its start and end (milliseconds kept)."""
        pre = round((event.timestamp - window_start).total_seconds(), 3)
        post = round((window_end - event.timestamp).total_seconds(), 3)
        return cls(max(0.0, pre), max(0.0, post))


@dataclass(frozen=True)
class GapSpan:
    """A stretch of a clip's window without footage, in UTC."""

    start: datetime
    end: datetime


@dataclass(frozen=True)
class ClipMeta:
    """Everything known about a stored clip; the store's copy is the source of truth."""

    event: Event
    window_start: datetime
    window_end: datetime
    fps: int
    width: int
    height: int
    duration: float
    size: int
    sha256: str
    created_at: datetime
    has_audio: bool = False
    gaps: tuple[GapSpan, ...] = field(default_factory=tuple)
    # The window asked for; None for a clip stored before windows were recorded, whose window
    # is then read from its start and end. Not compared: the start and end already tell it.
    chosen_window: EventWindow | None = field(default=None, compare=False)

    @property
    def event_window(self) -> EventWindow:
        """Seconds of the clip before and after its event."""
        if self.chosen_window is not None:
            return self.chosen_window
        return EventWindow.around(self.event, self.window_start, self.window_end)

    @property
    def event_id(self) -> str:
        """The event's id, which is also the clip's."""
        return self.event.id

    @property
    def resolution(self) -> str:
        """``WIDTHxHEIGHT``."""
        return f"{self.width}x{self.height}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary (the companion file's and the API's shape)."""
        return {
            "event_id": self.event.id,
            "camera_id": self.event.camera_id,
            "event_type": self.event.event_type,
            "timestamp": iso(self.event.timestamp),
            "window_start": iso(self.window_start),
            "window_end": iso(self.window_end),
            "pre_event_seconds": self.event_window.pre_seconds,
            "post_event_seconds": self.event_window.post_seconds,
            "fps": self.fps,
            "resolution": self.resolution,
            "width": self.width,
            "height": self.height,
            "duration_seconds": round(self.duration, 3),
            "size_bytes": self.size,
            "sha256": self.sha256,
            "has_audio": self.has_audio,
            "gaps": [{"start": iso(g.start), "end": iso(g.end)} for g in self.gaps],
            "created_at": iso(self.created_at),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClipMeta:
        """Inverse of :meth:`to_dict`; raises ``ValueError``/``KeyError`` on a malformed record."""
        event = Event(
            id=str(data["event_id"]),
            camera_id=str(data["camera_id"]),
            event_type=str(data["event_type"]),
            timestamp=parse_iso(str(data["timestamp"])),
        )
        sha = str(data["sha256"])
        pre, post = data.get("pre_event_seconds"), data.get("post_event_seconds")
        chosen = (
            EventWindow(float(pre), float(post)) if pre is not None and post is not None else None
        )
        if not re.fullmatch(r"[0-9a-f]{64}", sha):
            raise ValueError("sha256 must be 64 lower-case hex digits")
        return cls(
            event=event,
            window_start=parse_iso(str(data["window_start"])),
            window_end=parse_iso(str(data["window_end"])),
            fps=int(data["fps"]),
            width=int(data["width"]),
            height=int(data["height"]),
            duration=float(data["duration_seconds"]),
            size=int(data["size_bytes"]),
            sha256=sha,
            created_at=parse_iso(str(data["created_at"])),
            has_audio=bool(data.get("has_audio", False)),
            gaps=tuple(
                GapSpan(parse_iso(str(g["start"])), parse_iso(str(g["end"])))
                for g in data.get("gaps", [])
            ),
            chosen_window=chosen,
        )


@dataclass(frozen=True)
class ClipJob:
    """A clip being made for an event, or the record of one that finished or failed."""

    event: Event
    status: ClipStatus
    progress: float = 0.0
    error: str = ""
    updated_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    # The window its clip covers; None for a job accepted before windows were chosen per
    # event, which takes the configured one.
    window: EventWindow | None = None

    def moved(
        self, status: ClipStatus, *, progress: float | None = None, error: str = ""
    ) -> ClipJob:
        """This job in a new state."""
        return replace(
            self,
            status=status,
            progress=self.progress if progress is None else progress,
            error=error,
            updated_at=datetime.now(UTC),
        )
