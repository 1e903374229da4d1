"""Timeline of recorded footage, events and bookmarks per camera, with the archive's playhead
(pyqtgraph).

It reads the footage, the catalogue and the bookmarks only off the GUI thread. Time axes show
local time, their title names the zone.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QColor, QShowEvent
from PySide6.QtWidgets import QVBoxLayout, QWidget

from vms_desktop.domain.clip import ClipJob, ClipMeta
from vms_desktop.domain.clip_query import ClipQuery
from vms_desktop.domain.errors import operator_text
from vms_desktop.engine.console_port import (
    Bookmark,
    BookmarkQuery,
    CatalogueChange,
    Console,
)
from vms_desktop.gui import palette
from vms_desktop.gui.bookmark_dialog import BookmarkDialog
from vms_desktop.gui.tasks import BackgroundTasks
from vms_desktop.gui.time_text import current_zone_label, utc_offset
from vms_desktop.gui.timeline_model import ExportRange, TimelineModel
from vms_desktop.gui.timeline_playhead import Playhead

log = logging.getLogger(__name__)

LANE_HEIGHT = 0.6
_MAX_DOTS = 2000  # clips read per stretch of the timeline
_REDRAW_DELAY_MS = 250
# A right click this share of the view's width from a bookmark's marker points at it.
_BOOKMARK_REACH = 0.015


class LocalTimeAxis(pg.DateAxisItem):  # type: ignore[misc]  # pyqtgraph has no types
    """A date axis in the operator's local time (offset from the same helper as every other
    time in the console), titled with the zone's name.
    """

    def __init__(self, orientation: str = "bottom") -> None:
        super().__init__(orientation=orientation)
        self.title = ""
        self.follow_zone()

    def follow_zone(self) -> None:
        """Take the local zone's offset and name now (they change with daylight saving time)."""
        now = datetime.now(UTC)
        # pyqtgraph counts the offset in seconds west of UTC, like time.timezone.
        self.utcOffset = -round(utc_offset(now).total_seconds())
        title = f"Time ({current_zone_label()})"
        if title != self.title:
            self.title = title
            self.setLabel(title)


class LaneViewBox(pg.ViewBox):  # type: ignore[misc]  # pyqtgraph has no types
    """The timeline's view: a drag pans it, a drag with Shift held selects a stretch of time,
    a left click tells where it landed, and :attr:`on_context` hears where (in plot
    coordinates) the context menu was asked for, before the menu shows, so the menu's actions
    can depend on the place.
    """

    # (x where the drag began, y where it began, x where it is now, whether it ended)
    selecting = Signal(float, float, float, bool)
    clicked = Signal(float, float, bool)  # x, y, whether Ctrl was held

    def __init__(self) -> None:
        super().__init__()
        self.on_context: Callable[[float, float], None] | None = None

    def mouseDragEvent(self, ev: Any, axis: int | None = None) -> None:
        shift = bool(ev.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        if ev.button() != Qt.MouseButton.LeftButton or not shift:
            super().mouseDragEvent(ev, axis)
            return
        ev.accept()
        began: QPointF = self.mapSceneToView(ev.buttonDownScenePos())
        here: QPointF = self.mapSceneToView(ev.scenePos())
        self.selecting.emit(began.x(), began.y(), here.x(), bool(ev.isFinish()))

    def mouseClickEvent(self, ev: Any) -> None:  # pyqtgraph calls it by this name
        if ev.button() != Qt.MouseButton.LeftButton:
            super().mouseClickEvent(ev)
            return
        ev.accept()
        point: QPointF = self.mapSceneToView(ev.scenePos())
        ctrl = bool(ev.modifiers() & Qt.KeyboardModifier.ControlModifier)
        self.clicked.emit(point.x(), point.y(), ctrl)

    def raiseContextMenu(self, ev: Any) -> None:  # pyqtgraph calls it by this name
        if self.on_context is not None:
            point = self.mapSceneToView(ev.scenePos())
            self.on_context(point.x(), point.y())
        super().raiseContextMenu(ev)


class TimelinePlot(QWidget):
    """One lane per camera: blue where footage is buffered, dots where events happened, stars
    where bookmarks are (gold when they protect their footage; the note shows on hover).

    Pan and zoom along time with the mouse; clicking an event's dot asks for its clip; clicking
    elsewhere on a lane asks for that camera's archive at that moment (with Ctrl held: adds the
    camera to the synchronized view); the playhead marks the moment played and dragging it
    scrubs; a drag along a lane with Shift held exports that stretch as a clip; the context
    menu bookmarks the moment under the pointer, or deletes the bookmark there. What is drawn
    is :attr:`model`'s state.
    """

    event_clicked = Signal(str)  # event id
    archive_requested = Signal(str, float, bool)  # camera id, moment, add to the view played
    scrubbing = Signal(float, bool)  # moment of the dragged playhead, whether the drag ended
    notice = Signal(str)  # a line for the status bar (an export or a bookmark refused, ...)

    def __init__(
        self,
        console: Console,
        parent: QWidget | None = None,
        refresh_ms: int = 2000,
    ) -> None:
        super().__init__(parent)
        self.console = console
        self.model = TimelineModel([camera.id for camera in console.cameras])
        self.camera_ids = self.model.camera_ids
        self.draws = 0  # how often the event dots were drawn (they are drawn once per burst)
        self.axis = LocalTimeAxis()
        self.view_box = LaneViewBox()
        self.plot = pg.PlotWidget(viewBox=self.view_box, axisItems={"bottom": self.axis})
        self.plot.setBackground(palette.PLOT_BACKGROUND)
        self.plot.showGrid(x=True, y=False, alpha=0.2)
        self.plot.setMouseEnabled(x=True, y=False)
        self.plot.getPlotItem().hideButtons()
        left = self.plot.getAxis("left")
        left.setTicks([[(i, cam) for i, cam in enumerate(self.camera_ids)]])
        self.plot.setYRange(-0.8, max(0.8, len(self.camera_ids) - 0.2))
        self._footage = pg.BarGraphItem(
            x0=[], x1=[], y=[], height=LANE_HEIGHT, brush=palette.FOOTAGE, pen=None
        )
        self._events = pg.ScatterPlotItem(
            size=11, brush=palette.EVENT, pen=pg.mkPen(palette.DOT_OUTLINE, width=1)
        )
        self._pending = pg.ScatterPlotItem(
            size=11, brush=palette.PENDING, symbol="t", pen=pg.mkPen(palette.DOT_OUTLINE, width=1)
        )
        self._now = pg.InfiniteLine(
            angle=90, pen=pg.mkPen(palette.PLOT_MARK, width=1, style=Qt.PenStyle.DashLine)
        )
        self._bookmarks = pg.ScatterPlotItem(
            size=14,
            symbol="star",
            pen=pg.mkPen(palette.DOT_OUTLINE, width=1),
            hoverable=True,
            tip=lambda x, y, data: self.bookmark_tooltip(str(data)),
        )
        shade = QColor(palette.PENDING)
        shade.setAlpha(70)
        self._selection = pg.LinearRegionItem(movable=False, brush=pg.mkBrush(shade))
        self._selection.hide()
        for item in (
            self._footage,
            self._events,
            self._pending,
            self._bookmarks,
            self._now,
            self._selection,
        ):
            self.plot.addItem(item)
        self._events.sigClicked.connect(self._on_points_clicked)
        self.view_box.selecting.connect(self._on_selecting)
        self.view_box.clicked.connect(self._on_lane_clicked)
        self.playhead = Playhead(self.plot, LANE_HEIGHT)
        self.playhead.scrubbing.connect(self.scrubbing)
        # Where the context menu was asked for: a camera and a moment, and a bookmark there.
        self.context_place: tuple[str, float] | None = None
        self.context_bookmark: Bookmark | None = None
        self.bookmark_dialog: BookmarkDialog | None = None
        menu = self.view_box.menu
        menu.addSeparator()
        self.bookmark_action = QAction("Bookmark here...", menu)
        self.bookmark_action.triggered.connect(self._on_bookmark_here)
        self.delete_bookmark_action = QAction("Delete bookmark", menu)
        self.delete_bookmark_action.triggered.connect(self._on_delete_bookmark_here)
        menu.addAction(self.bookmark_action)
        menu.addAction(self.delete_bookmark_action)
        self.play_here_action = QAction("Play archive from here", menu)
        self.play_here_action.triggered.connect(lambda: self._on_archive_here(add=False))
        self.add_to_view_action = QAction("Add to synchronized view", menu)
        self.add_to_view_action.triggered.connect(lambda: self._on_archive_here(add=True))
        menu.addAction(self.play_here_action)
        menu.addAction(self.add_to_view_action)
        self.view_box.on_context = self.point_at
        self._reading: tuple[float, float] | None = None
        self._tasks = BackgroundTasks(1, self)
        self._footage_reads = BackgroundTasks(1, self)
        self._bookmark_tasks = BackgroundTasks(1, self)
        self.follow_now = True
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot)
        self._timer = QTimer(self)
        self._timer.timeout.connect(self._on_tick)
        self._timer.start(refresh_ms)
        # Job and catalogue changes come in bursts (every progress step of every clip): they
        # mark the dots stale and one redraw follows, instead of one per change.
        self._redraw = QTimer(self)
        self._redraw.setSingleShot(True)
        self._redraw.setInterval(_REDRAW_DELAY_MS)
        self._redraw.timeout.connect(self._draw_events)
        self.show_last(timedelta(minutes=5))
        self.plot.getViewBox().sigRangeChangedManually.connect(self._on_user_moved)

    def stop(self) -> None:
        """Stop redrawing (the window is closing)."""
        self._timer.stop()
        self._tasks.close()
        self._footage_reads.close()
        self._bookmark_tasks.close()

    def show_last(self, span: timedelta) -> None:
        """Show the last ``span`` up to now and keep following the present."""
        now = time.time()
        self.follow_now = True
        self.plot.setXRange(now - span.total_seconds(), now + 5, padding=0)
        self.refresh()

    def on_job(self, job: ClipJob) -> None:
        """A job moved: show it as pending until its clip is ready (progress draws nothing)."""
        if self.model.on_job(job):
            self._schedule_draw()

    def on_catalogue_changed(self, change: CatalogueChange) -> None:
        """Clips stored or deleted (here or by another console): show or drop their dots."""
        self.model.apply(change, reading=self._tasks.pending("clips"))
        self._schedule_draw()

    def drawn_event_ids(self) -> list[str]:
        """The event ids of the dots on screen now (stored clips)."""
        return [str(point.data()) for point in self._events.points()]

    def activate_event(self, event_id: str) -> None:
        """Ask for an event's clip, as clicking its dot does."""
        self.event_clicked.emit(event_id)

    def _schedule_draw(self) -> None:
        if self.isVisible() and not self._redraw.isActive():
            self._redraw.start()

    def _on_tick(self) -> None:
        # Hidden (another tab of its dock is on top): nothing to draw; showing it redraws.
        if self.isVisible():
            self.refresh()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.refresh()

    @property
    def clip_ids(self) -> frozenset[str]:
        """The event ids drawn as stored clips."""
        return frozenset(self.model.clips)

    def refresh(self) -> None:
        """Redraw pending events now; read the footage, and the catalogue when the view has
        moved past the stretch last read (both in the background).
        """
        now = time.time()
        if self.follow_now:
            start, end = self.plot.getViewBox().viewRange()[0]
            width = end - start
            self.plot.setXRange(now - width + 5, now + 5, padding=0)
        start, end = self.plot.getViewBox().viewRange()[0]
        self._now.setValue(now)
        self.axis.follow_zone()
        self._read_footage(start, end)
        self._read_bookmarks(start, end)
        reading = self._reading if self._tasks.pending("clips") else None
        if self.model.needs_read(start, end, reading):
            self._read_clips(start, end)
        self._draw_events()

    def _read_footage(self, start: float, end: float) -> None:
        console, camera_ids = self.console, self.camera_ids

        def read() -> dict[str, list[tuple[float, float]]]:
            return {camera_id: console.footage(camera_id, start, end) for camera_id in camera_ids}

        def done(spans: dict[str, list[tuple[float, float]]]) -> None:
            self.model.set_footage(spans)
            self._draw_footage()

        def failed(error: Exception) -> None:
            log.warning("timeline footage not refreshed: %s", error)

        self._footage_reads.submit(read, done, failed, key="footage")

    def _read_clips(self, start: float, end: float) -> None:
        wanted = self.model.span_to_read(start, end)
        console = self.console

        def read() -> list[ClipMeta]:
            page = console.clips(
                ClipQuery(
                    start=datetime.fromtimestamp(wanted[0], UTC),
                    end=datetime.fromtimestamp(wanted[1], UTC),
                    limit=_MAX_DOTS,
                )
            )
            return list(page.items)

        def done(items: list[ClipMeta]) -> None:
            self.model.clips_read(wanted, items)
            self._schedule_draw()

        def failed(error: Exception) -> None:  # the catalogue is busy or gone: keep the picture
            log.warning("timeline not refreshed: %s", error)

        if not self._tasks.pending("clips"):
            self.model.begin_read()
        self._reading = wanted
        self._tasks.submit(read, done, failed, key="clips")

    # ---- bookmarks -----------------------------------------------------------------------

    def drawn_bookmark_ids(self) -> list[str]:
        """The ids of the bookmarks on screen now."""
        return [str(point.data()) for point in self._bookmarks.points()]

    def point_at(self, x: float, y: float) -> None:
        """The context menu is asked for at plot point (x, y): offer what fits the place."""
        camera_id = self.model.camera_at(y)
        self.context_place = (camera_id, x) if camera_id is not None else None
        self.context_bookmark = None
        if camera_id is not None:
            start, end = self.view_box.viewRange()[0]
            reach = (end - start) * _BOOKMARK_REACH
            self.context_bookmark = self.model.bookmark_near(self.model.lanes[camera_id], x, reach)
        self.bookmark_action.setEnabled(self.context_place is not None)
        self.play_here_action.setEnabled(self.context_place is not None)
        self.add_to_view_action.setEnabled(self.context_place is not None)
        self.delete_bookmark_action.setVisible(self.context_bookmark is not None)

    def ask_bookmark(self, camera_id: str, when: float) -> BookmarkDialog:
        """Ask for a note and the protect choice, then bookmark ``when`` on ``camera_id``."""
        moment = datetime.fromtimestamp(when, UTC)
        dialog = BookmarkDialog(camera_id, moment, self)
        dialog.accepted.connect(
            lambda: self.add_bookmark(camera_id, moment, dialog.note, dialog.protect)
        )
        dialog.finished.connect(dialog.deleteLater)
        self.bookmark_dialog = dialog
        dialog.open()
        return dialog

    def add_bookmark(self, camera_id: str, moment: datetime, note: str, protect: bool) -> None:
        """Bookmark a moment (in the background), and draw it once stored."""
        console = self.console

        def add() -> Bookmark:
            return console.add_bookmark(camera_id, moment, note=note, protect=protect)

        def done(bookmark: Bookmark) -> None:
            self.model.bookmark_added(bookmark)
            self._draw_bookmarks()

        def failed(error: Exception) -> None:
            self.notice.emit(f"Bookmark on {camera_id} not saved: {operator_text(error)}")

        self._bookmark_tasks.submit(add, done, failed)

    def delete_bookmark(self, bookmark_id: str) -> None:
        """Delete a bookmark (in the background); its footage is no longer kept."""
        console = self.console

        def delete() -> Bookmark:
            return console.delete_bookmark(bookmark_id)

        def done(bookmark: Bookmark) -> None:
            self.model.bookmark_removed(bookmark.id)
            self._draw_bookmarks()

        def failed(error: Exception) -> None:
            self.model.bookmark_removed(bookmark_id)  # gone already, or kept for the next read
            self._draw_bookmarks()
            self.notice.emit(f"Bookmark not deleted: {operator_text(error)}")

        self._bookmark_tasks.submit(delete, done, failed)

    def _read_bookmarks(self, start: float, end: float) -> None:
        wanted = self.model.span_to_read(start, end)
        console, edits = self.console, self.model.bookmark_edits

        def read() -> list[Bookmark]:
            page = console.bookmarks(
                BookmarkQuery(
                    start=datetime.fromtimestamp(wanted[0], UTC),
                    end=datetime.fromtimestamp(wanted[1], UTC),
                    limit=_MAX_DOTS,
                )
            )
            return list(page.items)

        def done(items: list[Bookmark]) -> None:
            if self.model.bookmarks_read(items, edits):
                self._draw_bookmarks()

        def failed(error: Exception) -> None:
            log.warning("timeline bookmarks not refreshed: %s", error)

        self._bookmark_tasks.submit(read, done, failed, key="bookmarks")

    def _draw_bookmarks(self) -> None:
        self._bookmarks.setData(
            [
                {
                    # On the top edge of the lane, clear of the event dots in its middle.
                    "pos": (mark.when, mark.lane + LANE_HEIGHT / 2),
                    "data": mark.bookmark_id,
                    "brush": palette.BOOKMARK_PROTECTED if mark.protect else palette.BOOKMARK,
                }
                for mark in self.model.bookmark_marks()
            ]
        )

    def bookmark_tooltip(self, bookmark_id: str) -> str:
        """What hovering a bookmark's marker shows: its note, and whether it keeps footage."""
        bookmark = self.model.bookmarks.get(bookmark_id)
        if bookmark is None:
            return ""
        kept = "\n(footage kept until deleted)" if bookmark.protect else ""
        return (bookmark.note or "Bookmark") + kept

    def _on_bookmark_here(self) -> None:
        if self.context_place is not None:
            self.ask_bookmark(*self.context_place)

    def _on_delete_bookmark_here(self) -> None:
        if self.context_bookmark is not None:
            self.delete_bookmark(self.context_bookmark.id)

    def _draw_footage(self) -> None:
        bars = self.model.footage
        self._footage.setOpts(
            x0=[bar.start for bar in bars],
            x1=[bar.end for bar in bars],
            y=[bar.lane for bar in bars],
            height=LANE_HEIGHT,
        )

    def _draw_events(self) -> None:
        self.draws += 1
        self._events.setData(
            [{"pos": (dot.when, dot.lane), "data": dot.event_id} for dot in self.model.event_dots()]
        )
        self._pending.setData(
            [
                {"pos": (dot.when, dot.lane), "data": dot.event_id}
                for dot in self.model.pending_dots()
            ]
        )

    def export(self, chosen: ExportRange) -> None:
        """Ask for a clip of ``chosen`` (off the GUI thread); its job shows like any other."""
        console = self.console

        def request() -> ClipJob:
            return console.export_range(
                chosen.camera_id,
                datetime.fromtimestamp(chosen.start, UTC),
                datetime.fromtimestamp(chosen.end, UTC),
            )

        def done(job: ClipJob) -> None:
            self.on_job(job)
            self.notice.emit(f"Exporting {chosen.end - chosen.start:.1f} s of {chosen.camera_id}")

        def failed(error: Exception) -> None:
            self.notice.emit(f"Range of {chosen.camera_id} not exported: {operator_text(error)}")

        self._tasks.submit(request, done, failed)

    def _on_selecting(self, began_x: float, began_y: float, here_x: float, ended: bool) -> None:
        self._selection.setRegion(sorted((began_x, here_x)))
        self._selection.setVisible(not ended)
        if ended:
            chosen = self.model.export_range(began_y, began_x, here_x)
            if chosen is not None:
                self.export(chosen)

    def _on_user_moved(self, *args: object) -> None:
        self.follow_now = False

    # ---- archive -------------------------------------------------------------------------

    def show_played(self, camera_ids: list[str]) -> None:
        """The cameras the archive player plays (marked at the playhead); none hides it."""
        self.playhead.set_cameras(camera_ids, self.model.lanes)

    def show_moment(self, moment: float) -> None:
        """Draw the moment the archive player shows (the view follows it unless it follows
        the present).
        """
        self.playhead.set_moment(moment, follow=not self.follow_now)

    def _on_lane_clicked(self, x: float, y: float, add: bool) -> None:
        camera_id = self.model.camera_at(y)
        if camera_id is not None:
            self.archive_requested.emit(camera_id, x, add)

    def _on_archive_here(self, *, add: bool) -> None:
        if self.context_place is not None:
            self.archive_requested.emit(*self.context_place, add)

    def _on_points_clicked(self, item: object, points: list[pg.SpotItem], *args: object) -> None:
        if points:
            self.activate_event(str(points[0].data()))
