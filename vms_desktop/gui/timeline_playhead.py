"""The timeline's playhead: the moment the archive player shows, drawn across its cameras' lanes,
and dragged to scrub.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import pyqtgraph as pg
from PySide6.QtCore import QObject, Signal

from vms_desktop.gui import palette
from vms_desktop.gui.time_text import local_time_text

# The view moves once the moment played comes this close (a share of its width) to an edge.
_EDGE = 0.05


class Playhead(QObject):
    """A movable line at the moment played, with a mark on the lane of each camera played.

    Dragging the line tells every position on the way (``scrubbing(moment, False)``) and the
    last (``scrubbing(moment, True)``); while it is dragged, the player's moments do not move
    it. When the moment played leaves a view that does not follow the present, the view
    follows it.
    """

    scrubbing = Signal(float, bool)  # moment, whether the drag ended

    def __init__(self, plot: pg.PlotWidget, lane_height: float) -> None:
        super().__init__(plot)
        self._plot = plot
        self._lane_height = lane_height
        self.line = pg.InfiniteLine(
            angle=90,
            movable=True,
            pen=pg.mkPen(palette.SELECTED, width=2),
            hoverPen=pg.mkPen(palette.SELECTED, width=4),
        )
        self.line.setZValue(20)
        self.line.hide()
        self.marks = pg.ScatterPlotItem(
            size=12, symbol="t", brush=palette.SELECTED, pen=pg.mkPen(palette.DOT_OUTLINE, width=1)
        )
        self.marks.setZValue(21)
        plot.addItem(self.line)
        plot.addItem(self.marks)
        self._lanes: list[int] = []
        self.line.sigDragged.connect(self._on_dragged)
        self.line.sigPositionChangeFinished.connect(self._on_drag_finished)

    @property
    def moment(self) -> float | None:
        """The moment drawn, or None when nothing is played."""
        return float(self.line.value()) if self.line.isVisible() else None

    @property
    def dragging(self) -> bool:
        """True while the operator drags the line."""
        return bool(self.line.moving)

    def set_cameras(self, camera_ids: Sequence[str], lanes: Mapping[str, int]) -> None:
        """The cameras played (their lanes get a mark); none hides the playhead."""
        self._lanes = [lanes[camera_id] for camera_id in camera_ids if camera_id in lanes]
        if not self._lanes:
            self.line.hide()
            self.marks.setData([])
        self._draw_marks()

    def set_moment(self, moment: float, *, follow: bool) -> None:
        """Draw the moment played; ``follow`` moves the view when it nears an edge."""
        if not self._lanes:
            return
        self.line.show()
        if not self.dragging:
            self.line.setValue(moment)
        when = local_time_text(datetime.fromtimestamp(moment, UTC), milliseconds=True)
        self.line.setToolTip(f"Playing {when}; drag to move through the archive")
        self._draw_marks()
        if follow and not self.dragging:
            start, end = self._plot.getViewBox().viewRange()[0]
            width = end - start
            if not start + width * _EDGE <= moment <= end - width * _EDGE:
                self._plot.setXRange(moment - width / 2, moment + width / 2, padding=0)

    def _draw_marks(self) -> None:
        if not self.line.isVisible():
            self.marks.setData([])
            return
        x = float(self.line.value())
        top = self._lane_height / 2
        self.marks.setData([{"pos": (x, lane + top)} for lane in self._lanes])

    def _on_dragged(self, *_: object) -> None:
        self._draw_marks()
        self.scrubbing.emit(float(self.line.value()), False)

    def _on_drag_finished(self, *_: object) -> None:
        self._draw_marks()
        self.scrubbing.emit(float(self.line.value()), True)
