"""Timeline of buffered footage and events per camera, and the dashboard charts (pyqtgraph).

Both read the catalogue only off the GUI thread; the buffer's segment list is in memory.
Time axes show local time, their title names the zone.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import QGridLayout, QVBoxLayout, QWidget

from vms_desktop.domain.clip import ClipJob, ClipMeta, ClipStatus
from vms_desktop.domain.clip_query import ClipQuery
from vms_desktop.engine.clip_service import ClipService
from vms_desktop.engine.recorder import Recorder
from vms_desktop.gui.tasks import BackgroundTasks
from vms_desktop.gui.time_text import current_zone_label, utc_offset
from vms_desktop.storage.clip_index import CatalogueChange

log = logging.getLogger(__name__)

LANE_HEIGHT = 0.6
_MAX_DOTS = 2000  # clips read per stretch of the timeline
_REDRAW_DELAY_MS = 250
_FOOTAGE = (47, 109, 181, 170)
_EVENT = (224, 72, 72)
_PENDING = (230, 170, 60)


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


def merged_spans(spans: list[tuple[float, float]], tolerance: float = 0.5) -> list[list[float]]:
    """Consecutive segments joined into continuous stretches of footage."""
    merged: list[list[float]] = []
    for start, end in sorted(spans):
        if merged and start - merged[-1][1] <= tolerance:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return merged


class TimelinePlot(QWidget):
    """One lane per camera: blue where footage is buffered, dots where events happened.

    Pan and zoom along time with the mouse; clicking an event's dot asks for its clip.
    """

    event_clicked = Signal(str)  # event id

    def __init__(
        self,
        recorder: Recorder,
        service: ClipService,
        parent: QWidget | None = None,
        refresh_ms: int = 2000,
    ) -> None:
        super().__init__(parent)
        self.recorder = recorder
        self.service = service
        self.camera_ids = sorted(recorder.cameras)
        self.axis = LocalTimeAxis()
        self.plot = pg.PlotWidget(axisItems={"bottom": self.axis})
        self.plot.setBackground("#181b20")
        self.plot.showGrid(x=True, y=False, alpha=0.2)
        self.plot.setMouseEnabled(x=True, y=False)
        self.plot.getPlotItem().hideButtons()
        left = self.plot.getAxis("left")
        left.setTicks([[(i, cam) for i, cam in enumerate(self.camera_ids)]])
        self.plot.setYRange(-0.8, max(0.8, len(self.camera_ids) - 0.2))
        self._footage = pg.BarGraphItem(
            x0=[], x1=[], y=[], height=LANE_HEIGHT, brush=_FOOTAGE, pen=None
        )
        self._events = pg.ScatterPlotItem(size=11, brush=_EVENT, pen=pg.mkPen("#ffffff", width=1))
        self._pending = pg.ScatterPlotItem(
            size=11, brush=_PENDING, symbol="t", pen=pg.mkPen("#ffffff", width=1)
        )
        self._now = pg.InfiniteLine(
            angle=90, pen=pg.mkPen("#e0e0e0", width=1, style=Qt.PenStyle.DashLine)
        )
        for item in (self._footage, self._events, self._pending, self._now):
            self.plot.addItem(item)
        self._events.sigClicked.connect(self._on_points_clicked)
        self._live: dict[str, ClipJob] = {}
        # Clips of the stretch last read from the catalogue (wider than the view, so panning a
        # little needs no new read), kept up to date by the catalogue's change notices.
        self._clips: dict[str, ClipMeta] = {}
        self._read_span: tuple[float, float] | None = None
        self._reading: tuple[float, float] | None = None
        # Changes noticed while a read is under way: the read may predate them.
        self._noticed: list[CatalogueChange] = []
        self._tasks = BackgroundTasks(1, self)
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

    def show_last(self, span: timedelta) -> None:
        """Show the last ``span`` up to now and keep following the present."""
        now = time.time()
        self.follow_now = True
        self.plot.setXRange(now - span.total_seconds(), now + 5, padding=0)
        self.refresh()

    def on_job(self, job: ClipJob) -> None:
        """A job moved: show it as pending until its clip is ready (progress draws nothing)."""
        known = self._live.get(job.event.id)
        if job.status.finished:
            self._live.pop(job.event.id, None)
        else:
            self._live[job.event.id] = job
        failed_now = job.status is ClipStatus.FAILED
        if known is None or job.status.finished or failed_now:
            self._schedule_draw()

    def on_catalogue_changed(self, change: CatalogueChange) -> None:
        """Clips stored or deleted (here or by another console): show or drop their dots."""
        if self._tasks.pending("clips"):
            self._noticed.append(change)
        self._apply(change)
        self._schedule_draw()

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

    def _apply(self, change: CatalogueChange) -> None:
        span = self._read_span
        for meta in (*change.added, *change.updated):
            moment = meta.event.timestamp.timestamp()
            if span is not None and span[0] <= moment < span[1]:
                self._clips[meta.event_id] = meta
        for meta in change.removed:
            self._clips.pop(meta.event_id, None)

    @property
    def clip_ids(self) -> frozenset[str]:
        """The event ids drawn as stored clips."""
        return frozenset(self._clips)

    def refresh(self) -> None:
        """Redraw footage and pending events now; read the catalogue (in the background) when
        the view has moved past the stretch last read.
        """
        now = time.time()
        if self.follow_now:
            start, end = self.plot.getViewBox().viewRange()[0]
            width = end - start
            self.plot.setXRange(now - width + 5, now + 5, padding=0)
        start, end = self.plot.getViewBox().viewRange()[0]
        self._now.setValue(now)
        self.axis.follow_zone()
        self._draw_footage(start, end)
        span = self._reading if self._tasks.pending("clips") else self._read_span
        if span is None or start < span[0] or end > span[1]:
            self._read_clips(start, end)
        self._draw_events()

    def _read_clips(self, start: float, end: float) -> None:
        width = end - start
        wanted = (start - width, end + width)
        service = self.service

        def read() -> list[ClipMeta]:
            page = service.clips(
                ClipQuery(
                    start=datetime.fromtimestamp(wanted[0], UTC),
                    end=datetime.fromtimestamp(wanted[1], UTC),
                    limit=_MAX_DOTS,
                )
            )
            return list(page.items)

        def done(items: list[ClipMeta]) -> None:
            self._clips = {meta.event_id: meta for meta in items}
            self._read_span = wanted
            noticed, self._noticed = self._noticed, []
            for change in noticed:
                self._apply(change)
            self._schedule_draw()

        def failed(error: Exception) -> None:  # the catalogue is busy or gone: keep the picture
            log.warning("timeline not refreshed: %s", error)

        if not self._tasks.pending("clips"):
            self._noticed = []
        self._reading = wanted
        self._tasks.submit(read, done, failed, key="clips")

    def _draw_footage(self, start: float, end: float) -> None:
        lanes = {cam: i for i, cam in enumerate(self.camera_ids)}
        x0: list[float] = []
        x1: list[float] = []
        ys: list[float] = []
        for camera_id, lane in lanes.items():
            spans = [(s.start, s.end) for s in self.recorder.buffer(camera_id).covering(start, end)]
            for span_start, span_end in merged_spans(spans):
                x0.append(span_start)
                x1.append(span_end)
                ys.append(lane)
        self._footage.setOpts(x0=x0, x1=x1, y=ys, height=LANE_HEIGHT)

    def _draw_events(self) -> None:
        lanes = {cam: i for i, cam in enumerate(self.camera_ids)}
        points = [
            {"pos": (m.event.timestamp.timestamp(), lanes[m.event.camera_id]), "data": m.event_id}
            for m in self._clips.values()
            if m.event.camera_id in lanes
        ]
        self._events.setData(points)
        pending = [
            {"pos": (j.event.timestamp.timestamp(), lanes[j.event.camera_id]), "data": j.event.id}
            for j in self._live.values()
            if j.event.camera_id in lanes and j.status is not ClipStatus.FAILED
        ]
        self._pending.setData(pending)

    def _on_user_moved(self, *args: object) -> None:
        self.follow_now = False

    def _on_points_clicked(self, item: object, points: list[pg.SpotItem], *args: object) -> None:
        if points:
            self.event_clicked.emit(str(points[0].data()))


@dataclass(frozen=True)
class _Sample:
    when: float
    stored_bytes: int
    queue: int
    fps: dict[str, float]
    per_hour: dict[int, int]


class DashboardPanel(QWidget):
    """Charts: clips per hour (24 h), storage used, upload queue and camera frame rates."""

    sampled = Signal()  # a sample arrived and the charts show it

    HISTORY = 300  # samples kept (10 minutes at one every 2 s)

    def __init__(
        self,
        recorder: Recorder,
        service: ClipService,
        parent: QWidget | None = None,
        refresh_ms: int = 2000,
    ) -> None:
        super().__init__(parent)
        self.recorder = recorder
        self.service = service
        self._times: deque[float] = deque(maxlen=self.HISTORY)
        self._storage: deque[float] = deque(maxlen=self.HISTORY)
        self._queue: deque[float] = deque(maxlen=self.HISTORY)
        self._fps: dict[str, deque[float]] = {
            cam: deque(maxlen=self.HISTORY) for cam in sorted(recorder.cameras)
        }
        self.per_hour = self._plot("Clips per hour (24 h)", date_axis=True)
        self._hour_bars = pg.BarGraphItem(x=[], height=[], width=3000, brush=(47, 109, 181))
        self.per_hour.addItem(self._hour_bars)
        self.storage = self._plot("Storage used (MB)", date_axis=True)
        self._storage_curve = self.storage.plot(pen=pg.mkPen((80, 180, 120), width=2))
        self.queue = self._plot("Upload queue", date_axis=True)
        self._queue_curve = self.queue.plot(pen=pg.mkPen((230, 170, 60), width=2), stepMode=None)
        self.fps = self._plot("Camera fps", date_axis=True)
        self.fps.addLegend(offset=(5, 5))
        colours = [(224, 72, 72), (47, 109, 181), (80, 180, 120), (230, 170, 60), (170, 110, 210)]
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
        plot.setBackground("#181b20")
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
        index, service, recorder = self.service.index, self.service, self.recorder

        def measure() -> _Sample:
            now = time.time()
            return _Sample(
                when=now,
                stored_bytes=index.total_bytes(),
                queue=service.upload_queue(),
                fps={status.camera_id: status.fps for status in recorder.status()},
                per_hour=index.counts_per_hour(datetime.now(UTC) - timedelta(hours=24)),
            )

        def failed(error: Exception) -> None:
            log.warning("dashboard not refreshed: %s", error)

        self._tasks.submit(measure, self._draw, failed, key="sample")

    def _draw(self, sample: _Sample) -> None:
        now = sample.when
        self._times.append(now)
        self._storage.append(sample.stored_bytes / 1e6)
        self._queue.append(float(sample.queue))
        for camera_id, fps in sample.fps.items():
            if camera_id in self._fps:
                self._fps[camera_id].append(fps)
        times = np.fromiter(self._times, float)
        self._storage_curve.setData(times, np.fromiter(self._storage, float))
        self._queue_curve.setData(times, np.fromiter(self._queue, float))
        for cam, curve in self._fps_curves.items():
            values = np.fromiter(self._fps[cam], float)
            curve.setData(times[-len(values) :], values)
        hours = sample.per_hour
        self._hour_bars.setOpts(
            x=[h / 1000 + 1800 for h in hours], height=list(hours.values()), width=3000
        )
        self.per_hour.setXRange(now - 24 * 3600, now, padding=0.01)
        for plot in (self.per_hour, self.storage, self.queue, self.fps):
            axis = plot.getAxis("bottom")
            if isinstance(axis, LocalTimeAxis):
                axis.follow_zone()
        self.sampled.emit()
