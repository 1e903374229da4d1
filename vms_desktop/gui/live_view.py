"""The live grid: one tile per camera painting its newest preview picture, in 1/4/9/16 layouts."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

from PySide6.QtCore import QPoint, QRect, QRectF, QSize, Qt, QTimer, Signal, Slot
from PySide6.QtGui import (
    QContextMenuEvent,
    QFocusEvent,
    QFont,
    QFontMetrics,
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
from PySide6.QtWidgets import QGridLayout, QSizePolicy, QWidget

from vms_desktop.domain.camera import CameraConfig, CameraState, CameraStatus
from vms_desktop.domain.errors import UnknownCameraError
from vms_desktop.engine.console_port import (
    DEFAULT_PREVIEW_FPS,
    CameraPort,
    LiveFeed,
    LiveLease,
    PreviewPicture,
)
from vms_desktop.gui import palette
from vms_desktop.gui.pictures import fitted_rect, rgb_image
from vms_desktop.gui.tasks import BackgroundTasks

LAYOUTS = (1, 4, 9, 16)

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
    size) only while it is visible. A tile without a camera fills an empty cell of the grid.
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
        if self.preview is not None and self._lease is None:
            self._lease = self.preview.acquire(*self._pixel_size(), self.fps)
            self._timer.start()
            self._on_tick()

    def hideEvent(self, event: QHideEvent) -> None:
        super().hideEvent(event)
        self.stop_watching()

    def stop_watching(self) -> None:
        """Release the preview (decoding stops when no one else watches)."""
        self._timer.stop()
        if self._lease is not None:
            self._lease.release()
            self._lease = None

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
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


class LiveGrid(QWidget):
    """The cameras' live tiles in a 1, 4, 9 or 16 cell layout; double-click focuses one camera.

    Cameras fill the cells in their assigned order (:meth:`assign`, by default sorted by id);
    cells beyond the last camera stay empty. Double-clicking a camera shows it alone, and
    double-clicking it again returns to the previous layout. Camera states arrive through
    :meth:`on_camera_status` (wired by the main window to the engine bridge).

    One camera is selected (a coloured border): the one the operator last clicked or chose;
    until they choose, the first camera that records (or the first camera while none does).
    """

    camera_activated = Signal(str)
    camera_context_requested = Signal(str, QPoint)
    selection_changed = Signal(str)  # camera id

    def __init__(
        self,
        console: CameraPort,
        parent: QWidget | None = None,
        *,
        fps: float = DEFAULT_PREVIEW_FPS,
    ) -> None:
        super().__init__(parent)
        self._tiles: dict[str, LiveTile] = {}
        for camera in console.cameras:
            camera_id = camera.id
            tile = LiveTile(camera, console.live_feed(camera_id), fps=fps, parent=self)
            tile.hide()
            tile.double_clicked.connect(self._on_tile_double_clicked)
            tile.chosen.connect(self._on_tile_chosen)
            tile.context_requested.connect(self.camera_context_requested)
            self._tiles[camera_id] = tile
        self._fillers: list[LiveTile] = []
        self._order = list(self._tiles)
        self._cells = next((n for n in LAYOUTS if n >= len(self._order)), LAYOUTS[-1])
        self._focused: str | None = None
        self._selected: str | None = None
        self._operator_chose = False
        self._grid = QGridLayout(self)
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._grid.setSpacing(2)
        self.setAutoFillBackground(True)
        colours = self.palette()
        colours.setColor(QPalette.ColorRole.Window, palette.GRID_BACKGROUND)
        self.setPalette(colours)
        self._console = console
        self._tasks = BackgroundTasks(1, self)
        # State changes arrive through on_camera_status; the measured camera rates change
        # without an event, so they are read here (off the GUI thread, like every request).
        self._rates_timer = QTimer(self)
        self._rates_timer.setInterval(1000)
        self._rates_timer.timeout.connect(self._on_rates_timer)
        self._rates_timer.start()
        self._on_rates_timer()
        self._arrange()
        self._follow_recording()

    # ---- public ------------------------------------------------------------------------------

    @property
    def tile_count(self) -> int:
        """How many cells the chosen layout has (a focused camera does not change it)."""
        return self._cells

    @property
    def focused(self) -> str | None:
        """The camera shown alone, if any."""
        return self._focused

    @property
    def selected(self) -> str | None:
        """The selected camera's id (None only without cameras)."""
        return self._selected

    @property
    def chosen_by_operator(self) -> bool:
        """True once the operator picked a camera (the selection no longer follows recording)."""
        return self._operator_chose

    def select(self, camera_id: str, *, by_operator: bool = False) -> None:
        """Select a camera; an operator's choice stays until they choose another."""
        if camera_id not in self._tiles:
            raise UnknownCameraError(camera_id)
        if by_operator:
            self._operator_chose = True
        if camera_id == self._selected:
            return
        if self._selected is not None:
            self._tiles[self._selected].set_selected(False)
        self._selected = camera_id
        self._tiles[camera_id].set_selected(True)
        self.selection_changed.emit(camera_id)

    def set_layout(self, cells: int) -> None:
        """Show ``cells`` tiles (1, 4, 9 or 16); ends a focus."""
        if cells not in LAYOUTS:
            raise ValueError(f"layout must be one of {LAYOUTS}, not {cells}")
        self._cells = cells
        self._focused = None
        self._arrange()

    def assign(self, camera_ids: Sequence[str]) -> None:
        """Put these cameras in the cells, in order (cameras not listed are not shown)."""
        for camera_id in camera_ids:
            if camera_id not in self._tiles:
                raise UnknownCameraError(camera_id)
        self._order = list(dict.fromkeys(camera_ids))
        if self._focused is not None and self._focused not in self._order:
            self._focused = None
        self._arrange()

    def focus(self, camera_id: str) -> None:
        """Show one camera alone."""
        if camera_id not in self._tiles:
            raise UnknownCameraError(camera_id)
        self._focused = camera_id
        self._arrange()

    def unfocus(self) -> None:
        """Return from a focused camera to the layout."""
        self._focused = None
        self._arrange()

    def tile(self, camera_id: str) -> LiveTile:
        """The tile of one camera."""
        try:
            return self._tiles[camera_id]
        except KeyError:
            raise UnknownCameraError(camera_id) from None

    def visible_tiles(self) -> list[LiveTile]:
        """The tiles in the cells now, in cell order (empty cells included)."""
        tiles = []
        for index in range(self._grid.count()):
            item = self._grid.itemAt(index)
            widget = item.widget() if item is not None else None
            if isinstance(widget, LiveTile):
                tiles.append(widget)
        return tiles

    def visible_cameras(self) -> list[str]:
        """The ids of the cameras shown now, in cell order."""
        return [tile.camera_id for tile in self.visible_tiles() if tile.camera is not None]

    @Slot(object)
    def on_camera_status(self, status: CameraStatus) -> None:
        """Show a camera's new state on its tile."""
        tile = self._tiles.get(status.camera_id)
        if tile is not None:
            tile.set_status(status)
            self._follow_recording()

    def stop_watching(self) -> None:
        """Release every preview (e.g. before the engine stops)."""
        for tile in self._tiles.values():
            tile.stop_watching()

    def stop(self) -> None:
        """Stop reading camera states (the window is closing)."""
        self._rates_timer.stop()
        self._tasks.close()

    @Slot()
    def _on_rates_timer(self) -> None:
        self._tasks.submit(self._console.camera_statuses, self._on_statuses, key="rates")

    def _on_statuses(self, statuses: list[CameraStatus]) -> None:
        for status in statuses:
            self.on_camera_status(status)

    # ---- layout ------------------------------------------------------------------------------

    def _follow_recording(self) -> None:
        """Until the operator chooses, select the first camera (in cell order) that records."""
        if self._operator_chose or not self._order:
            return
        recording = [
            camera_id
            for camera_id in self._order
            if (status := self._tiles[camera_id].status) is not None
            and status.state is CameraState.RECORDING
        ]
        current = self._selected
        if current in recording:
            return
        self.select(recording[0] if recording else current or self._order[0])

    @Slot(str)
    def _on_tile_chosen(self, camera_id: str) -> None:
        self.select(camera_id, by_operator=True)

    @Slot(str)
    def _on_tile_double_clicked(self, camera_id: str) -> None:
        if self._focused == camera_id:
            self.unfocus()
        else:
            self.focus(camera_id)
        self.camera_activated.emit(camera_id)

    def _arrange(self) -> None:
        if self._focused is not None:
            cells: list[str | None] = [self._focused]
        else:
            cells = [*self._order[: self._cells]]
            cells += [None] * (self._cells - len(cells))
        side = math.isqrt(len(cells))
        while len(self._fillers) < cells.count(None):
            self._fillers.append(LiveTile(None, None, parent=self))
        fillers = iter(self._fillers)
        placed = [self._tiles[c] if c is not None else next(fillers) for c in cells]
        for tile in self.visible_tiles():
            self._grid.removeWidget(tile)
            if tile not in placed:
                # Hiding releases the preview; tiles staying on screen keep theirs (no flicker).
                tile.hide()
        for index, tile in enumerate(placed):
            self._grid.addWidget(tile, index // side, index % side)
        for line in range(math.isqrt(LAYOUTS[-1])):
            stretch = 1 if line < side else 0
            self._grid.setRowStretch(line, stretch)
            self._grid.setColumnStretch(line, stretch)
        for tile in placed:
            tile.show()
