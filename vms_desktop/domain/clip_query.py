"""What a clip listing asks for (filters, order, page), the rule a listed clip meets, and the
changes that move a listing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from vms_desktop.domain.clip import ClipMeta, utc
from vms_desktop.domain.ids import is_valid_camera_id, validate_camera_id

# No searchable field is longer (an event id is at most this long; camera ids and types are
# shorter), so a longer search text matches nothing.
LONGEST_SEARCH = 128

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def to_ms(moment: datetime) -> int:
    """Milliseconds since the Unix epoch for an aware datetime (exact integer arithmetic)."""
    return (utc(moment) - _EPOCH) // _ONE_MS


def ascii_lower(text: str) -> str:
    """Fold ASCII letters only, as SQLite's LIKE does (``str.lower`` would fold other scripts)."""
    return text.translate(_ASCII_LOWER)


def normal_camera_id(camera_id: str) -> str:
    """A camera id as the catalogue stores it; an invalid one is kept (it matches nothing)."""
    return validate_camera_id(camera_id) if is_valid_camera_id(camera_id) else camera_id


def searchable_text(text: str | None) -> bool:
    """Whether ``text`` can match any field at all (printable, no longer than the longest)."""
    return text is None or (len(text) <= LONGEST_SEARCH and text.isprintable())


def matches_text(meta: ClipMeta, text: str) -> bool:
    """The text rule: a substring of the event id, camera id or event type, ASCII case-blind."""
    if not searchable_text(text):
        return False
    needle = ascii_lower(text)
    event = meta.event
    return any(
        needle in ascii_lower(part) for part in (event.id, event.camera_id, event.event_type)
    )


def check_listing(start: datetime | None, end: datetime | None, limit: int, offset: int) -> None:
    """Refuse what no listing can mean: naive time bounds, negative paging."""
    for name, moment in (("start", start), ("end", end)):
        if moment is not None and moment.utcoffset() is None:
            raise ValueError(f"{name} must be timezone-aware")
    if limit < 0 or offset < 0:
        raise ValueError("limit and offset must not be negative")


def listing_key(meta: ClipMeta) -> tuple[int, str]:
    """A clip's place in a listing: newest first is descending on this key."""
    return to_ms(meta.event.timestamp), meta.event_id


@dataclass(frozen=True)
class ClipQuery:
    """A page of the clip listing: every set filter must match.

    ``start`` (inclusive) and ``end`` (exclusive) bound the event time and must be timezone-aware;
    ``text`` matches a substring of the event id, camera id or event type (ASCII case-blind, taken
    literally). ``after`` starts the page just after that clip's place in the listing order (it
    need not exist any more), so pages read one after another neither skip nor repeat clips that
    come and go between them; ``offset`` then counts from there. A listing's total ignores
    ``after``, ``limit`` and ``offset``.
    """

    camera_id: str | None = None
    event_type: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    text: str | None = None
    limit: int = 50
    offset: int = 0
    newest_first: bool = True
    after: ClipMeta | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        check_listing(self.start, self.end, self.limit, self.offset)

    def matches(self, meta: ClipMeta) -> bool:
        """Whether the listing holds ``meta`` (the filters only; paging aside)."""
        event = meta.event
        if self.camera_id is not None and event.camera_id != normal_camera_id(self.camera_id):
            return False
        if self.event_type is not None and event.event_type != self.event_type:
            return False
        moment = to_ms(event.timestamp)
        if self.start is not None and moment < to_ms(self.start):
            return False
        if self.end is not None and moment >= to_ms(self.end):
            return False
        return not self.text or matches_text(meta, self.text)

    def comes_after(self, meta: ClipMeta, anchor: ClipMeta) -> bool:
        """Whether ``meta`` is listed after ``anchor`` in this query's order."""
        if self.newest_first:
            return listing_key(meta) < listing_key(anchor)
        return listing_key(meta) > listing_key(anchor)


@dataclass(frozen=True)
class ClipPage:
    """One page of a listing, and how many clips match in all."""

    items: list[ClipMeta]
    total: int
    limit: int
    offset: int


@dataclass(frozen=True)
class CatalogueChange:
    """What one committed write changed in the catalogue.

    ``added`` and ``updated`` hold the rows as now stored; ``removed`` holds the rows as they
    were before they went, so a listener can tell where they were listed without asking.
    """

    added: tuple[ClipMeta, ...] = ()
    updated: tuple[ClipMeta, ...] = ()
    removed: tuple[ClipMeta, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.added or self.updated or self.removed)
