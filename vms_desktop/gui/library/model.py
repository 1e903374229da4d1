"""The clip catalogue as a Qt model: pages read off the GUI thread, filtered, thumbnails."""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import replace
from functools import partial
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QImage

from vms_desktop.domain.clip import ClipMeta
from vms_desktop.domain.clip_query import ClipPage, ClipQuery, listing_key
from vms_desktop.domain.errors import operator_text
from vms_desktop.engine.console_port import CatalogueChange, Console
from vms_desktop.gui.library.columns import (
    HEADERS,
    LEFT,
    NUMERIC_COLUMNS,
    RIGHT,
    ClipColumn,
    ClipRole,
    SortRole,
    ThumbnailRole,
    ThumbnailState,
    ThumbnailStateRole,
    display_text,
    sort_value,
)
from vms_desktop.gui.pictures import owned_rgb_image
from vms_desktop.gui.tasks import BackgroundTasks
from vms_desktop.gui.time_text import local_time_text

log = logging.getLogger(__name__)

_ModelIndex = QModelIndex | QPersistentModelIndex

DEFAULT_PAGE_SIZE = 200
# Thumbnails kept in memory (about 57 KB each at 160x120); the disk cache holds the rest.
_THUMBNAIL_MEMORY = 600
# Thumbnails asked for but not started: only the newest requests matter while scrolling fast.
_THUMBNAIL_BACKLOG = 64
_THUMBNAIL_THREADS = 2


def _log_count_failure(error: Exception) -> None:
    log.info("clip count not refreshed: %s", operator_text(error))


class ClipTableModel(QAbstractTableModel):
    """Stored clips, newest first, fetched page by page from the catalogue as the view scrolls.

    Filters are applied by the catalogue (SQLite), so only the rows the operator scrolls to are
    ever loaded, whatever the size of the catalogue. Every catalogue read runs off the GUI
    thread: a page arrives later through :attr:`page_loaded`, and a newer request (a refresh
    with another filter) drops an older one's result. Pages follow each other by the last
    loaded clip's place in the listing, not by a row offset, so clips stored or deleted while
    pages arrive neither shift nor repeat rows. The catalogue's own changes arrive through
    :meth:`apply_change`; thumbnails are made off the GUI thread on first request.
    """

    total_changed = Signal(int)
    """How many clips match the filter in the whole catalogue."""
    load_failed = Signal(str)
    """The catalogue could not be read; a readable reason."""
    page_loaded = Signal()
    """A requested page arrived (or failed) and the model is idle again."""

    def __init__(
        self,
        console: Console,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self._console = console
        self._thumbnails = console.has_thumbnails
        self._page_size = page_size
        self._filter = ClipQuery()
        self._rows: list[ClipMeta] = []
        self._row_of: dict[str, int] = {}
        self._total = 0
        self._exhausted = True  # nothing asked for yet: refresh() loads the first page
        self._loading = False
        # Changes that arrive while a page is on its way are applied once it is in, so they
        # act on the rows the page brings (the page may have been read before or after them).
        self._deferred: list[CatalogueChange] = []
        self._recount_again = False
        self._pump_queued = False
        self._status: dict[str, str] = {}
        self._images: OrderedDict[str, QImage] = OrderedDict()
        self._wanted: OrderedDict[str, ClipMeta] = OrderedDict()
        self._making: set[str] = set()
        self._failed: set[str] = set()
        self._seen_cameras: set[str] = set()
        self._seen_types: set[str] = set()
        self._tasks = BackgroundTasks(_THUMBNAIL_THREADS, self)
        self._reads = BackgroundTasks(1, self)  # catalogue pages and counts, in order

    # ---- public API ------------------------------------------------------------------------

    @property
    def console(self) -> Console:
        """The service the rows come from."""
        return self._console

    @property
    def clip_filter(self) -> ClipQuery:
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
    def loading(self) -> bool:
        """True while a page (or the first page after a refresh) is on its way."""
        return self._loading

    @property
    def seen_cameras(self) -> frozenset[str]:
        """Camera ids of the rows loaded so far."""
        return frozenset(self._seen_cameras)

    @property
    def seen_event_types(self) -> frozenset[str]:
        """Event types of the rows loaded so far."""
        return frozenset(self._seen_types)

    def set_filter(self, clip_filter: ClipQuery) -> None:
        """Ask the catalogue again with ``clip_filter``; the first page replaces every row."""
        self._filter = clip_filter
        self.refresh()

    def refresh(self) -> None:
        """Load the first page again (failed thumbnails are retried); the rows shown stay until
        it arrives, and a page or refresh still on its way is dropped.
        """
        self._wanted.clear()
        self._failed.clear()
        self._begin_load()
        query = self._query(None)
        console = self._console
        self._reads.submit(
            lambda: console.clips(query), self._on_first_page, self._on_refresh_failed, key="rows"
        )

    def clip_at(self, row: int) -> ClipMeta:
        """The clip in ``row`` (an ``IndexError`` outside the loaded rows)."""
        return self._rows[row]

    def row_of(self, event_id: str) -> int | None:
        """The row holding that clip, if it is loaded."""
        return self._row_of.get(event_id)

    def apply_change(self, change: CatalogueChange) -> None:
        """Follow a committed catalogue change (wired to the engine bridge's signal)."""
        if self._loading:
            self._deferred.append(change)
            return
        self._apply(change, count=True)
        if self._reads.pending("count"):
            self._recount_again = True

    def upsert_clip(self, meta: ClipMeta) -> None:
        """Insert a newly stored ``meta`` at its place in the listing, or update its row."""
        self._upsert(meta, new=True, count=True)

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
        """Stop reading and making thumbnails (waits for the reads and decodes under way)."""
        self._wanted.clear()
        self._reads.close()
        self._tasks.close()

    # ---- Qt model interface ----------------------------------------------------------------

    def rowCount(self, parent: _ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: _ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(ClipColumn)

    def canFetchMore(self, parent: _ModelIndex) -> bool:
        return not parent.isValid() and not self._loading and not self._exhausted

    def fetchMore(self, parent: _ModelIndex) -> None:
        if not self.canFetchMore(parent):
            return
        self._begin_load()
        query = self._query(self._rows[-1] if self._rows else None)
        console = self._console
        self._reads.submit(
            lambda: console.clips(query), self._on_next_page, self._on_page_failed, key="rows"
        )

    # ---- pages arriving --------------------------------------------------------------------

    def _begin_load(self) -> None:
        if not self._loading:
            self._deferred = []
        self._loading = True
        self._reads.cancel("count")  # the page brings a fresher total

    def _on_first_page(self, page: ClipPage) -> None:
        self.beginResetModel()
        self._set_rows(list(page.items))
        self._total = page.total
        self._exhausted = len(page.items) < self._page_size or len(self._rows) >= page.total
        self.endResetModel()
        self._end_load()

    def _on_next_page(self, page: ClipPage) -> None:
        fresh = [
            meta
            for meta in page.items
            if meta.event_id not in self._row_of and self._filter.matches(meta)
        ]
        if fresh:
            first = len(self._rows)
            self.beginInsertRows(QModelIndex(), first, first + len(fresh) - 1)
            for row, meta in enumerate(fresh, start=first):
                self._rows.append(meta)
                self._row_of[meta.event_id] = row
                self._note_seen(meta)
            self.endInsertRows()
        self._total = page.total
        self._exhausted = len(page.items) < self._page_size or len(self._rows) >= page.total
        self._end_load()

    def _on_refresh_failed(self, error: Exception) -> None:
        self.beginResetModel()
        self._set_rows([])
        self._total = 0
        self._exhausted = True
        self.endResetModel()
        self._deferred = []
        self._end_load(error)

    def _on_page_failed(self, error: Exception) -> None:
        # Stop asking until the next refresh: the view would retry on every scroll.
        self._exhausted = True
        self._end_load(error)

    def _end_load(self, error: Exception | None = None) -> None:
        self._loading = False
        deferred, self._deferred = self._deferred, []
        for change in deferred:
            # The page may or may not include these changes: rows are put right, and the
            # total is counted again rather than guessed.
            self._apply(change, count=False)
        if deferred:
            self._recount()
        self.total_changed.emit(self._total)
        if error is not None:
            self.load_failed.emit(operator_text(error))
        self.page_loaded.emit()

    def _recount(self) -> None:
        self._recount_again = False
        query = replace(self._query(None), limit=0)
        console = self._console
        self._reads.submit(
            lambda: console.clips(query).total, self._on_recounted, _log_count_failure, key="count"
        )

    def _on_recounted(self, total: int) -> None:
        if self._recount_again:  # changed again while counting: that count is already old
            self._recount()
            return
        if total != self._total:
            self._total = total
            self.total_changed.emit(total)

    # ---- catalogue changes -----------------------------------------------------------------

    def _apply(self, change: CatalogueChange, *, count: bool) -> None:
        for meta in change.removed:
            if not self.remove_clip(meta.event_id) and count and self._filter.matches(meta):
                self._total = max(0, self._total - 1)  # listed further down, not loaded yet
                self.total_changed.emit(self._total)
        for meta in change.added:
            self._upsert(meta, new=True, count=count)
        for meta in change.updated:
            self._upsert(meta, new=False, count=count)

    def _upsert(self, meta: ClipMeta, *, new: bool, count: bool) -> None:
        row = self._row_of.get(meta.event_id)
        if row is not None:
            if not self._filter.matches(meta):
                self.remove_clip(meta.event_id)
                return
            old = self._rows[row]
            if listing_key(old) != listing_key(meta):
                self._take_row(row)
                self._upsert(meta, new=False, count=False)
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
        position = self._position(listing_key(meta))
        # A clip older than every loaded row, with more rows still in the catalogue, arrives
        # with a later page; inserting it now would show it twice.
        inside = position < len(self._rows) or self._exhausted
        if inside:
            self.beginInsertRows(QModelIndex(), position, position)
            self._rows.insert(position, meta)
            self._reindex(position)
            self._note_seen(meta)
            self.endInsertRows()
        # A changed clip that was not loaded is counted already, unless it was inside the
        # loaded stretch (then it did not match before).
        if count and (new or inside):
            self._total += 1
            self.total_changed.emit(self._total)

    def _take_row(self, row: int) -> None:
        meta = self._rows[row]
        self.beginRemoveRows(QModelIndex(), row, row)
        del self._rows[row]
        del self._row_of[meta.event_id]
        self._reindex(row)
        self.endRemoveRows()

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
            return HEADERS[column]
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return RIGHT if column in NUMERIC_COLUMNS else LEFT
        return None

    def data(self, index: _ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.parent().isValid():
            return None
        row, column = index.row(), index.column()
        if not (0 <= row < len(self._rows) and 0 <= column < len(ClipColumn)):
            return None
        meta = self._rows[row]
        if role == Qt.ItemDataRole.DisplayRole:
            return display_text(meta, ClipColumn(column), self._status_text(meta))
        if role == ClipRole:
            return meta
        if role == SortRole:
            return sort_value(meta, ClipColumn(column), self._status_text(meta))
        if role == ThumbnailRole:
            return self._thumbnail(meta)
        if role == ThumbnailStateRole:
            return self._thumbnail_state(meta)
        if role == Qt.ItemDataRole.ToolTipRole:
            return (
                f"Event {meta.event_id} at {local_time_text(meta.event.timestamp)}\n"
                f"{meta.resolution} at {meta.fps} fps\nSHA-256 {meta.sha256[:16]}…"
            )
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return RIGHT if column in NUMERIC_COLUMNS else LEFT
        return None

    # ---- internals -------------------------------------------------------------------------

    def _query(self, after: ClipMeta | None) -> ClipQuery:
        return replace(
            self._filter,
            text=self._filter.text or None,
            limit=self._page_size,
            offset=0,
            newest_first=True,
            after=after,
        )

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
            if listing_key(self._rows[middle]) > key:
                low = middle + 1
            else:
                high = middle
        return low

    def _note_seen(self, meta: ClipMeta) -> None:
        self._seen_cameras.add(meta.event.camera_id)
        self._seen_types.add(meta.event.event_type)

    def _status_text(self, meta: ClipMeta) -> str:
        return self._status.get(meta.event_id, "ready")

    # ---- thumbnails --------------------------------------------------------------------------

    def _thumbnail_state(self, meta: ClipMeta) -> ThumbnailState:
        key = meta.event_id
        if not self._thumbnails:
            return ThumbnailState.UNAVAILABLE
        if key in self._images:
            return ThumbnailState.READY
        if key in self._failed:
            return ThumbnailState.FAILED
        return ThumbnailState.PENDING

    def _thumbnail(self, meta: ClipMeta) -> QImage | None:
        if not self._thumbnails:
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
        if not self._thumbnails:
            return
        while self._wanted and len(self._making) < _THUMBNAIL_THREADS:
            # Newest request first: the rows on screen now, not those scrolled past.
            key, meta = self._wanted.popitem(last=True)
            self._making.add(key)
            self._tasks.submit(
                partial(_make_thumbnail, self._console, meta),
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
        log.info("no thumbnail for clip %s: %s", key, operator_text(error))
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


def _make_thumbnail(console: Console, meta: ClipMeta) -> QImage:
    """Runs on a pool thread: an image, never a pixmap (pixmaps belong to the GUI thread)."""
    return owned_rgb_image(console.thumbnail(meta))
