"""Bookmarks over the running engine: recorded durably, and keeping the footage they protect."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import datetime

from vms_desktop.domain.bookmark import Bookmark, BookmarkPage, BookmarkQuery
from vms_desktop.domain.errors import BookmarkNotFoundError, UnknownCameraError
from vms_desktop.domain.ids import validate_camera_id
from vms_desktop.engine.segment_buffer import SegmentBuffer
from vms_desktop.storage.bookmark_store import BookmarkStore


class BookmarkService:
    """Adds, lists and deletes bookmarks; a protected one holds its camera's footage.

    The footage held is the bookmarked stretch widened by ``before`` and ``after`` seconds
    (the clip window around a moment), so a clip of the bookmarked moment can still be made.
    Protection lives in each camera's buffer (:meth:`SegmentBuffer.protect`), which both the
    retention pruning and the free-space guard respect; at start the buffers are made with
    :func:`stored_protection` already, as loading a buffer prunes it.
    """

    def __init__(
        self,
        store: BookmarkStore,
        buffers: Mapping[str, SegmentBuffer],
        *,
        before: float = 0.0,
        after: float = 0.0,
    ) -> None:
        self.store = store
        self.buffers = buffers
        self.before = max(0.0, before)
        self.after = max(0.0, after)
        # Add and delete each pair a store write with a buffer change; one at a time, so a
        # delete racing an add cannot leave footage protected by a bookmark that is gone.
        self._lock = threading.Lock()

    def add(
        self,
        camera_id: str,
        timestamp: datetime,
        *,
        end: datetime | None = None,
        note: str = "",
        protect: bool = False,
    ) -> Bookmark:
        """Record a new bookmark (raises :class:`UnknownCameraError` for a camera not
        configured, ``InvalidBookmarkError`` for a malformed field).
        """
        buffer = self.buffers.get(validate_camera_id(camera_id))
        if buffer is None:
            raise UnknownCameraError(camera_id)
        bookmark = Bookmark.create(camera_id, timestamp, end=end, note=note, protect=protect)
        with self._lock:
            self.store.add(bookmark)
            if bookmark.protect:
                self._protect(buffer, bookmark.id, bookmark.timestamp, bookmark.last)
        return bookmark

    def get(self, bookmark_id: str) -> Bookmark:
        """The bookmark with that id (raises :class:`BookmarkNotFoundError`)."""
        bookmark = self.store.get(bookmark_id)
        if bookmark is None:
            raise BookmarkNotFoundError(bookmark_id)
        return bookmark

    def bookmarks(self, query: BookmarkQuery) -> BookmarkPage:
        """A page of bookmarks, newest first."""
        return self.store.page(query)

    def delete(self, bookmark_id: str) -> Bookmark:
        """Delete a bookmark and release its footage (raises :class:`BookmarkNotFoundError`)."""
        with self._lock:
            bookmark = self.store.delete(bookmark_id)
            if bookmark is None:
                raise BookmarkNotFoundError(bookmark_id)
            buffer = self.buffers.get(bookmark.camera_id)
            if buffer is not None:
                buffer.release(_key(bookmark.id))
        return bookmark

    def _protect(
        self, buffer: SegmentBuffer, bookmark_id: str, start: datetime, end: datetime
    ) -> None:
        buffer.protect(_key(bookmark_id), *_span(start, end, self.before, self.after))


def stored_protection(
    store: BookmarkStore, *, before: float = 0.0, after: float = 0.0
) -> dict[str, dict[str, tuple[float, float]]]:
    """The spans each camera's buffer must keep for the stored protected bookmarks (UTC
    seconds, by key), widened as :class:`BookmarkService` widens them.
    """
    return {
        camera_id: {
            _key(bookmark_id): _span(start, end, max(0.0, before), max(0.0, after))
            for bookmark_id, start, end in spans
        }
        for camera_id, spans in store.protected_spans().items()
    }


def _span(start: datetime, end: datetime, before: float, after: float) -> tuple[float, float]:
    return start.timestamp() - before, end.timestamp() + after


def _key(bookmark_id: str) -> str:
    """The key a bookmark's span is protected under (other holders use other prefixes)."""
    return f"bookmark:{bookmark_id}"
