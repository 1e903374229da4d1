"""The clip library: a lazily paged, filtered catalogue table with thumbnails and clip actions."""

from __future__ import annotations

import contextlib
import enum
import hashlib
import itertools
import logging
import os
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from PySide6.QtCore import (
    QAbstractTableModel,
    QDateTime,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QRect,
    QSize,
    QSortFilterProxyModel,
    Qt,
    QThreadPool,
    QTimer,
    QUrl,
    Signal,
    Slot,
)
from PySide6.QtGui import QAction, QDesktopServices, QGuiApplication, QImage, QKeySequence, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QCheckBox,
    QComboBox,
    QDateTimeEdit,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QSpinBox,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from vms_desktop.domain.clip import ClipMeta
from vms_desktop.domain.ids import is_valid_camera_id, validate_camera_id
from vms_desktop.engine.clip_service import ClipNotFoundError, ClipService
from vms_desktop.engine.thumbnails import ThumbnailError, ThumbnailMaker
from vms_desktop.storage.atomic import commit_temp, create_temp, reason
from vms_desktop.storage.base import MAX_URL_EXPIRY, ClipUrl, StoreError
from vms_desktop.storage.clip_index import to_ms
from vms_desktop.storage.local_store import LocalClipStore

log = logging.getLogger(__name__)

_T = TypeVar("_T")
_ModelIndex = QModelIndex | QPersistentModelIndex

ClipRole = int(Qt.ItemDataRole.UserRole) + 1
"""The row's :class:`ClipMeta` (any column)."""
ThumbnailRole = int(Qt.ItemDataRole.UserRole) + 2
"""The row's thumbnail ``QImage`` once made, else None (asking for it starts making it)."""
ThumbnailStateRole = int(Qt.ItemDataRole.UserRole) + 3
"""A :class:`ThumbnailState` saying why there is no thumbnail yet."""
SortRole = int(Qt.ItemDataRole.UserRole) + 4
"""A plain number or string the proxy sorts the column by."""

DEFAULT_PAGE_SIZE = 200
# Longer than any playback session is likely to be: a remote player keeps re-reading the URL.
SOURCE_URL_EXPIRY = timedelta(hours=2)
# Thumbnails kept in memory (about 57 KB each at 160x120); the disk cache holds the rest.
_THUMBNAIL_MEMORY = 600
# Thumbnails asked for but not started: only the newest requests matter while scrolling fast.
_THUMBNAIL_BACKLOG = 64
_THUMBNAIL_THREADS = 2
_ACTION_THREADS = 2
_TEXT_DEBOUNCE_MS = 300
_LONGEST_SEARCH = 128  # the catalogue matches nothing longer (no field is longer)
_COPY_CHUNK = 1 << 20


class ClipColumn(enum.IntEnum):
    """The library table's columns."""

    TIME = 0
    CAMERA = 1
    EVENT_TYPE = 2
    DURATION = 3
    SIZE = 4
    AUDIO = 5
    GAPS = 6
    STATUS = 7


_HEADERS = {
    ClipColumn.TIME: "Time",
    ClipColumn.CAMERA: "Camera",
    ClipColumn.EVENT_TYPE: "Event",
    ClipColumn.DURATION: "Duration",
    ClipColumn.SIZE: "Size",
    ClipColumn.AUDIO: "Audio",
    ClipColumn.GAPS: "Gaps",
    ClipColumn.STATUS: "Status",
}
_NUMERIC = frozenset({ClipColumn.DURATION, ClipColumn.SIZE, ClipColumn.GAPS})
_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
_LEFT = int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)


class ThumbnailState(enum.StrEnum):
    """Where a row's thumbnail is."""

    UNAVAILABLE = "unavailable"  # the model has no thumbnail maker
    PENDING = "pending"
    READY = "ready"
    FAILED = "failed"


@dataclass(frozen=True)
class ClipFilter:
    """What the catalogue is asked for: every set field must match (the catalogue filters)."""

    camera_id: str | None = None
    event_type: str | None = None
    start: datetime | None = None  # inclusive, timezone-aware
    end: datetime | None = None  # exclusive, timezone-aware
    text: str | None = None

    def matches(self, meta: ClipMeta) -> bool:
        """Whether the catalogue would list ``meta`` under this filter."""
        event = meta.event
        if self.camera_id is not None and event.camera_id != _normal_camera(self.camera_id):
            return False
        if self.event_type is not None and event.event_type != self.event_type:
            return False
        moment = to_ms(event.timestamp)
        if self.start is not None and moment < to_ms(self.start):
            return False
        if self.end is not None and moment >= to_ms(self.end):
            return False
        return not self.text or matches_text(meta, self.text)


def matches_text(meta: ClipMeta, text: str) -> bool:
    """The catalogue's text match: a substring of event id, camera or type, ASCII case-blind."""
    if len(text) > _LONGEST_SEARCH or not text.isprintable():
        return False
    needle = _ascii_lower(text)
    event = meta.event
    return any(
        needle in _ascii_lower(field) for field in (event.id, event.camera_id, event.event_type)
    )


def _ascii_lower(text: str) -> str:
    # SQLite's LIKE folds ASCII letters only; str.lower would also fold other scripts.
    return text.translate(_ASCII_LOWER)


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _normal_camera(camera_id: str) -> str:
    return validate_camera_id(camera_id) if is_valid_camera_id(camera_id) else camera_id


def _order_key(meta: ClipMeta) -> tuple[int, str]:
    """The catalogue's listing order (newest first = descending on this key)."""
    return to_ms(meta.event.timestamp), meta.event_id


def clip_source(service: ClipService, event_id: str) -> str:
    """What a decoder opens for a stored clip: the local file, or a time-limited URL."""
    store = service.store
    if isinstance(store, LocalClipStore):
        path = store.path_of(event_id)
        if path is None:
            raise ClipNotFoundError(event_id)
        return str(path)
    return service.url(event_id, SOURCE_URL_EXPIRY).url


class SaveCopyError(Exception):
    """The copy could not be written where the operator chose; the message says why."""


def save_clip_copy(service: ClipService, meta: ClipMeta, destination: Path) -> bool:
    """Copy a stored clip to ``destination`` atomically; returns whether its SHA-256 matched.

    The copy is written to a temp file beside ``destination`` and renamed, so an interrupted
    copy never leaves a truncated video under the chosen name. Reading the clip raises what
    the store raises; writing raises :class:`SaveCopyError`.
    """
    digest = hashlib.sha256()
    with contextlib.closing(service.store.open(meta.event_id)) as reader:
        try:
            fd, temp = create_temp(destination)
        except OSError as exc:
            raise SaveCopyError(f"the copy could not be written: {reason(exc)}") from None
        try:
            with os.fdopen(fd, "wb") as writer:
                while chunk := reader.read(_COPY_CHUNK):
                    digest.update(chunk)
                    writer.write(chunk)
                writer.flush()
                os.fsync(writer.fileno())
            commit_temp(temp, destination)
        except BaseException as exc:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            if isinstance(exc, OSError):
                raise SaveCopyError(f"the copy could not be written: {reason(exc)}") from None
            raise
    return digest.hexdigest() == meta.sha256


def describe_error(exc: BaseException) -> str:
    """A sentence an operator can read for a failed clip action (never a traceback)."""
    if isinstance(exc, ClipNotFoundError):
        return "The clip no longer exists."
    if isinstance(exc, StoreError | ThumbnailError | SaveCopyError):
        return _sentence(str(exc))  # these messages are written to be shown
    if isinstance(exc, FileNotFoundError):
        return "The clip's file is missing."
    if isinstance(exc, OSError):
        return _sentence(reason(exc))
    if isinstance(exc, ValueError):
        return _sentence(str(exc))
    log.error("clip library action failed", exc_info=exc)
    return "Unexpected error; the details are in the log."


def _sentence(text: str) -> str:
    text = text.strip() or "unknown error"
    return text[0].upper() + text[1:] + ("" if text.endswith(".") else ".")


def _to_qimage(array: Any) -> QImage:
    height, width = int(array.shape[0]), int(array.shape[1])
    data = array.tobytes()
    # copy() detaches the image from ``data``, which Python frees when this returns.
    return QImage(data, width, height, 3 * width, QImage.Format.Format_RGB888).copy()


def _human_size(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"


def _local_time(moment: datetime) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _gap_seconds(meta: ClipMeta) -> float:
    return sum((gap.end - gap.start).total_seconds() for gap in meta.gaps)


class _BackgroundTasks(QObject):
    """Runs callables on a private thread pool and hands each outcome back to the GUI thread.

    Callbacks are kept here, on the GUI thread, by token: the worker sends only the token and
    the outcome through a queued signal, so no callback ever runs on a pool thread.
    """

    _finished = Signal(int, object, object)  # token, result, exception

    def __init__(self, threads: int, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(threads)
        self._tokens = itertools.count(1)
        self._callbacks: dict[int, tuple[Callable[[Any], None], Callable[[Exception], None]]] = {}
        self._closed = False
        self._finished.connect(self._on_finished, Qt.ConnectionType.QueuedConnection)

    @property
    def busy(self) -> int:
        """Tasks submitted whose outcome has not been handed back yet."""
        return len(self._callbacks)

    def submit(
        self,
        work: Callable[[], _T],
        done: Callable[[_T], None],
        failed: Callable[[Exception], None],
    ) -> None:
        """Run ``work`` on the pool; then ``done(result)`` or ``failed(exc)`` on this thread."""
        if self._closed:
            return
        token = next(self._tokens)
        self._callbacks[token] = (done, failed)
        emit = self._finished.emit

        def run() -> None:
            result: Any = None
            error: Exception | None = None
            try:
                result = work()
            except Exception as exc:
                error = exc
            # The panel may have been destroyed meanwhile; then nobody wants the outcome.
            with contextlib.suppress(RuntimeError):
                emit(token, result, error)

        self._pool.start(run)

    def close(self) -> None:
        """Drop queued tasks and wait for running ones; later outcomes are ignored."""
        self._closed = True
        self._pool.clear()
        self._pool.waitForDone()
        self._callbacks.clear()

    @Slot(int, object, object)
    def _on_finished(self, token: int, result: Any, error: Exception | None) -> None:
        callbacks = self._callbacks.pop(token, None)
        if callbacks is None:
            return
        done, failed = callbacks
        if error is None:
            done(result)
        else:
            failed(error)


class ClipTableModel(QAbstractTableModel):
    """Stored clips, newest first, fetched page by page from the catalogue as the view scrolls.

    Filters are applied by the catalogue (SQLite), so only the rows the operator scrolls to are
    ever loaded, whatever the size of the catalogue. Thumbnails are made off the GUI thread on
    first request; the row's first column changes when one arrives.
    """

    total_changed = Signal(int)
    """How many clips match the filter in the whole catalogue."""
    load_failed = Signal(str)
    """The catalogue could not be read; a readable reason."""

    def __init__(
        self,
        service: ClipService,
        thumbnails: ThumbnailMaker | None = None,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self._service = service
        self._thumbnails = thumbnails
        self._page_size = page_size
        self._filter = ClipFilter()
        self._rows: list[ClipMeta] = []
        self._row_of: dict[str, int] = {}
        self._total = 0
        self._offset = 0  # catalogue rows consumed, so the next page starts after them
        self._exhausted = False
        self._fetching = False
        self._pump_queued = False
        self._status: dict[str, str] = {}
        self._images: OrderedDict[str, QImage] = OrderedDict()
        self._wanted: OrderedDict[str, ClipMeta] = OrderedDict()
        self._making: set[str] = set()
        self._failed: set[str] = set()
        self._seen_cameras: set[str] = set()
        self._seen_types: set[str] = set()
        self._tasks = _BackgroundTasks(_THUMBNAIL_THREADS, self)

    # ---- public API ------------------------------------------------------------------------

    @property
    def service(self) -> ClipService:
        """The clip service the rows come from."""
        return self._service

    @property
    def clip_filter(self) -> ClipFilter:
        """The filter the catalogue applies."""
        return self._filter

    @property
    def total(self) -> int:
        """Clips matching the filter in the whole catalogue (not just the loaded rows)."""
        return self._total

    @property
    def page_size(self) -> int:
        """Rows fetched per page."""
        return self._page_size

    @property
    def seen_cameras(self) -> frozenset[str]:
        """Camera ids of the rows loaded so far."""
        return frozenset(self._seen_cameras)

    @property
    def seen_event_types(self) -> frozenset[str]:
        """Event types of the rows loaded so far."""
        return frozenset(self._seen_types)

    def set_filter(self, clip_filter: ClipFilter) -> None:
        """Ask the catalogue again with ``clip_filter``; the first page replaces every row."""
        self._filter = clip_filter
        self.refresh()

    def refresh(self) -> None:
        """Drop the loaded rows and load the first page again (failed thumbnails are retried)."""
        self._wanted.clear()
        self._failed.clear()
        error: StoreError | None = None
        try:
            page = self._service.clips(**self._query(0))
        except StoreError as exc:
            error, page = exc, None
        # Listeners of the reset (views, proxies, testers) may ask for more rows from inside
        # it; the flag makes them wait until the reset is over, as Qt requires.
        self._fetching = True
        try:
            self.beginResetModel()
            self._set_rows(list(page.items) if page is not None else [])
            self._total = page.total if page is not None else 0
            self._offset = len(self._rows)
            self._exhausted = page is None or not page.items
            self.endResetModel()
        finally:
            self._fetching = False
        self.total_changed.emit(self._total)
        if error is not None:
            self.load_failed.emit(describe_error(error))

    def clip_at(self, row: int) -> ClipMeta:
        """The clip in ``row`` (an ``IndexError`` outside the loaded rows)."""
        return self._rows[row]

    def row_of(self, event_id: str) -> int | None:
        """The row holding that clip, if it is loaded."""
        return self._row_of.get(event_id)

    def on_clip_stored(self, event_id: str) -> None:
        """A clip was stored or changed: show it where the catalogue would list it."""
        try:
            meta = self._service.get(event_id)
        except StoreError as exc:
            self.load_failed.emit(describe_error(exc))
            return
        if meta is None:
            self.remove_clip(event_id)
        else:
            self.upsert_clip(meta)

    def upsert_clip(self, meta: ClipMeta) -> None:
        """Insert ``meta`` at its place in the listing, or update its row in place."""
        row = self._row_of.get(meta.event_id)
        if row is not None:
            if not self._filter.matches(meta):
                self.remove_clip(meta.event_id)
                return
            old = self._rows[row]
            if _order_key(old) != _order_key(meta):
                self.remove_clip(meta.event_id)
                self.upsert_clip(meta)
                return
            self._rows[row] = meta
            if old.sha256 != meta.sha256:
                self._forget_thumbnail(meta.event_id)
                self._status.pop(meta.event_id, None)
            self._note_seen(meta)
            self.dataChanged.emit(self.index(row, 0), self.index(row, len(ClipColumn) - 1))
            return
        if not self._filter.matches(meta):
            return
        key = _order_key(meta)
        position = self._position(key)
        self._total += 1
        # A clip older than every loaded row, with more rows still in the catalogue, arrives
        # with a later page; inserting it now would show it twice.
        if position < len(self._rows) or not self._more_in_catalogue():
            self.beginInsertRows(QModelIndex(), position, position)
            self._rows.insert(position, meta)
            self._reindex(position)
            self._offset += 1  # it shifted the catalogue's listing by one
            self._note_seen(meta)
            self.endInsertRows()
        self.total_changed.emit(self._total)

    def remove_clip(self, event_id: str) -> bool:
        """Take a deleted clip out of the listing; False if it was not loaded."""
        self._forget_thumbnail(event_id)
        self._status.pop(event_id, None)
        row = self._row_of.get(event_id)
        if row is None:
            return False
        self.beginRemoveRows(QModelIndex(), row, row)
        del self._rows[row]
        del self._row_of[event_id]
        self._reindex(row)
        self._offset = max(0, self._offset - 1)
        self._total = max(0, self._total - 1)
        self.endRemoveRows()
        self.total_changed.emit(self._total)
        return True

    def set_status(self, event_id: str, status: str | None) -> None:
        """Show ``status`` in the clip's status column (None: back to "ready")."""
        if status is None:
            self._status.pop(event_id, None)
        else:
            self._status[event_id] = status
        row = self._row_of.get(event_id)
        if row is not None:
            cell = self.index(row, ClipColumn.STATUS)
            self.dataChanged.emit(cell, cell)

    def thumbnails_busy(self) -> int:
        """Thumbnails waiting or being made."""
        return len(self._wanted) + len(self._making)

    def close(self) -> None:
        """Stop making thumbnails (waits for the ones being decoded)."""
        self._wanted.clear()
        self._tasks.close()

    # ---- Qt model interface ----------------------------------------------------------------

    def rowCount(self, parent: _ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: _ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(ClipColumn)

    def canFetchMore(self, parent: _ModelIndex) -> bool:
        return not parent.isValid() and not self._fetching and self._more_in_catalogue()

    def fetchMore(self, parent: _ModelIndex) -> None:
        if not self.canFetchMore(parent):
            return
        # Views and testers may call back into fetchMore from the insert signals below; a
        # nested fetch would insert its rows in the middle of this one's.
        self._fetching = True
        try:
            self._fetch_page()
        finally:
            self._fetching = False

    def _fetch_page(self) -> None:
        try:
            page = self._service.clips(**self._query(self._offset))
        except StoreError as exc:
            # Stop asking until the next refresh: the view would retry on every scroll.
            self._exhausted = True
            self.load_failed.emit(describe_error(exc))
            return
        self._offset += len(page.items)
        if not page.items:
            self._exhausted = True
        fresh = [meta for meta in page.items if meta.event_id not in self._row_of]
        if fresh:
            first = len(self._rows)
            self.beginInsertRows(QModelIndex(), first, first + len(fresh) - 1)
            for row, meta in enumerate(fresh, start=first):
                self._rows.append(meta)
                self._row_of[meta.event_id] = row
                self._note_seen(meta)
            self.endInsertRows()
        if page.total != self._total:
            self._total = page.total
            self.total_changed.emit(self._total)

    def flags(self, index: _ModelIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return (
            Qt.ItemFlag.ItemIsEnabled
            | Qt.ItemFlag.ItemIsSelectable
            | Qt.ItemFlag.ItemNeverHasChildren
        )

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(ClipColumn):
            return None
        column = ClipColumn(section)
        if role == Qt.ItemDataRole.DisplayRole:
            return _HEADERS[column]
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return _RIGHT if column in _NUMERIC else _LEFT
        return None

    def data(self, index: _ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.parent().isValid():
            return None
        row, column = index.row(), index.column()
        if not (0 <= row < len(self._rows) and 0 <= column < len(ClipColumn)):
            return None
        meta = self._rows[row]
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(meta, ClipColumn(column))
        if role == ClipRole:
            return meta
        if role == SortRole:
            return self._sort_value(meta, ClipColumn(column))
        if role == ThumbnailRole:
            return self._thumbnail(meta)
        if role == ThumbnailStateRole:
            return self._thumbnail_state(meta)
        if role == Qt.ItemDataRole.ToolTipRole:
            return (
                f"Event {meta.event_id}\n{meta.resolution} at {meta.fps} fps\n"
                f"SHA-256 {meta.sha256[:16]}…"
            )
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return _RIGHT if column in _NUMERIC else _LEFT
        return None

    # ---- internals -------------------------------------------------------------------------

    def _query(self, offset: int) -> dict[str, Any]:
        f = self._filter
        return {
            "camera_id": f.camera_id,
            "event_type": f.event_type,
            "start": f.start,
            "end": f.end,
            "text": f.text or None,
            "limit": self._page_size,
            "offset": offset,
        }

    def _more_in_catalogue(self) -> bool:
        return not self._exhausted and self._offset < self._total

    def _set_rows(self, rows: list[ClipMeta]) -> None:
        self._rows = rows
        self._row_of = {meta.event_id: row for row, meta in enumerate(rows)}
        for meta in rows:
            self._note_seen(meta)

    def _reindex(self, start: int) -> None:
        for row in range(start, len(self._rows)):
            self._row_of[self._rows[row].event_id] = row

    def _position(self, key: tuple[int, str]) -> int:
        """Where a clip with ``key`` goes in the newest-first rows."""
        low, high = 0, len(self._rows)
        while low < high:
            middle = (low + high) // 2
            if _order_key(self._rows[middle]) > key:
                low = middle + 1
            else:
                high = middle
        return low

    def _note_seen(self, meta: ClipMeta) -> None:
        self._seen_cameras.add(meta.event.camera_id)
        self._seen_types.add(meta.event.event_type)

    def _display(self, meta: ClipMeta, column: ClipColumn) -> str:
        match column:
            case ClipColumn.TIME:
                return _local_time(meta.event.timestamp)
            case ClipColumn.CAMERA:
                return meta.event.camera_id
            case ClipColumn.EVENT_TYPE:
                return meta.event.event_type
            case ClipColumn.DURATION:
                return f"{meta.duration:.1f} s"
            case ClipColumn.SIZE:
                return _human_size(meta.size)
            case ClipColumn.AUDIO:
                return "yes" if meta.has_audio else "no"
            case ClipColumn.GAPS:
                if not meta.gaps:
                    return "none"
                return f"{len(meta.gaps)} ({_gap_seconds(meta):.1f} s)"
            case ClipColumn.STATUS:
                return self._status.get(meta.event_id, "ready")

    def _sort_value(self, meta: ClipMeta, column: ClipColumn) -> Any:
        match column:
            case ClipColumn.TIME:
                return meta.event.timestamp.timestamp()
            case ClipColumn.CAMERA:
                return meta.event.camera_id
            case ClipColumn.EVENT_TYPE:
                return meta.event.event_type
            case ClipColumn.DURATION:
                return meta.duration
            case ClipColumn.SIZE:
                return float(meta.size)  # a double: sizes may pass 2 GiB
            case ClipColumn.AUDIO:
                return int(meta.has_audio)
            case ClipColumn.GAPS:
                return _gap_seconds(meta)
            case ClipColumn.STATUS:
                return self._status.get(meta.event_id, "ready")

    # ---- thumbnails --------------------------------------------------------------------------

    def _thumbnail_state(self, meta: ClipMeta) -> ThumbnailState:
        key = meta.event_id
        if self._thumbnails is None:
            return ThumbnailState.UNAVAILABLE
        if key in self._images:
            return ThumbnailState.READY
        if key in self._failed:
            return ThumbnailState.FAILED
        return ThumbnailState.PENDING

    def _thumbnail(self, meta: ClipMeta) -> QImage | None:
        if self._thumbnails is None:
            return None
        key = meta.event_id
        image = self._images.get(key)
        if image is not None:
            self._images.move_to_end(key)
            return image
        if key not in self._failed and key not in self._making:
            self._wanted[key] = meta
            self._wanted.move_to_end(key)
            while len(self._wanted) > _THUMBNAIL_BACKLOG:
                self._wanted.popitem(last=False)  # asked again if it is painted again
            if not self._pump_queued:
                # Started from the event loop: data() runs inside paint events.
                self._pump_queued = True
                QTimer.singleShot(0, self._pump_thumbnails)
        return None

    def _pump_thumbnails(self) -> None:
        self._pump_queued = False
        maker = self._thumbnails
        if maker is None:
            return
        while self._wanted and len(self._making) < _THUMBNAIL_THREADS:
            # Newest request first: the rows on screen now, not those scrolled past.
            key, meta = self._wanted.popitem(last=True)
            self._making.add(key)
            self._tasks.submit(
                partial(_make_thumbnail, self._service, maker, meta),
                partial(self._on_thumbnail_ready, meta),
                partial(self._on_thumbnail_failed, meta),
            )

    def _on_thumbnail_ready(self, meta: ClipMeta, image: QImage) -> None:
        key = meta.event_id
        self._making.discard(key)
        row = self._row_of.get(key)
        if row is not None and self._rows[row].sha256 == meta.sha256:
            self._images[key] = image
            while len(self._images) > _THUMBNAIL_MEMORY:
                self._images.popitem(last=False)
            cell = self.index(row, ClipColumn.TIME)
            self.dataChanged.emit(cell, cell, [ThumbnailRole, ThumbnailStateRole])
        self._pump_thumbnails()

    def _on_thumbnail_failed(self, meta: ClipMeta, error: Exception) -> None:
        key = meta.event_id
        self._making.discard(key)
        log.info("no thumbnail for clip %s: %s", key, describe_error(error))
        self._failed.add(key)
        row = self._row_of.get(key)
        if row is not None:
            cell = self.index(row, ClipColumn.TIME)
            self.dataChanged.emit(cell, cell, [ThumbnailRole, ThumbnailStateRole])
        self._pump_thumbnails()

    def _forget_thumbnail(self, event_id: str) -> None:
        self._images.pop(event_id, None)
        self._wanted.pop(event_id, None)
        self._failed.discard(event_id)


def _make_thumbnail(service: ClipService, maker: ThumbnailMaker, meta: ClipMeta) -> QImage:
    """Runs on a pool thread: an image, never a pixmap (pixmaps belong to the GUI thread)."""
    array = maker.cached(meta)
    if array is None:
        array = maker.thumbnail(meta, clip_source(service, meta.event_id))
    return _to_qimage(array)


class ClipFilterProxyModel(QSortFilterProxyModel):
    """Sorts the loaded rows by any column and narrows them at once with a quick text filter.

    The quick filter uses the catalogue's own text rule, so it shows immediately what the
    catalogue query (which also sees the rows not loaded yet) will answer.
    """

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._needle = ""
        self.setSortRole(SortRole)
        self.setDynamicSortFilter(True)

    @property
    def quick_text(self) -> str:
        """The text rows must contain (event id, camera or type); empty: every row."""
        return self._needle

    def set_quick_text(self, text: str) -> None:
        """Show only the loaded rows matching ``text``."""
        text = text.strip()
        if text == self._needle:
            return
        if hasattr(self, "beginFilterChange"):  # Qt 6.10+; invalidateRowsFilter before
            self.beginFilterChange()
            self._needle = text
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:
            self._needle = text
            self.invalidateRowsFilter()

    def clip(self, index: _ModelIndex) -> ClipMeta | None:
        """The clip of a proxy index."""
        meta = index.data(ClipRole) if index.isValid() else None
        return meta if isinstance(meta, ClipMeta) else None

    def filterAcceptsRow(self, source_row: int, source_parent: _ModelIndex) -> bool:
        if not self._needle:
            return True
        meta = self.sourceModel().index(source_row, 0, source_parent).data(ClipRole)
        return not isinstance(meta, ClipMeta) or matches_text(meta, self._needle)


class ClipDelegate(QStyledItemDelegate):
    """Paints the clip's thumbnail (or a placeholder until it is made) before the event time."""

    def __init__(self, thumbnail_size: QSize | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.thumbnail_size = thumbnail_size or QSize(96, 72)
        self.margin = 4

    @property
    def row_height(self) -> int:
        """The height a row needs for its thumbnail."""
        return self.thumbnail_size.height() + 2 * self.margin

    def paint(self, painter: Any, option: QStyleOptionViewItem, index: _ModelIndex) -> None:
        if index.column() != ClipColumn.TIME:
            super().paint(painter, option, index)
            return
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        text = opt.text
        opt.text = ""
        widget = opt.widget
        style = widget.style() if widget is not None else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, widget)

        rect = opt.rect
        size = self.thumbnail_size
        box = QRect(
            rect.left() + self.margin,
            rect.top() + max(0, (rect.height() - size.height()) // 2),
            size.width(),
            min(size.height(), rect.height()),
        )
        painter.save()
        image = index.data(ThumbnailRole)
        if isinstance(image, QImage) and not image.isNull():
            fitted = image.size().scaled(box.size(), Qt.AspectRatioMode.KeepAspectRatio)
            target = QRect(0, 0, fitted.width(), fitted.height())
            target.moveCenter(box.center())
            painter.drawImage(target, image)
        else:
            painter.fillRect(box, opt.palette.color(QPalette.ColorRole.Mid))
            state = index.data(ThumbnailStateRole)
            label = "…" if state == ThumbnailState.PENDING else "no preview"
            painter.setPen(opt.palette.color(QPalette.ColorRole.Light))
            painter.drawText(box, int(Qt.AlignmentFlag.AlignCenter), label)
        selected = bool(opt.state & QStyle.StateFlag.State_Selected)
        role = QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
        painter.setPen(opt.palette.color(role))
        painter.setFont(opt.font)
        text_rect = rect.adjusted(size.width() + 2 * self.margin, 0, -self.margin, 0)
        elided = opt.fontMetrics.elidedText(text, Qt.TextElideMode.ElideRight, text_rect.width())
        painter.drawText(text_rect, _LEFT, elided)
        painter.restore()

    def sizeHint(self, option: QStyleOptionViewItem, index: _ModelIndex) -> QSize:
        base = super().sizeHint(option, index)
        height = max(base.height(), self.row_height)
        if index.column() != ClipColumn.TIME:
            return QSize(base.width(), height)
        return QSize(base.width() + self.thumbnail_size.width() + 2 * self.margin, height)


_EXPIRY_UNITS: tuple[tuple[str, timedelta], ...] = (
    ("minutes", timedelta(minutes=1)),
    ("hours", timedelta(hours=1)),
    ("days", timedelta(days=1)),
)


class ClipLibraryPanel(QWidget):
    """The clip library: filter bar, the paged clip table, and actions on the selected clip."""

    play_requested = Signal(object, str)
    """Play a clip: its :class:`ClipMeta` and what to open (a file path or a URL)."""
    message_shown = Signal(str)
    """A result or an error was shown to the operator (the text shown)."""

    def __init__(
        self,
        service: ClipService,
        thumbnails: ThumbnailMaker | None = None,
        *,
        cameras: Iterable[str] | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.service = service
        self.thumbnails = thumbnails
        self._tasks = _BackgroundTasks(_ACTION_THREADS, self)
        self._busy: set[tuple[str, str]] = set()  # (action, event id) running

        self.model = ClipTableModel(service, thumbnails, page_size=page_size, parent=self)
        self.proxy = ClipFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.delegate = ClipDelegate(parent=self)
        self.view = QTableView(self)
        self._build_view()
        self._build_filters(
            sorted(cameras) if cameras is not None else sorted(service.recorder.cameras)
        )
        self._build_actions()
        self._text_timer = QTimer(self)
        self._text_timer.setSingleShot(True)
        self._text_timer.setInterval(_TEXT_DEBOUNCE_MS)
        self._text_timer.timeout.connect(self.refresh)
        self._layout()

        self.model.total_changed.connect(self._on_total_changed)
        self.model.load_failed.connect(self._on_load_failed)
        self.model.modelReset.connect(self._on_rows_changed)
        self.model.rowsInserted.connect(self._on_rows_changed)
        self.view.selectionModel().selectionChanged.connect(self._on_selection_changed)
        self.view.activated.connect(self._on_row_activated)
        self.refresh()

    # ---- construction ------------------------------------------------------------------------

    def _build_view(self) -> None:
        view = self.view
        view.setModel(self.proxy)
        view.setItemDelegate(self.delegate)
        view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        view.setAlternatingRowColors(True)
        view.setWordWrap(False)
        view.setSortingEnabled(True)
        view.sortByColumn(ClipColumn.TIME, Qt.SortOrder.DescendingOrder)
        view.verticalHeader().hide()
        # Fixed row heights and column widths: sizing to contents would visit every row.
        rows = view.verticalHeader()
        rows.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        rows.setDefaultSectionSize(self.delegate.row_height)
        header = view.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        widths = {
            ClipColumn.TIME: self.delegate.thumbnail_size.width() + 150,
            ClipColumn.CAMERA: 90,
            ClipColumn.EVENT_TYPE: 100,
            ClipColumn.DURATION: 70,
            ClipColumn.SIZE: 80,
            ClipColumn.AUDIO: 50,
            ClipColumn.GAPS: 80,
        }
        for column, width in widths.items():
            view.setColumnWidth(column, width)

    def _build_filters(self, cameras: list[str]) -> None:
        self.camera_combo = QComboBox(self)
        self.camera_combo.setMinimumContentsLength(12)
        self.camera_combo.addItem("All cameras", None)
        for camera_id in cameras:
            self.camera_combo.addItem(camera_id, camera_id)
        self.camera_combo.currentIndexChanged.connect(self._on_filter_changed)

        now = QDateTime.currentDateTime()
        self.from_check = QCheckBox("From", self)
        self.from_edit = QDateTimeEdit(now.addDays(-1), self)
        self.to_check = QCheckBox("To", self)
        self.to_edit = QDateTimeEdit(now, self)
        for check, edit in ((self.from_check, self.from_edit), (self.to_check, self.to_edit)):
            edit.setDisplayFormat("yyyy-MM-dd HH:mm")
            edit.setCalendarPopup(True)
            edit.setEnabled(False)
            check.toggled.connect(edit.setEnabled)
            check.toggled.connect(self._on_filter_changed)
            edit.dateTimeChanged.connect(self._on_date_edited)

        self.type_combo = QComboBox(self)
        self.type_combo.setEditable(True)
        self.type_combo.setMinimumContentsLength(14)
        self.type_combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.type_combo.addItem("")
        line = self.type_combo.lineEdit()
        if line is not None:
            line.setPlaceholderText("All event types")
        self.type_combo.currentTextChanged.connect(self._on_text_edited)

        self.text_edit = QLineEdit(self)
        self.text_edit.setPlaceholderText("Search event id, camera, type")
        self.text_edit.setClearButtonEnabled(True)
        self.text_edit.textChanged.connect(self._on_search_edited)

    def _build_actions(self) -> None:
        def action(text: str, tip: str, slot: Callable[[], None]) -> QAction:
            made = QAction(text, self)
            made.setToolTip(tip)
            made.triggered.connect(slot)
            self.view.addAction(made)
            return made

        self.refresh_action = QAction("Refresh", self)
        self.refresh_action.setShortcut(QKeySequence.StandardKey.Refresh)
        self.refresh_action.triggered.connect(self.refresh)
        self.play_action = action("Play", "Play the selected clip", self.play_selected)
        self.copy_url_action = action(
            "Copy link", "Copy a time-limited link to the selected clip", self.copy_url
        )
        self.save_action = action("Save copy…", "Save a copy of the clip to disk", self.save_copy)
        self.show_folder_action = action(
            "Show in folder", "Open the folder holding the clip file", self.show_in_folder
        )
        self.verify_action = action(
            "Verify", "Check the clip against its SHA-256 checksum", self.verify_selected
        )
        self.delete_action = action("Delete…", "Delete the clip", self.delete_selected)
        self.delete_action.setShortcut(QKeySequence.StandardKey.Delete)
        self.delete_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)

        self.expiry_spin = QSpinBox(self)
        self.expiry_spin.setToolTip("How long the copied link stays valid")
        self.expiry_unit = QComboBox(self)
        for name, _unit in _EXPIRY_UNITS:
            self.expiry_unit.addItem(name)
        self.expiry_unit.currentIndexChanged.connect(self._on_expiry_unit_changed)
        self.expiry_unit.setCurrentIndex(1)
        self._on_expiry_unit_changed(1)
        self.expiry_spin.setValue(1)

        self.count_label = QLabel(self)
        self.message_label = QLabel(self)
        self.message_label.setWordWrap(True)
        self.message_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message_label.hide()
        self._update_actions()

    def _layout(self) -> None:
        filters = QHBoxLayout()
        filters.addWidget(self.camera_combo)
        filters.addWidget(self.from_check)
        filters.addWidget(self.from_edit)
        filters.addWidget(self.to_check)
        filters.addWidget(self.to_edit)
        filters.addWidget(self.type_combo)
        filters.addWidget(self.text_edit, 1)
        filters.addWidget(self._button(self.refresh_action))

        actions = QHBoxLayout()
        actions.addWidget(self.count_label)
        actions.addStretch(1)
        actions.addWidget(self._button(self.play_action))
        actions.addWidget(self._button(self.copy_url_action))
        actions.addWidget(self.expiry_spin)
        actions.addWidget(self.expiry_unit)
        for each in (
            self.save_action,
            self.show_folder_action,
            self.verify_action,
            self.delete_action,
        ):
            actions.addWidget(self._button(each))

        layout = QVBoxLayout(self)
        layout.addLayout(filters)
        layout.addWidget(self.message_label)
        layout.addWidget(self.view, 1)
        layout.addLayout(actions)

    def _button(self, action: QAction) -> QToolButton:
        button = QToolButton(self)
        button.setDefaultAction(action)
        button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        return button

    # ---- public API --------------------------------------------------------------------------

    def current_filter(self) -> ClipFilter:
        """The filter the filter bar describes."""
        camera = self.camera_combo.currentData()
        event_type = self.type_combo.currentText().strip() or None
        start = _minute(self.from_edit.dateTime()) if self.from_check.isChecked() else None
        # "To 10:30" means up to the end of that minute.
        end = (
            _minute(self.to_edit.dateTime()) + timedelta(minutes=1)
            if self.to_check.isChecked()
            else None
        )
        text = self.text_edit.text().strip() or None
        return ClipFilter(
            camera_id=camera if isinstance(camera, str) else None,
            event_type=event_type,
            start=start,
            end=end,
            text=text,
        )

    @Slot()
    def refresh(self) -> None:
        """Ask the catalogue again with the filter bar's values."""
        self._text_timer.stop()
        self._clear_message()
        self.proxy.set_quick_text(self.text_edit.text())
        self.model.set_filter(self.current_filter())

    @Slot(str)
    def on_clip_stored(self, event_id: str) -> None:
        """A clip was stored, changed or removed: update its row (wired to the engine bridge)."""
        self.model.on_clip_stored(event_id)

    def selected_clip(self) -> ClipMeta | None:
        """The clip selected in the table."""
        rows = self.view.selectionModel().selectedRows()
        return self.proxy.clip(rows[0]) if rows else None

    def select_clip(self, event_id: str) -> bool:
        """Select (and scroll to) a loaded clip; False if it is not loaded or filtered out."""
        row = self.model.row_of(event_id)
        if row is None:
            return False
        index = self.proxy.mapFromSource(self.model.index(row, 0))
        if not index.isValid():
            return False
        self.view.selectRow(index.row())
        self.view.scrollTo(index)
        return True

    def url_expiry(self) -> timedelta:
        """How long a copied link stays valid (the expiry chooser's value)."""
        unit = _EXPIRY_UNITS[max(0, self.expiry_unit.currentIndex())][1]
        return min(unit * self.expiry_spin.value(), MAX_URL_EXPIRY)

    def play_selected(self) -> None:
        """Ask for the selected clip to be played (``play_requested`` once its source is known)."""
        meta = self.selected_clip()
        if meta is None:
            return
        service = self.service
        self._run(
            "play",
            meta,
            lambda: clip_source(service, meta.event_id),
            partial(self._on_source_ready, meta),
        )

    def copy_url(self) -> None:
        """Put a time-limited link to the selected clip into the clipboard."""
        meta = self.selected_clip()
        if meta is None:
            return
        expiry = self.url_expiry()
        service = self.service
        self._run(
            "link",
            meta,
            lambda: service.url(meta.event_id, expiry),
            partial(self._on_url_ready, meta),
        )

    def save_copy(self, destination: Path | None = None) -> None:
        """Save a copy of the selected clip; without ``destination`` a file dialog asks."""
        meta = self.selected_clip()
        if meta is None:
            return
        if destination is None:
            dialog = QFileDialog(self, "Save a copy of the clip")
            dialog.setObjectName("saveClipDialog")
            dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
            dialog.setNameFilter("MP4 video (*.mp4)")
            dialog.setDefaultSuffix("mp4")
            dialog.selectFile(f"{meta.event_id}.mp4")
            dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            dialog.fileSelected.connect(partial(self._on_save_path_chosen, meta))
            dialog.open()  # not exec(): a nested event loop would stall the qasync loop
            return
        self._save(meta, Path(destination))

    def show_in_folder(self) -> None:
        """Open the folder holding the selected clip's file (local storage only)."""
        meta = self.selected_clip()
        store = self.service.store
        if meta is None or not isinstance(store, LocalClipStore):
            return
        try:
            path = store.path_of(meta.event_id)
        except ValueError as exc:
            self._show_box(QMessageBox.Icon.Warning, "Show in folder", describe_error(exc))
            return
        if path is None:
            self._show_box(
                QMessageBox.Icon.Warning, "Show in folder", "The clip's file is missing."
            )
            return
        if not QDesktopServices.openUrl(QUrl.fromLocalFile(str(path.parent))):
            self._show_box(
                QMessageBox.Icon.Warning,
                "Show in folder",
                f"No file manager could open the clip folder. The file is {path}.",
            )

    def verify_selected(self) -> None:
        """Check the selected clip's bytes against its SHA-256 (off the GUI thread)."""
        meta = self.selected_clip()
        if meta is None:
            return
        self.model.set_status(meta.event_id, "verifying…")
        service = self.service
        self._run(
            "verify",
            meta,
            lambda: service.verify(meta.event_id),
            partial(self._on_verified, meta),
            partial(self._on_verify_failed, meta),
        )

    def delete_selected(self) -> None:
        """Ask for confirmation, then delete the selected clip."""
        meta = self.selected_clip()
        if meta is None:
            return
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Delete clip",
            f"Delete the clip of event {meta.event_id} ({meta.event.camera_id}, "
            f"{_local_time(meta.event.timestamp)})? This cannot be undone.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            self,
        )
        box.setObjectName("deleteConfirmation")
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(partial(self._on_delete_answered, box, meta))
        box.open()  # not exec(): a nested event loop would stall the qasync loop

    def shutdown(self) -> None:
        """Stop background work (call before the application quits)."""
        self._text_timer.stop()
        self._tasks.close()
        self.model.close()

    # ---- slots -------------------------------------------------------------------------------

    @Slot(int)
    def _on_total_changed(self, total: int) -> None:
        self.count_label.setText(f"{total:,} clip" + ("" if total == 1 else "s"))

    @Slot(str)
    def _on_load_failed(self, message: str) -> None:
        self._show_message(f"The clip list could not be loaded: {message}", error=True)

    @Slot()
    def _on_rows_changed(self) -> None:
        self._merge_items(self.camera_combo, self.model.seen_cameras, with_data=True)
        self._merge_items(self.type_combo, self.model.seen_event_types, with_data=False)

    @Slot()
    def _on_selection_changed(self) -> None:
        self._update_actions()

    @Slot(QModelIndex)
    def _on_row_activated(self, _index: QModelIndex) -> None:
        self.play_selected()

    @Slot()
    def _on_filter_changed(self) -> None:
        self.refresh()

    @Slot()
    def _on_date_edited(self) -> None:
        if self.from_check.isChecked() or self.to_check.isChecked():
            self._text_timer.start()

    @Slot(str)
    def _on_text_edited(self, _text: str) -> None:
        self._text_timer.start()

    @Slot(str)
    def _on_search_edited(self, text: str) -> None:
        # Loaded rows narrow at once; the catalogue query follows when typing pauses.
        self.proxy.set_quick_text(text)
        self._text_timer.start()

    @Slot(int)
    def _on_expiry_unit_changed(self, index: int) -> None:
        unit = _EXPIRY_UNITS[max(0, index)][1]
        self.expiry_spin.setRange(1, MAX_URL_EXPIRY // unit)

    def _on_source_ready(self, meta: ClipMeta, source: str) -> None:
        self.play_requested.emit(meta, source)

    def _on_url_ready(self, meta: ClipMeta, url: ClipUrl) -> None:
        clipboard = QGuiApplication.clipboard()
        clipboard.setText(url.url)
        self._show_message(
            f"Link to clip {meta.event_id} copied; valid until {_local_time(url.expires_at)}."
        )

    def _on_save_path_chosen(self, meta: ClipMeta, path: str) -> None:
        if path:
            self._save(meta, Path(path))

    def _on_saved(self, meta: ClipMeta, destination: Path, intact: bool) -> None:
        if intact:
            self._show_message(f"Clip {meta.event_id} saved to {destination}.")
        else:
            self._show_box(
                QMessageBox.Icon.Warning,
                "Clip saved, but damaged",
                f"Clip {meta.event_id} was saved to {destination}, but the stored file does not "
                "match its SHA-256 checksum: it was changed or damaged after it was recorded.",
            )

    def _on_verified(self, meta: ClipMeta, intact: bool) -> None:
        if intact:
            self.model.set_status(meta.event_id, "verified")
            self._show_box(
                QMessageBox.Icon.Information,
                "Clip verified",
                f"Clip {meta.event_id} is intact: its SHA-256 checksum matches.",
            )
        else:
            self.model.set_status(meta.event_id, "checksum mismatch")
            self._show_box(
                QMessageBox.Icon.Warning,
                "Clip damaged",
                f"Clip {meta.event_id} does not match its SHA-256 checksum: the file was "
                "changed or damaged after it was recorded.",
            )

    def _on_verify_failed(self, meta: ClipMeta, error: Exception) -> None:
        self.model.set_status(meta.event_id, None)
        self._show_box(
            QMessageBox.Icon.Warning,
            "Verify",
            f"Clip {meta.event_id} could not be verified. {describe_error(error)}",
        )

    def _on_delete_answered(self, box: QMessageBox, meta: ClipMeta, _result: int) -> None:
        if box.standardButton(box.clickedButton()) != QMessageBox.StandardButton.Yes:
            return
        service = self.service
        self._run(
            "delete", meta, lambda: service.delete(meta.event_id), partial(self._on_deleted, meta)
        )

    def _on_deleted(self, meta: ClipMeta, _existed: bool) -> None:
        self.model.remove_clip(meta.event_id)
        if self.thumbnails is not None:
            self.thumbnails.forget(meta.event_id)
        self._show_message(f"Clip {meta.event_id} deleted.")

    # ---- helpers -----------------------------------------------------------------------------

    def _run(
        self,
        action: str,
        meta: ClipMeta,
        work: Callable[[], _T],
        done: Callable[[_T], None],
        failed: Callable[[Exception], None] | None = None,
    ) -> None:
        """Run ``work`` off the GUI thread once per clip and action; report failures."""
        key = (action, meta.event_id)
        if key in self._busy:
            return  # a double click must not start a second delete or copy
        self._busy.add(key)

        def finish(result: _T) -> None:
            self._busy.discard(key)
            done(result)

        def fail(error: Exception) -> None:
            self._busy.discard(key)
            if failed is not None:
                failed(error)
            else:
                self._show_box(
                    QMessageBox.Icon.Warning,
                    action.capitalize(),
                    f"Clip {meta.event_id}: {describe_error(error)}",
                )

        self._tasks.submit(work, finish, fail)

    def _save(self, meta: ClipMeta, destination: Path) -> None:
        service = self.service
        self._run(
            "save",
            meta,
            lambda: save_clip_copy(service, meta, destination),
            partial(self._on_saved, meta, destination),
        )

    def _update_actions(self) -> None:
        selected = self.selected_clip() is not None
        for each in (
            self.play_action,
            self.copy_url_action,
            self.save_action,
            self.verify_action,
            self.delete_action,
        ):
            each.setEnabled(selected)
        local = isinstance(self.service.store, LocalClipStore)
        self.show_folder_action.setEnabled(selected and local)
        self.show_folder_action.setToolTip(
            "Open the folder holding the clip file"
            if local
            else "Only clips stored on this computer have a folder"
        )

    def _show_message(self, text: str, *, error: bool = False) -> None:
        self.message_label.setText(text)
        self.message_label.setStyleSheet("color: #b00020;" if error else "")
        self.message_label.show()
        self.message_shown.emit(text)

    def _clear_message(self) -> None:
        self.message_label.clear()
        self.message_label.hide()

    def _show_box(self, icon: QMessageBox.Icon, title: str, text: str) -> None:
        box = QMessageBox(icon, title, text, QMessageBox.StandardButton.Ok, self)
        box.setObjectName("libraryMessage")
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()  # not exec(): a nested event loop would stall the qasync loop
        self.message_shown.emit(text)

    @staticmethod
    def _merge_items(combo: QComboBox, values: Iterable[str], *, with_data: bool) -> None:
        present = {combo.itemText(i) for i in range(combo.count())}
        for value in sorted(set(values) - present):
            if with_data:
                combo.addItem(value, value)
            else:
                combo.addItem(value)


def _minute(moment: QDateTime) -> datetime:
    """A date edit's local time as an aware UTC datetime, cut to the minute it shows."""
    seconds = moment.toSecsSinceEpoch()
    return datetime.fromtimestamp(seconds - seconds % 60, UTC)


__all__ = [
    "DEFAULT_PAGE_SIZE",
    "ClipColumn",
    "ClipDelegate",
    "ClipFilter",
    "ClipFilterProxyModel",
    "ClipLibraryPanel",
    "ClipRole",
    "ClipTableModel",
    "SaveCopyError",
    "SortRole",
    "ThumbnailRole",
    "ThumbnailState",
    "ThumbnailStateRole",
    "clip_source",
    "describe_error",
    "matches_text",
    "save_clip_copy",
]
