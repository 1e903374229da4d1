"""The player's frame slider, with the event's moment marked on it."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QRect, Qt
from PySide6.QtGui import QMouseEvent, QPainter, QPaintEvent, QPen, QPolygon
from PySide6.QtWidgets import QSlider, QStyle, QStyleOptionSlider, QWidget

from vms_desktop.gui import palette


class EventSeekBar(QSlider):
    """A horizontal frame slider with the event's frame marked; clicking the groove jumps there."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(Qt.Orientation.Horizontal, parent)
        self._marker: int | None = None
        self.setMinimumHeight(26)
        self.setPageStep(15)

    @property
    def marker(self) -> int | None:
        """The frame marked as the event's moment, or None."""
        return self._marker

    def set_marker(self, value: int | None) -> None:
        self._marker = value
        self.update()

    def _geometry(self) -> tuple[QRect, QRect]:
        option = QStyleOptionSlider()
        self.initStyleOption(option)
        style = self.style()
        groove = style.subControlRect(
            QStyle.ComplexControl.CC_Slider, option, QStyle.SubControl.SC_SliderGroove, self
        )
        handle = style.subControlRect(
            QStyle.ComplexControl.CC_Slider, option, QStyle.SubControl.SC_SliderHandle, self
        )
        return groove, handle

    def value_x(self, value: int) -> int:
        """The x coordinate of the handle's centre when the slider shows ``value``."""
        groove, handle = self._geometry()
        span = max(0, groove.width() - handle.width())
        offset = QStyle.sliderPositionFromValue(self.minimum(), self.maximum(), value, span)
        return groove.x() + handle.width() // 2 + offset

    def marker_x(self) -> int | None:
        """The x coordinate the event marker is drawn at, or None without a marker."""
        return None if self._marker is None else self.value_x(self._marker)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        groove, handle = self._geometry()
        point = event.position().toPoint()
        if event.button() == Qt.MouseButton.LeftButton and not handle.contains(point):
            # Jump to the click instead of paging towards it: operators aim at a moment.
            span = max(1, groove.width() - handle.width())
            x = point.x() - groove.x() - handle.width() // 2
            self.setValue(QStyle.sliderValueFromPosition(self.minimum(), self.maximum(), x, span))
        super().mousePressEvent(event)

    def paintEvent(self, event: QPaintEvent) -> None:
        super().paintEvent(event)
        x = self.marker_x()
        if x is None:
            return
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(palette.EVENT, 2))
        painter.drawLine(x, 5, x, self.height() - 1)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(palette.EVENT)
        painter.drawPolygon(QPolygon([QPoint(x - 5, 0), QPoint(x + 5, 0), QPoint(x, 6)]))
        painter.end()
