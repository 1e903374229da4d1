"""Bookmarks: a note on a camera's moment or stretch, which may keep its footage."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from vms_desktop.domain.clip import InvalidEventError, utc
from vms_desktop.domain.clip_query import check_listing
from vms_desktop.domain.ids import validate_camera_id

# A note is a short label, shown as a tooltip and in listings; longer text belongs elsewhere.
MAX_NOTE_LENGTH = 500
BOOKMARK_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
_BOOKMARK_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


class InvalidBookmarkError(ValueError):
    """A bookmark field is malformed; the message names the field."""


def new_bookmark_id() -> str:
    """A fresh, unguessable id made of URL-safe characters only."""
    return secrets.token_urlsafe(12)


def is_valid_bookmark_id(value: object) -> bool:
    """Whether ``value`` could be a bookmark id (1-64 letters, digits, '_' or '-')."""
    return isinstance(value, str) and _BOOKMARK_ID.fullmatch(value) is not None


def validate_note(note: str) -> str:
    """The note, if it is printable text of at most :data:`MAX_NOTE_LENGTH` characters."""
    if not isinstance(note, str):
        raise InvalidBookmarkError("note must be text")
    if len(note) > MAX_NOTE_LENGTH:
        raise InvalidBookmarkError(f"note must be at most {MAX_NOTE_LENGTH} characters")
    if not note.isprintable():
        raise InvalidBookmarkError("note must be printable text on one line")
    return note


def _aware(name: str, moment: datetime) -> datetime:
    try:
        return utc(moment)
    except (InvalidEventError, AttributeError, TypeError):
        raise InvalidBookmarkError(f"{name} needs a time zone") from None


@dataclass(frozen=True)
class Bookmark:
    """A moment (or stretch, up to ``end``) of one camera, with a note.

    A protected bookmark keeps the camera's footage around it in the buffer until it is deleted.
    """

    id: str
    camera_id: str
    timestamp: datetime
    end: datetime | None = None
    note: str = ""
    protect: bool = False
    created_at: datetime = datetime(1970, 1, 1, tzinfo=UTC)

    def __post_init__(self) -> None:
        if not is_valid_bookmark_id(self.id):
            raise InvalidBookmarkError(f"id must match {BOOKMARK_ID_PATTERN}")
        object.__setattr__(self, "camera_id", validate_camera_id(self.camera_id))
        object.__setattr__(self, "timestamp", _aware("timestamp", self.timestamp))
        if self.end is not None:
            end = _aware("end", self.end)
            if end < self.timestamp:
                raise InvalidBookmarkError("end must not be before timestamp")
            object.__setattr__(self, "end", end)
        validate_note(self.note)
        object.__setattr__(self, "protect", bool(self.protect))
        object.__setattr__(self, "created_at", _aware("created_at", self.created_at))

    @classmethod
    def create(
        cls,
        camera_id: str,
        timestamp: datetime,
        *,
        end: datetime | None = None,
        note: str = "",
        protect: bool = False,
        now: datetime | None = None,
    ) -> Bookmark:
        """A new bookmark with a fresh id, made ``now`` (the system time by default)."""
        return cls(
            new_bookmark_id(),
            camera_id,
            timestamp,
            end,
            note,
            protect,
            now if now is not None else datetime.now(UTC),
        )

    @property
    def last(self) -> datetime:
        """The end of the bookmarked stretch (its moment when it has no end)."""
        return self.end if self.end is not None else self.timestamp


@dataclass(frozen=True)
class BookmarkQuery:
    """A page of the bookmark listing, newest first: the filters of a clip listing.

    ``start`` (inclusive) and ``end`` (exclusive) bound the bookmark's moment, to the
    millisecond as clip listings do, and must be timezone-aware.
    """

    camera_id: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    limit: int = 50
    offset: int = 0

    def __post_init__(self) -> None:
        check_listing(self.start, self.end, self.limit, self.offset)


@dataclass(frozen=True)
class BookmarkPage:
    """One page of a bookmark listing, and how many bookmarks match in all."""

    items: list[Bookmark]
    total: int
    limit: int
    offset: int
