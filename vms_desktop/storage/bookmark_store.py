"""Durable record of bookmarks (SQLite), so notes and the footage they protect survive a restart."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

from vms_desktop.domain.bookmark import Bookmark, BookmarkPage, BookmarkQuery
from vms_desktop.domain.clip_query import normal_camera_id, to_ms
from vms_desktop.storage.durable_db import open_durable

_SCHEMA = """
CREATE TABLE IF NOT EXISTS bookmarks (
    id TEXT PRIMARY KEY,
    camera_id TEXT NOT NULL,
    ts_us INTEGER NOT NULL,
    end_us INTEGER,
    note TEXT NOT NULL DEFAULT '',
    protect INTEGER NOT NULL DEFAULT 0,
    created_us INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS bookmarks_time ON bookmarks (ts_us, id);
CREATE INDEX IF NOT EXISTS bookmarks_camera_time ON bookmarks (camera_id, ts_us, id);
CREATE INDEX IF NOT EXISTS bookmarks_protected ON bookmarks (protect) WHERE protect = 1;
"""

_COLUMNS = "id, camera_id, ts_us, end_us, note, protect, created_us"

_Row = tuple[str, str, int, int | None, str, int, int]


def _us(moment: datetime) -> int:
    return round(moment.timestamp() * 1_000_000)


def _moment(us: int) -> datetime:
    return datetime.fromtimestamp(us / 1_000_000, tz=UTC)


class BookmarkStore:
    """Bookmarks by id; every write is one SQLite statement, so it is whole or absent.

    One connection guarded by a lock: writes are tiny and SQLite serialises writers anyway.
    """

    def __init__(self, path: Path) -> None:
        self._db = open_durable(path, _SCHEMA)
        self._lock = threading.Lock()

    def add(self, bookmark: Bookmark) -> None:
        """Record a new bookmark (its id is fresh, so an existing one is an error)."""
        with self._lock:
            self._db.execute(
                f"INSERT INTO bookmarks ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    bookmark.id,
                    bookmark.camera_id,
                    _us(bookmark.timestamp),
                    _us(bookmark.end) if bookmark.end is not None else None,
                    bookmark.note,
                    int(bookmark.protect),
                    _us(bookmark.created_at),
                ),
            )

    def get(self, bookmark_id: str) -> Bookmark | None:
        """The bookmark with that id, or None."""
        with self._lock:
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM bookmarks WHERE id = ?", (bookmark_id,)
            ).fetchone()
        return _bookmark(row) if row else None

    def delete(self, bookmark_id: str) -> Bookmark | None:
        """Forget a bookmark; returns it as it was, or None when there was none."""
        with self._lock:
            # One transaction (not DELETE ... RETURNING, which SQLite before 3.35 lacks).
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute(
                    f"SELECT {_COLUMNS} FROM bookmarks WHERE id = ?", (bookmark_id,)
                ).fetchone()
                if row is not None:
                    self._db.execute("DELETE FROM bookmarks WHERE id = ?", (bookmark_id,))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return _bookmark(row) if row else None

    def page(self, query: BookmarkQuery) -> BookmarkPage:
        """A page of the bookmarks ``query`` selects, newest first, and their total."""
        where: list[str] = []
        args: list[object] = []
        if query.camera_id is not None:
            where.append("camera_id = ?")
            args.append(normal_camera_id(query.camera_id))
        # Compared to the millisecond, as clip listings are: ms >= start <=> us >= start*1000.
        if query.start is not None:
            where.append("ts_us >= ?")
            args.append(to_ms(query.start) * 1000)
        if query.end is not None:
            where.append("ts_us < ?")
            args.append(to_ms(query.end) * 1000)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        with self._lock:
            (total,) = self._db.execute(f"SELECT COUNT(*) FROM bookmarks {clause}", args).fetchone()
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM bookmarks {clause} "
                "ORDER BY ts_us DESC, id DESC LIMIT ? OFFSET ?",
                [*args, query.limit, query.offset],
            ).fetchall()
        return BookmarkPage([_bookmark(row) for row in rows], int(total), query.limit, query.offset)

    def protected_spans(self) -> dict[str, list[tuple[str, datetime, datetime]]]:
        """Per camera, each protected bookmark's id and stretch (moment to end), oldest first."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM bookmarks WHERE protect = 1 ORDER BY ts_us, id"
            ).fetchall()
        spans: dict[str, list[tuple[str, datetime, datetime]]] = {}
        for row in rows:
            bookmark = _bookmark(row)
            spans.setdefault(bookmark.camera_id, []).append(
                (bookmark.id, bookmark.timestamp, bookmark.last)
            )
        return spans

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()


def _bookmark(row: _Row) -> Bookmark:
    bookmark_id, camera_id, ts_us, end_us, note, protect, created_us = row
    return Bookmark(
        id=bookmark_id,
        camera_id=camera_id,
        timestamp=_moment(ts_us),
        end=_moment(end_us) if end_us is not None else None,
        note=note,
        protect=bool(protect),
        created_at=_moment(created_us),
    )
