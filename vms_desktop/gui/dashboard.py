"""The dashboard: clips per hour over a day, storage used, upload queue and camera frame rates
(pyqtgraph), sampled off the GUI thread.
"""

from __future__ import annotations

import logging
from collections import deque
from datetime import UTC, datetime, timedelta

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QGridLayout, QWidget

from vms_desktop.engine.console_port import Console, DashboardFigures
from vms_desktop.gui import palette
from vms_desktop.gui.tasks import BackgroundTasks
from vms_desktop.gui.timeline import LocalTimeAxis

log = logging.getLogger(__name__)


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
