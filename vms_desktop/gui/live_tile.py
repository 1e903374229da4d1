"""One camera's live tile: its newest preview picture with name, state and rates, or its archive."""

from __future__ import annotations

import time

from PySide6.QtCore import QPoint, QRect, QRectF, QSize, Qt, QTimer, Signal, Slot
from PySide6.QtGui import (
    QContextMenuEvent,
    QFocusEvent,
    QFont,
    QFontMetrics,
    QGuiApplication,
    QHideEvent,
    QImage,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPalette,
    QPen,
    QResizeEvent,
    QShowEvent,
)
from PySide6.QtWidgets import QSizePolicy, QWidget

from vms_desktop.domain.camera import CameraConfig, CameraState, CameraStatus
from vms_desktop.engine.console_port import (
    DEFAULT_PREVIEW_FPS,
    LiveFeed,
    LiveLease,
    PreviewPicture,
)
from vms_desktop.gui import palette
from vms_desktop.gui.pictures import fitted_rect, rgb_image
from vms_desktop.gui.player.archive_player import ArchivePlayer

_STATE_TEXT = {
    CameraState.CONNECTING: "connecting",
    CameraState.RECORDING: "recording",
    CameraState.RECONNECTING: "reconnecting",
    CameraState.OFFLINE: "offline",
    CameraState.AUTH_FAILED: "auth failed",
    CameraState.STOPPED: "stopped",
}
_SELECTED_WIDTH = 3
# A picture this old while the camera records means the preview (not the camera) is stuck.
STALE_SECONDS = 3.0


class LiveTile(QWidget):
    """Paints one camera's newest preview picture with its name, state, rates and a REC mark.

    The picture is pulled from the camera's :class:`LiveFeed` on a timer, so a slow paint
    skips pictures instead of queueing them. The tile watches the preview (at its own pixel
    size) only while it is visible and live. Switched to the archive, it shows an
    :class:`ArchivePlayer` of its camera instead, until it is switched back to live. A tile
    without a camera fills an empty cell of the grid.
    """

    double_clicked = Signal(str)
    context_requested = Signal(str, QPoint)
    chosen = Signal(str)  # the operator clicked (or tabbed to) this camera

    POLL_MS = 40  # well under the picture period, so polling adds little delay

    def __init__(
        self,
        camera: CameraConfig | None,
        preview: LiveFeed | None,
        *,
        fps: float = DEFAULT_PREVIEW_FPS,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.camera = camera
        self.preview = preview
        self.fps = fps
        self._status: CameraStatus | None = None
        self._lease: LiveLease | None = None
        self._picture: PreviewPicture | None = None
        self._image: QImage | None = None
        self._repainted_at = 0.0
        self._selected = False
        self._archive: ArchivePlayer | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(self.POLL_MS)
        self._timer.timeout.connect(self._on_tick)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(96, 54)
        if camera is not None:
            self.setToolTip(f"{camera.label}\n{camera.display_url}")
            self.setAccessibleName(f"Live view of {camera.label}")
            self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

    # ---- what it shows -----------------------------------------------------------------------

    @property
    def camera_id(self) -> str:
        """The camera's id, or an empty string for an empty cell."""
        return self.camera.id if self.camera else ""

    @property
    def status(self) -> CameraStatus | None:
        """The camera's last reported state."""
        return self._status

    @property
    def has_picture(self) -> bool:
        """True when a picture is painted."""
        return self._image is not None

    @property
    def watching(self) -> bool:
        """True while the tile holds a lease on its camera's preview."""
        return self._lease is not None

    @property
    def selected(self) -> bool:
        """True when this is the selected camera (marked with a coloured border)."""
        return self._selected

    def set_selected(self, selected: bool) -> None:
        """Mark this tile as the selected camera, or unmark it."""
        if selected != self._selected:
            self._selected = selected
            self.update()

    def set_status(self, status: CameraStatus) -> None:
        """Show a new state of the camera."""
        if status != self._status:
            self._status = status
            self.update()

    def overlay_lines(self) -> tuple[str, str]:
        """The overlay's title (camera name) and its status line."""
        if self.camera is None:
            return "", ""
        status = self._status
        if status is None:
            return self.camera.label, _STATE_TEXT[CameraState.CONNECTING]
        parts = [_STATE_TEXT[status.state]]
        if status.state is CameraState.RECORDING:
            parts.append(f"{status.fps:.1f} fps")
            if self.preview is not None and self._picture is not None:
                parts.append(f"view {self.preview.fps:.1f} fps")
                age = self._stale_age()
                if age is not None:
                    parts.append(f"picture {age:.0f} s old")
        return self.camera.label, " · ".join(parts)

    def _stale_age(self) -> float | None:
        """How old the shown picture is, when that is too old for a live view."""
        if self._picture is None:
            return None
        age = time.time() - self._picture.when
        return age if age > STALE_SECONDS else None

    def placeholder_text(self) -> str:
        """The message painted over the tile instead of (or over) a picture; empty when live."""
        if self.camera is None:
            return "No camera"
        status = self._status
        if status is None or status.state is CameraState.CONNECTING:
            return "connecting…"
        if status.state is CameraState.RECORDING:
            if self._image is not None:
                return ""
            error = self.preview.error if self.preview is not None else ""
            return f"no preview: {error}" if error else "waiting for picture…"
        state = _STATE_TEXT[status.state]
        return f"{state}: {status.reason}" if status.reason else state

    # ---- watching ----------------------------------------------------------------------------

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self._start_watching()

    def _start_watching(self) -> None:
        if self.preview is not None and self._lease is None and self._archive is None:
            self._lease = self.preview.acquire(*self._pixel_size(), self.fps)
            self._timer.start()
            self._on_tick()

    # ---- archive -----------------------------------------------------------------------------

    @property
    def archive(self) -> ArchivePlayer | None:
        """The archive player shown instead of the live picture, if the tile was switched."""
        return self._archive

    def show_archive(self, player: ArchivePlayer) -> None:
        """Show ``player`` (the camera's archive) over the whole tile; the preview is released."""
        self.show_live()
        self.stop_watching()
        self._archive = player
        player.setParent(self)
        # The application's colours, not the grid's black: the player's buttons must show.
        colours = QPalette(QGuiApplication.palette())
        colours.setResolveMask((1 << 64) - 1)  # every role set here, none inherited from the grid
        player.setPalette(colours)
        player.setAutoFillBackground(True)
        player.setGeometry(self.rect())
        player.show()
        player.setFocus(Qt.FocusReason.OtherFocusReason)

    def show_live(self) -> None:
        """Close the archive shown (if any) and watch the live pictures again."""
        player, self._archive = self._archive, None
        if player is not None:
            player.shutdown()
            player.hide()
            player.deleteLater()
        if self.isVisible():
            self._start_watching()
            self.update()

    def hideEvent(self, event: QHideEvent) -> None:
        super().hideEvent(event)
        self.stop_watching()
        if self._archive is not None:
            self._archive.pause()  # out of the layout: nobody watches it play

    def stop_watching(self) -> None:
        """Release the preview (decoding stops when no one else watches)."""
        self._timer.stop()
        if self._lease is not None:
            self._lease.release()
            self._lease = None

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if self._archive is not None:
            self._archive.setGeometry(self.rect())
        if self._lease is not None:
            self._lease.update(*self._pixel_size())

    def _pixel_size(self) -> tuple[int, int]:
        ratio = self.devicePixelRatioF()
        return max(2, round(self.width() * ratio)), max(2, round(self.height() * ratio))

    @Slot()
    def _on_tick(self) -> None:
        picture = self.preview.latest() if self.preview is not None else None
        if picture is not self._picture:
            self._picture = picture
            ratio = self.devicePixelRatioF()
            # The tile keeps ``picture`` with the image, which borrows its array.
            self._image = (
                rgb_image(picture.image, pixel_ratio=ratio) if picture is not None else None
            )
            self.update()
        elif time.monotonic() - self._repainted_at > 1.0:
            self.update()  # rates and the picture's age move on even when the picture does not

    # ---- input -------------------------------------------------------------------------------

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if self.camera is not None and event.button() is Qt.MouseButton.LeftButton:
            self.setFocus(Qt.FocusReason.MouseFocusReason)
            self.chosen.emit(self.camera.id)
            event.accept()
            return
        super().mousePressEvent(event)

    def focusInEvent(self, event: QFocusEvent) -> None:
        super().focusInEvent(event)
        keyboard = (Qt.FocusReason.TabFocusReason, Qt.FocusReason.BacktabFocusReason)
        if self.camera is not None and event.reason() in keyboard:
            self.chosen.emit(self.camera.id)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        if self.camera is not None and event.button() is Qt.MouseButton.LeftButton:
            self.double_clicked.emit(self.camera.id)
            event.accept()
            return
        super().mouseDoubleClickEvent(event)

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:
        if self.camera is not None:
            self.context_requested.emit(self.camera.id, event.globalPos())
            event.accept()
            return
        super().contextMenuEvent(event)

    # ---- painting ----------------------------------------------------------------------------

    def sizeHint(self) -> QSize:
        return QSize(320, 180)

    def paintEvent(self, event: QPaintEvent) -> None:
        self._repainted_at = time.monotonic()
        painter = QPainter(self)
        try:
            painter.fillRect(self.rect(), palette.VIDEO_BACKGROUND)
            if self._archive is not None:
                return  # the archive player covers the tile; the live overlay would show through
            message = self.placeholder_text()
            if self._image is not None:
                target = self._picture_rect(self._image)
                painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
                painter.drawImage(target, self._image)
                if message:
                    painter.fillRect(
                        target, palette.DIMMED
                    )  # a frozen picture must not pass for live
            self._paint_overlay(painter)
            if message:
                self._paint_message(painter, message)
            if self._selected:
                pen = QPen(palette.SELECTED, _SELECTED_WIDTH)
                pen.setJoinStyle(Qt.PenJoinStyle.MiterJoin)
                painter.setPen(pen)
                painter.setBrush(Qt.BrushStyle.NoBrush)
                inset = _SELECTED_WIDTH / 2
                painter.drawRect(QRectF(self.rect()).adjusted(inset, inset, -inset, -inset))
        finally:
            painter.end()

    def _picture_rect(self, image: QImage) -> QRectF:
        size = image.deviceIndependentSize()
        return fitted_rect(size.width(), size.height(), self.rect())

    def _paint_overlay(self, painter: QPainter) -> None:
        title, line = self.overlay_lines()
        if not title:
            return
        font = QFont(self.font())
        metrics = QFontMetrics(font)
        bar = metrics.height() + 6
        width, height = self.width(), self.height()
        painter.fillRect(QRect(0, 0, width, bar), palette.OVERLAY_BAR)
        painter.fillRect(QRect(0, height - bar, width, bar), palette.OVERLAY_BAR)
        recording = self._status is not None and self._status.state is CameraState.RECORDING
        rec_width = metrics.horizontalAdvance("REC") + bar if recording else 0
        bold = QFont(font)
        bold.setBold(True)
        painter.setFont(bold)
        painter.setPen(palette.OVERLAY_TEXT)
        name = QFontMetrics(bold).elidedText(
            title, Qt.TextElideMode.ElideRight, width - 12 - rec_width
        )
        painter.drawText(
            QRect(6, 0, width - 12 - rec_width, bar), Qt.AlignmentFlag.AlignVCenter, name
        )
        if recording:
            dot = bar // 2
            left = width - rec_width - 2
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.setBrush(palette.RECORDING)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.drawEllipse(QRect(left, (bar - dot) // 2, dot, dot))
            painter.setPen(palette.RECORDING)
            painter.drawText(
                QRect(left + dot + 4, 0, rec_width - dot - 4, bar),
                Qt.AlignmentFlag.AlignVCenter,
                "REC",
            )
        painter.setFont(font)
        warn = not recording or self._stale_age() is not None
        painter.setPen(palette.WARNING_TEXT if warn else palette.MUTED_TEXT)
        text = metrics.elidedText(line, Qt.TextElideMode.ElideRight, width - 12)
        painter.drawText(
            QRect(6, height - bar, width - 12, bar), Qt.AlignmentFlag.AlignVCenter, text
        )

    def _paint_message(self, painter: QPainter, message: str) -> None:
        font = QFont(self.font())
        font.setPointSizeF(font.pointSizeF() * (1.25 if self.height() > 200 else 1.0))
        painter.setFont(font)
        painter.setPen(palette.OVERLAY_TEXT if self.camera is not None else palette.MUTED_TEXT)
        area = self.rect().adjusted(12, 0, -12, 0)
        painter.drawText(
            area, int(Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap), message
        )


__all__ = ["STALE_SECONDS", "LiveTile"]
