"""The console's colours, named by what they mean (the same meaning has the same colour)."""

from __future__ import annotations

from PySide6.QtGui import QColor

EVENT = QColor(224, 72, 72)  # an event: timeline dots, the player's event marker
PENDING = QColor(230, 170, 60)  # a clip still being made; also the upload queue chart
FOOTAGE = QColor(47, 109, 181, 170)  # recorded footage on the timeline
BOOKMARK = QColor(120, 200, 255)  # a bookmark on the timeline
BOOKMARK_PROTECTED = QColor(255, 215, 0)  # a bookmark that keeps its footage
CHART_BARS = QColor(47, 109, 181)
CHART_STORAGE = QColor(80, 180, 120)
CAMERA_LINES = (
    QColor(224, 72, 72),
    QColor(47, 109, 181),
    QColor(80, 180, 120),
    QColor(230, 170, 60),
    QColor(170, 110, 210),
)
PLOT_BACKGROUND = QColor("#181b20")
PLOT_MARK = QColor("#e0e0e0")  # the timeline's "now" line
DOT_OUTLINE = QColor("#ffffff")
ERROR_TEXT = QColor("#b00020")

VIDEO_BACKGROUND = QColor(18, 18, 20)  # an empty live tile
GRID_BACKGROUND = QColor(0, 0, 0)  # between the live tiles
OVERLAY_BAR = QColor(0, 0, 0, 150)  # behind a tile's name and state lines
DIMMED = QColor(0, 0, 0, 150)  # over a picture that is not live
MESSAGE_BOX = QColor(0, 0, 0, 190)  # behind a message over a picture
OVERLAY_TEXT = QColor(235, 235, 235)
MUTED_TEXT = QColor(150, 150, 155)
RECORDING = QColor(220, 30, 30)
WARNING_TEXT = QColor(255, 190, 60)
SELECTED = QColor(64, 156, 255)
