"""The archive player's scrub bar: a window of time around the moment, its footage, a playhead."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import QMouseEvent, QPainter, QPaintEvent, QPen, QWheelEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

from vms_desktop.domain.recording import TimeRange
from vms_desktop.gui import palette
from vms_desktop.gui.time_text import local_time_text

# Window widths the wheel steps through (seconds).
WINDOWS = (60.0, 300.0, 900.0, 3600.0, 4 * 3600.0)
DEFAULT_WINDOW = 300.0
# The window moves once the moment leaves its middle part (this share of it on each side).
_MARGIN = 0.1
_LABEL_HEIGHT = 14


class ArchiveScrubBar(QWidget):
    """A strip over ``[start, end)``: recorded stretches per camera, and the moment as a line.

    Pressing or dragging on it tells the moment under the pointer (``scrubbed``), releasing
    tells the last one (``scrub_finished``); the wheel widens or narrows the window.
    """

    scrubbed = Signal(float)
    scrub_finished = Signal(float)
    window_changed = Signal(float, float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._width = DEFAULT_WINDOW
        self._start = 0.0
        self._moment: float | None = None
        self._coverage: dict[str, tuple[TimeRange, ...]] = {}
        self._order: list[str] = []
        self.dragging = False
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setMinimumHeight(34)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setToolTip("Click or drag to move through the archive; the wheel zooms")
        self.setAccessibleName("Archive scrub bar")

    def sizeHint(self) -> QSize:
        return QSize(400, 36)

    # ---- state -------------------------------------------------------------------------

    @property
    def span(self) -> tuple[float, float]:
        """The stretch of time shown (epoch seconds)."""
        return self._start, self._start + self._width

    @property
    def moment(self) -> float | None:
        """The moment marked, if any."""
        return self._moment

    def set_moment(self, moment: float | None, *, centre: bool = False) -> None:
        """Mark ``moment``; the window moves when it leaves the middle (or ``centre``)."""
        self._moment = moment
        if moment is not None and not self.dragging:
            start, end = self.span
            margin = self._width * _MARGIN
            if centre or not start + margin <= moment <= end - margin:
                self._move_to(moment - self._width / 2)
        self.update()

    def set_cameras(self, camera_ids: Sequence[str]) -> None:
        """The cameras whose footage is drawn, one row each, in order."""
        self._order = list(camera_ids)
        self._coverage = {key: value for key, value in self._coverage.items() if key in camera_ids}
        self.update()

    def set_coverage(self, ranges: Mapping[str, Sequence[TimeRange]]) -> None:
        """The recorded stretches of each camera within (at least) the window."""
        self._coverage.update({camera_id: tuple(spans) for camera_id, spans in ranges.items()})
        self.update()

    def recorded_ranges(self, camera_id: str) -> tuple[TimeRange, ...]:
        """The stretches drawn for a camera."""
        return self._coverage.get(camera_id, ())

    def zoom(self, steps: int) -> None:
        """Narrow (positive ``steps``) or widen the window, keeping the moment in its middle."""
        index = WINDOWS.index(self._width) if self._width in WINDOWS else WINDOWS.index(300.0)
        index = max(0, min(len(WINDOWS) - 1, index - steps))
        self._width = WINDOWS[index]
        centre = self._moment if self._moment is not None else self._start + self._width / 2
        self._move_to(centre - self._width / 2)

    def _move_to(self, start: float) -> None:
        self._start = start
        self.window_changed.emit(*self.span)
        self.update()

    # ---- geometry ----------------------------------------------------------------------

    def _strip(self) -> QRectF:
        return QRectF(self.rect()).adjusted(1, 1, -1, -_LABEL_HEIGHT)

    def x_of(self, moment: float) -> float:
        """The x coordinate of ``moment`` on the bar."""
        strip = self._strip()
        return strip.left() + (moment - self._start) / self._width * strip.width()

    def moment_at(self, x: float) -> float:
        """The moment under the x coordinate ``x`` (clamped to the window)."""
        strip = self._strip()
        share = (x - strip.left()) / max(1.0, strip.width())
        return self._start + min(1.0, max(0.0, share)) * self._width

    # ---- input -------------------------------------------------------------------------

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() is Qt.MouseButton.LeftButton:
            self.dragging = True
            self._moment = self.moment_at(event.position().x())
            self.scrubbed.emit(self._moment)
            self.update()
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self.dragging:
            self._moment = self.moment_at(event.position().x())
            self.scrubbed.emit(self._moment)
            self.update()
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self.dragging and event.button() is Qt.MouseButton.LeftButton:
            self.dragging = False
            moment = self.moment_at(event.position().x())
            self._moment = moment
            self.scrub_finished.emit(moment)
            self.update()
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def wheelEvent(self, event: QWheelEvent) -> None:
        steps = event.angleDelta().y() // 120
        if steps:
            self.zoom(steps)
        event.accept()

    # ---- painting ----------------------------------------------------------------------

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        try:
            strip = self._strip()
            painter.fillRect(self.rect(), palette.PLOT_BACKGROUND)
            rows = max(1, len(self._order))
            row_height = strip.height() / rows
            for row, camera_id in enumerate(self._order):
                top = strip.top() + row * row_height
                for part in self._coverage.get(camera_id, ()):
                    left = max(strip.left(), self.x_of(part.start))
                    right = min(strip.right(), self.x_of(part.end))
                    if right > left:
                        painter.fillRect(
                            QRectF(left, top + 1, max(1.0, right - left), row_height - 2),
                            palette.FOOTAGE,
                        )
            self._paint_labels(painter)
            if self._moment is not None and self._start <= self._moment <= self.span[1]:
                x = self.x_of(self._moment)
                painter.setPen(QPen(palette.SELECTED, 2))
                painter.drawLine(round(x), round(strip.top()), round(x), round(strip.bottom()))
        finally:
            painter.end()

    def _paint_labels(self, painter: QPainter) -> None:
        painter.setPen(palette.MUTED_TEXT)
        font = painter.font()
        font.setPointSizeF(max(6.0, font.pointSizeF() * 0.8))
        painter.setFont(font)
        box = QRectF(4, self.height() - _LABEL_HEIGHT, self.width() - 8, _LABEL_HEIGHT)
        start, end = self.span
        for moment, align in (
            (start, Qt.AlignmentFlag.AlignLeft),
            (end, Qt.AlignmentFlag.AlignRight),
        ):
            text = local_time_text(datetime.fromtimestamp(moment, UTC), date=False)
            painter.drawText(box, int(align | Qt.AlignmentFlag.AlignVCenter), text)
        minutes = self._width / 60
        span = f"{minutes:g} min" if minutes < 60 else f"{minutes / 60:g} h"
        painter.drawText(box, int(Qt.AlignmentFlag.AlignCenter), span)
