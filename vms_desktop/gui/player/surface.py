"""The player's picture: the decoded frame as large as fits, aspect kept, a message over it."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtGui import QImage, QPainter, QPaintEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

from vms_desktop.gui import palette
from vms_desktop.gui.pictures import fitted_rect, rgb_image


class VideoSurface(QWidget):
    """Paints the current picture as large as fits, aspect kept, black bars around it."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._image: QImage | None = None
        self._pixels: npt.NDArray[np.uint8] | None = None
        self._aspect = 4 / 3
        self._message = ""
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(160, 90)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)

    def sizeHint(self) -> QSize:
        return QSize(640, 480)

    @property
    def image(self) -> QImage | None:
        """The picture shown, at the clip's size."""
        return self._image

    @property
    def pixels(self) -> npt.NDArray[np.uint8] | None:
        """The RGB array behind :attr:`image`."""
        return self._pixels

    @property
    def message(self) -> str:
        """Text shown instead of (or over) the picture; empty when there is none."""
        return self._message

    def show_pixels(self, rgb: npt.NDArray[np.uint8], aspect: float) -> None:
        """Show an RGB array (height, width, 3); the surface keeps it, the image borrows it."""
        self._pixels = rgb
        self._image = rgb_image(rgb)
        self._aspect = aspect
        self._message = ""
        self.update()

    def show_message(self, text: str, *, keep_picture: bool = False) -> None:
        """Show ``text``; the picture stays underneath only if asked."""
        if not keep_picture:
            self._image = self._pixels = None
        self._message = text
        self.update()

    def picture_rect(self) -> QRect:
        """Where the picture is painted: centred, as large as fits with its aspect kept."""
        return fitted_rect(self._aspect, 1.0, self.rect()).toRect()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), Qt.GlobalColor.black)
        if self._image is not None:
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
            painter.drawImage(self.picture_rect(), self._image)
        if self._message:
            box = self.rect().adjusted(16, 16, -16, -16)
            flags = Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap
            bounds = painter.boundingRect(box, flags, self._message).adjusted(-10, -6, 10, 6)
            painter.fillRect(bounds, palette.MESSAGE_BOX)
            painter.setPen(palette.OVERLAY_TEXT)
            painter.drawText(box, flags, self._message)
        painter.end()
