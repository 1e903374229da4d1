"""Timeline of buffered footage and events per camera, and the dashboard charts (pyqtgraph).

Both read the catalogue only off the GUI thread; the buffer's segment list is in memory.
Time axes show local time, their title names the zone.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QShowEvent
from PySide6.QtWidgets import QGridLayout, QVBoxLayout, QWidget

from vms_desktop.domain.clip import ClipJob, ClipMeta
from vms_desktop.domain.clip_query import ClipQuery
from vms_desktop.domain.errors import operator_text
from vms_desktop.engine.console_port import CatalogueChange, Console, DashboardFigures
from vms_desktop.gui import palette
from vms_desktop.gui.tasks import BackgroundTasks
from vms_desktop.gui.time_text import current_zone_label, utc_offset
from vms_desktop.gui.timeline_model import ExportRange, TimelineModel

log = logging.getLogger(__name__)

LANE_HEIGHT = 0.6
_MAX_DOTS = 2000  # clips read per stretch of the timeline
_REDRAW_DELAY_MS = 250


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
    """The timeline's view: a drag pans it, a drag with Shift held selects a stretch of time."""

    # (x where the drag began, y where it began, x where it is now, whether it ended)
    selecting = Signal(float, float, float, bool)

    def mouseDragEvent(self, ev: Any, axis: int | None = None) -> None:
        shift = bool(ev.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        if ev.button() != Qt.MouseButton.LeftButton or not shift:
            super().mouseDragEvent(ev, axis)
            return
        ev.accept()
        began: QPointF = self.mapSceneToView(ev.buttonDownScenePos())
        here: QPointF = self.mapSceneToView(ev.scenePos())
        self.selecting.emit(began.x(), began.y(), here.x(), bool(ev.isFinish()))


class TimelinePlot(QWidget):
    """One lane per camera: blue where footage is buffered, dots where events happened.

    Pan and zoom along time with the mouse; clicking an event's dot asks for its clip; a drag
    along a lane with Shift held exports that stretch as a clip. What is drawn is
    :attr:`model`'s state.
    """

    event_clicked = Signal(str)  # event id
    notice = Signal(str)  # a line for the status bar (an export accepted or refused)

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
        self.view = LaneViewBox()
        self.plot = pg.PlotWidget(axisItems={"bottom": self.axis}, viewBox=self.view)
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
        shade = QColor(palette.PENDING)
        shade.setAlpha(70)
        self._selection = pg.LinearRegionItem(movable=False, brush=pg.mkBrush(shade))
        self._selection.hide()
        for item in (self._footage, self._events, self._pending, self._now, self._selection):
            self.plot.addItem(item)
        self._events.sigClicked.connect(self._on_points_clicked)
        self.view.selecting.connect(self._on_selecting)
        self._reading: tuple[float, float] | None = None
        self._tasks = BackgroundTasks(1, self)
        self._footage_reads = BackgroundTasks(1, self)
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

    def _on_points_clicked(self, item: object, points: list[pg.SpotItem], *args: object) -> None:
        if points:
            self.activate_event(str(points[0].data()))


class DashboardPanel(QWidget):
    """Charts: clips per hour (24 h), storage used, upload queue and camera frame rates."""

    sampled = Signal()  # a sample arrived and the charts show it

    HISTORY = 300  # samples kept (10 minutes at one every 2 s)

    def __init__(
        self,
        console: Console,
        parent: QWidget | None = None,
        refresh_ms: int = 2000,
    ) -> None:
        super().__init__(parent)
        self.console = console
        self._times: deque[float] = deque(maxlen=self.HISTORY)
        self._storage: deque[float] = deque(maxlen=self.HISTORY)
        self._queue: deque[float] = deque(maxlen=self.HISTORY)
        self._fps: dict[str, deque[float]] = {
            camera.id: deque(maxlen=self.HISTORY) for camera in console.cameras
        }
        self.per_hour = self._plot("Clips per hour (24 h)", date_axis=True)
        self._hour_bars = pg.BarGraphItem(x=[], height=[], width=3000, brush=palette.CHART_BARS)
        self.per_hour.addItem(self._hour_bars)
        self.storage = self._plot("Storage used (MB)", date_axis=True)
        self._storage_curve = self.storage.plot(pen=pg.mkPen(palette.CHART_STORAGE, width=2))
        self.queue = self._plot("Upload queue", date_axis=True)
        self._queue_curve = self.queue.plot(pen=pg.mkPen(palette.PENDING, width=2), stepMode=None)
        self.fps = self._plot("Camera fps", date_axis=True)
        self.fps.addLegend(offset=(5, 5))
        colours = palette.CAMERA_LINES
        self._fps_curves = {
            cam: self.fps.plot(name=cam, pen=pg.mkPen(colours[i % len(colours)], width=2))
            for i, cam in enumerate(self._fps)
        }
        self._tasks = BackgroundTasks(1, self)
        layout = QGridLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.per_hour, 0, 0)
        layout.addWidget(self.storage, 0, 1)
        layout.addWidget(self.queue, 1, 0)
        layout.addWidget(self.fps, 1, 1)
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.sample)
        self._timer.start(refresh_ms)
        self.sample()

    def _plot(self, title: str, *, date_axis: bool) -> pg.PlotWidget:
        axis = {"bottom": LocalTimeAxis()} if date_axis else {}
        plot = pg.PlotWidget(axisItems=axis, title=title)
        plot.setBackground(palette.PLOT_BACKGROUND)
        plot.showGrid(x=True, y=True, alpha=0.15)
        plot.setMouseEnabled(x=False, y=False)
        plot.getPlotItem().hideButtons()
        return plot

    def stop(self) -> None:
        """Stop sampling (the window is closing)."""
        self._timer.stop()
        self._tasks.close()

    def sample(self) -> None:
        """Take one sample of every series (off the GUI thread) and redraw when it is in."""
        console = self.console

        def measure() -> DashboardFigures:
            return console.dashboard_figures(datetime.now(UTC) - timedelta(hours=24))

        def failed(error: Exception) -> None:
            log.warning("dashboard not refreshed: %s", error)

        self._tasks.submit(measure, self._draw, failed, key="sample")

    def _draw(self, sample: DashboardFigures) -> None:
        now = sample.when
        self._times.append(now)
        self._storage.append(sample.stored_bytes / 1e6)
        self._queue.append(float(sample.upload_queue))
        for camera_id, fps in sample.fps.items():
            if camera_id in self._fps:
                self._fps[camera_id].append(fps)
        times = np.fromiter(self._times, float)
        self._storage_curve.setData(times, np.fromiter(self._storage, float))
        self._queue_curve.setData(times, np.fromiter(self._queue, float))
        for cam, curve in self._fps_curves.items():
            values = np.fromiter(self._fps[cam], float)
            curve.setData(times[-len(values) :], values)
        hours = sample.clips_per_hour
        self._hour_bars.setOpts(
            x=[h / 1000 + 1800 for h in hours], height=list(hours.values()), width=3000
        )
        self.per_hour.setXRange(now - 24 * 3600, now, padding=0.01)
        for plot in (self.per_hour, self.storage, self.queue, self.fps):
            axis = plot.getAxis("bottom")
            if isinstance(axis, LocalTimeAxis):
                axis.follow_zone()
        self.sampled.emit()
