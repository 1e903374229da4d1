"""Request and response bodies of the HTTP API, as the seed's service documents them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Annotated, Any, TypedDict

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from vms_desktop.domain.clip import (
    EVENT_TYPE_PATTERN,
    MAX_WINDOW_SIDE_SECONDS,
    ClipJob,
    ClipMeta,
    iso,
)
from vms_desktop.domain.ids import validate_camera_id, validate_event_id


def _ci(word: str) -> str:
    """A case-insensitive regex for a word, without inline flags (JSON Schema is ECMA-262)."""
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else c for c in word)


# The schema patterns say exactly what the validators accept, so a client (or a fuzzer) that
# follows the schema is never refused: no "..", no trailing ".", no Windows device name.
_DEVICE = (
    "(?:"
    + "|".join(
        [_ci(w) for w in ("con", "prn", "aux", "nul")]
        + [_ci("com") + "[1-9]", _ci("lpt") + "[1-9]"]
    )
    + ")"
)
EVENT_ID_SCHEMA_PATTERN = rf"^(?!{_DEVICE}(?:\.|$))[A-Za-z0-9][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)*$"
CAMERA_ID_SCHEMA_PATTERN = rf"^(?!{_DEVICE}$)[A-Za-z0-9][A-Za-z0-9_-]{{0,31}}$"

EventId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=128,
        # Documented for clients; enforced by validate_event_id (pydantic's regex engine has
        # no look-ahead).
        json_schema_extra={"pattern": EVENT_ID_SCHEMA_PATTERN},
        description="Event id: letters, digits, '.', '_' and '-', starting with a letter or "
        "digit, no '..'.",
        examples=["event-123"],
    ),
    AfterValidator(validate_event_id),
]
CameraId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=32,
        json_schema_extra={"pattern": CAMERA_ID_SCHEMA_PATTERN},
        description="Camera id as configured by CAMERA_{ID}_URL (case-insensitive).",
        examples=["cam01"],
    ),
    AfterValidator(validate_camera_id),
]
# Dates are bounded by the date as written (before any time zone is applied), so the schema
# patterns below say exactly what the validators accept: a client following the schema is
# never refused. With any offset (at most 23:59), a written date inside these bounds is a
# moment UTC can hold; the event bound also keeps every event after the Unix epoch (no
# footage is older, and platforms disagree on earlier times).
FIRST_DATE = date(1, 1, 2)
LAST_DATE = date(9999, 12, 30)
FIRST_EVENT_DATE = date(1970, 1, 2)
_DATE_SCHEMA_PATTERN = r"^(?!0000-|0001-01-01|9999-12-31)[0-9]{4}-"
_EVENT_DATE_SCHEMA_PATTERN = (
    r"^(?:1970-(?!01-01)|197[1-9]-|19[89][0-9]-|[2-8][0-9]{3}-|9[0-8][0-9]{2}-|99[0-8][0-9]-"
    r"|999[0-8]-|9999-(?!12-31))"
)


def _within(first: date, last: date) -> Callable[[datetime], datetime]:
    def check(moment: datetime) -> datetime:
        if not first <= moment.date() <= last:
            raise ValueError(
                f"is outside the dates this service handles; allowed: {first.isoformat()} to "
                f"{last.isoformat()}, with a time zone"
            )
        return moment.astimezone(UTC)

    return check


UtcDatetime = Annotated[
    AwareDatetime,
    Field(json_schema_extra={"pattern": _DATE_SCHEMA_PATTERN}),
    AfterValidator(_within(FIRST_DATE, LAST_DATE)),
]
"""A date and time with a time zone, written between 0001-01-02 and 9999-12-30 (filters)."""

EventTime = Annotated[
    AwareDatetime,
    Field(json_schema_extra={"pattern": _EVENT_DATE_SCHEMA_PATTERN}),
    AfterValidator(_within(FIRST_EVENT_DATE, LAST_DATE)),
]
"""An event's moment: with a time zone, written between 1970-01-02 and 9999-12-30."""

EventType = Annotated[
    str,
    Field(min_length=1, max_length=64, pattern=EVENT_TYPE_PATTERN, examples=["detection"]),
]


class EventIn(BaseModel):
    """An event from a detector."""

    model_config = ConfigDict(extra="forbid")

    id: EventId
    camera_id: CameraId
    event_type: EventType
    timestamp: EventTime = Field(
        description="When it happened, with a time zone (UTC recommended), e.g. "
        "2025-05-31T10:30:00Z.",
        examples=["2025-05-31T10:30:00Z"],
    )


WindowSeconds = Annotated[
    float,
    Field(ge=0, le=MAX_WINDOW_SIDE_SECONDS, strict=True, allow_inf_nan=False, examples=[5.0]),
]


class GenerateRequest(BaseModel):
    """Body of ``POST /clips/generate``."""

    model_config = ConfigDict(extra="forbid")

    event: EventIn
    pre_event_seconds: WindowSeconds | None = Field(
        default=None,
        description="Seconds of footage before the event (default PRE_EVENT_BUFFER_SECONDS); "
        "at most what the buffer keeps less its 30 s margin for late events.",
    )
    post_event_seconds: WindowSeconds | None = Field(
        default=None,
        description="Seconds of footage after the event (default POST_EVENT_BUFFER_SECONDS). "
        "The whole clip is above 0 and at most 7200 seconds.",
    )


class GapOut(BaseModel):
    """A stretch of the clip's window with no footage (shown black in the clip)."""

    start: str
    end: str


class ClipOut(BaseModel):
    """A stored clip's metadata."""

    event_id: str
    camera_id: str
    event_type: str
    timestamp: str
    window_start: str
    window_end: str
    pre_event_seconds: float
    post_event_seconds: float
    fps: int
    resolution: str
    width: int
    height: int
    duration_seconds: float
    size_bytes: int
    sha256: str
    has_audio: bool
    gaps: list[GapOut]
    created_at: str

    @classmethod
    def of(cls, meta: ClipMeta) -> ClipOut:
        """The API view of a clip."""
        return cls.model_validate(meta.to_dict())


class JobOut(BaseModel):
    """A clip job's state; ``clip`` is set once it is ready."""

    event_id: str
    camera_id: str
    event_type: str
    timestamp: str
    status: str = Field(
        description="pending, recording, encoding, uploading, ready or failed",
        examples=["recording"],
    )
    progress: float = Field(ge=0, le=1)
    pre_event_seconds: float | None = None
    post_event_seconds: float | None = None
    error: str | None = None
    status_url: str
    clip: ClipOut | None = None

    @classmethod
    def of(cls, job: ClipJob, meta: ClipMeta | None = None) -> JobOut:
        """The API view of a job."""
        return cls(
            event_id=job.event.id,
            camera_id=job.event.camera_id,
            event_type=job.event.event_type,
            timestamp=iso(job.event.timestamp),
            status=job.status.value,
            progress=round(job.progress, 3),
            pre_event_seconds=job.window.pre_seconds if job.window is not None else None,
            post_event_seconds=job.window.post_seconds if job.window is not None else None,
            error=job.error or None,
            status_url=f"/clips/{job.event.id}",
            clip=ClipOut.of(meta) if meta is not None else None,
        )


class PageFields(TypedDict):
    """The paging fields every list answer carries."""

    total: int
    limit: int
    offset: int
    next_offset: int | None


def page_fields(total: int, limit: int, offset: int, shown: int) -> PageFields:
    """The paging fields of a list answer; ``next_offset`` is None on the last page."""
    following = offset + shown
    return PageFields(
        total=total,
        limit=limit,
        offset=offset,
        next_offset=following if following < total else None,
    )


class ClipListOut(BaseModel):
    """A page of clips."""

    clips: list[ClipOut]
    total: int
    limit: int
    offset: int
    next_offset: int | None


class UrlOut(BaseModel):
    """A time-limited URL for a clip's bytes."""

    event_id: str
    url: str
    expires_at: str
    expiry_minutes: int


class TimeRangeOut(BaseModel):
    """A stretch of time: recorded footage, or a gap with none."""

    start: str
    end: str
    duration_seconds: float


class RecordingsOut(BaseModel):
    """What a camera recorded over a window: continuous ranges and the gaps between them."""

    camera_id: str
    start: str
    end: str
    until: str = Field(
        description="The moment of the answer, or the window's end if earlier: later parts of "
        "the window are neither recorded nor gaps yet."
    )
    recorded_seconds: float
    ranges: list[TimeRangeOut] = Field(
        description="Continuous footage, one range per recording run, oldest first."
    )
    gaps: list[TimeRangeOut] = Field(description="Parts of the window up to until with no footage.")


class ArchiveUrlOut(BaseModel):
    """A signed, time-limited playlist URL that players open with no header."""

    camera_id: str
    url: str
    expires_at: str
    expiry_minutes: int


class CleanupOut(BaseModel):
    """What a cleanup deleted."""

    deleted: int
    event_ids: list[str]
    cutoff: str


class DeletedOut(BaseModel):
    """Result of a delete."""

    event_id: str
    deleted: bool


class ErrorOut(BaseModel):
    """An error: ``detail`` says what was wrong."""

    detail: Any


# Answers any route may give (the request guard's and the error translation's).
COMMON_ERROR_STATUSES = (400, 401, 403, 413, 415, 422, 429, 503)
