"""The live grid: one tile per camera painting its newest preview picture, in 1/4/9/16 layouts."""

from __future__ import annotations

import math
from collections.abc import Sequence

from PySide6.QtCore import QPoint, QTimer, Signal, Slot
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QGridLayout, QWidget

from vms_desktop.domain.camera import CameraState, CameraStatus
from vms_desktop.domain.errors import UnknownCameraError
from vms_desktop.engine.console_port import DEFAULT_PREVIEW_FPS, CameraPort
from vms_desktop.gui import palette
from vms_desktop.gui.live_tile import STALE_SECONDS, LiveTile
from vms_desktop.gui.player.archive_player import ArchivePlayer, CoverageReader
from vms_desktop.gui.player.archive_tile import ArchiveOpener
from vms_desktop.gui.tasks import BackgroundTasks

LAYOUTS = (1, 4, 9, 16)


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
    archive_switched = Signal(str, bool)  # camera id, whether its tile now shows the archive

    def __init__(
        self,
        console: CameraPort,
        parent: QWidget | None = None,
        *,
        fps: float = DEFAULT_PREVIEW_FPS,
        archive: ArchiveOpener | None = None,
        coverage: CoverageReader | None = None,
    ) -> None:
        super().__init__(parent)
        self._archive_opener = archive
        self._coverage = coverage
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
        """Stop reading camera states and close the archives shown (the window is closing)."""
        self._rates_timer.stop()
        self._tasks.close()
        for tile in self._tiles.values():
            if tile.archive is not None:
                tile.show_live()

    @property
    def can_show_archive(self) -> bool:
        """True when tiles can switch to their camera's archive."""
        return self._archive_opener is not None

    def show_archive(self, camera_id: str, moment: float) -> ArchivePlayer:
        """Switch a camera's tile to its archive, playing from ``moment`` (UTC seconds)."""
        tile = self.tile(camera_id)
        if self._archive_opener is None:
            raise RuntimeError("this grid was given no archive to play")
        player = ArchivePlayer(self._archive_opener, self._coverage, compact=True)
        player.live_requested.connect(lambda _ids, c=camera_id: self.show_live(c))
        tile.show_archive(player)
        player.open([camera_id], moment, play=True)
        self.archive_switched.emit(camera_id, True)
        return player

    def show_live(self, camera_id: str) -> None:
        """Switch a camera's tile back to its live pictures."""
        tile = self.tile(camera_id)
        if tile.archive is not None:
            tile.show_live()
            self.archive_switched.emit(camera_id, False)

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


__all__ = ["LAYOUTS", "STALE_SECONDS", "LiveGrid", "LiveTile"]
