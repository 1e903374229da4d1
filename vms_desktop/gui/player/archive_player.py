"""Archive player: any moment of one camera, or up to four in step, played from the recordings."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from PySide6.QtCore import QSignalBlocker, Qt, QTimer, Signal
from PySide6.QtGui import QHideEvent, QKeyEvent, QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QStyle,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from vms_desktop.domain.recording import ArchiveGap, ArchivePicture, Coverage
from vms_desktop.gui.player.archive_clock import GapMode, PlayClock, decide, step_target
from vms_desktop.gui.player.archive_tile import ArchiveOpener, ArchiveTile
from vms_desktop.gui.player.clip_player import SPEEDS
from vms_desktop.gui.player.scrub_bar import ArchiveScrubBar
from vms_desktop.gui.tasks import BackgroundTasks
from vms_desktop.gui.time_text import local_time_text

log = logging.getLogger(__name__)

CoverageReader = Callable[[str, float, float], Coverage]
"""Reads a camera's recorded ranges over a window (``Console.coverage``; may be slow)."""

MAX_CAMERAS = 4
# How often a playing clock asks for the picture due (pictures come at the camera's own rate).
TICK_MS = 40
# While scrubbing, at most one request per this many seconds (the decoder keeps the newest).
SCRUB_INTERVAL = 0.08
COVERAGE_MS = 2000


def _clock_text(moment: float) -> str:
    return local_time_text(datetime.fromtimestamp(moment, UTC), milliseconds=True)


class ArchivePlayer(QWidget):
    """Plays recorded footage from any moment: one camera, or up to four in a 2x2 grid.

    One :class:`PlayClock` drives every tile: each tick asks all of them for the same moment,
    so they stay in step. Holes in the footage are handled as the operator chose
    (:class:`GapMode`); past the newest footage it says so and offers going live. Keys: space
    plays or pauses, comma and period (or left and right) step one frame. A ``compact`` player
    (inside a live tile) leaves out the gap choice and the status line, and always offers live.
    """

    moment_changed = Signal(float)  # the moment every tile was asked for
    picture_shown = Signal(object)  # ArchivePicture of the first camera
    live_requested = Signal(list)  # camera ids the operator wants to see live
    cameras_changed = Signal(list)  # camera ids played now
    failed = Signal(str)  # a message for the operator

    def __init__(
        self,
        opener: ArchiveOpener,
        coverage: CoverageReader | None = None,
        parent: QWidget | None = None,
        *,
        compact: bool = False,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(parent)
        self.compact = compact
        self._opener = opener
        self._coverage = coverage
        self._monotonic = monotonic
        self.clock = PlayClock(monotonic=monotonic)
        self._tiles: list[ArchiveTile] = []
        self._mode = GapMode.JUMP
        self._live_edge: float | None = None  # where the newest footage ended, at the live edge
        self._last_show = float("-inf")
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(TICK_MS)
        self._timer.timeout.connect(self._show_now)
        self._scrub_timer = QTimer(self)
        self._scrub_timer.setSingleShot(True)
        self._scrub_timer.timeout.connect(self._show_now)
        self._coverage_timer = QTimer(self)
        self._coverage_timer.setInterval(COVERAGE_MS)
        self._coverage_timer.timeout.connect(self.read_coverage)
        self._reads = BackgroundTasks(1, self)
        self._build()
        self._set_controls_enabled(False)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

    def _build(self) -> None:
        style = self.style()

        def button(icon: QStyle.StandardPixmap, tip: str) -> QToolButton:
            widget = QToolButton()
            widget.setIcon(style.standardIcon(icon))
            widget.setToolTip(tip)
            widget.setAccessibleName(tip.split(" (")[0])
            widget.setAutoRaise(True)
            return widget

        self.back_button = button(QStyle.StandardPixmap.SP_MediaSeekBackward, "Previous frame (,)")
        self.play_button = button(QStyle.StandardPixmap.SP_MediaPlay, "Play (space)")
        self.forward_button = button(QStyle.StandardPixmap.SP_MediaSeekForward, "Next frame (.)")
        self.back_button.clicked.connect(lambda: self.step(-1))
        self.play_button.clicked.connect(self.toggle_playing)
        self.forward_button.clicked.connect(lambda: self.step(+1))
        self.speed_box = QComboBox()
        for speed in SPEEDS:
            self.speed_box.addItem(f"{speed:g}x", speed)
        self.speed_box.setCurrentIndex(SPEEDS.index(1.0))
        self.speed_box.setToolTip("Playback speed")
        self.speed_box.currentIndexChanged.connect(lambda index: self.set_speed(SPEEDS[index]))
        self.gap_box = QComboBox()
        self.gap_box.addItem("Gaps: jump", GapMode.JUMP)
        self.gap_box.addItem("Gaps: black", GapMode.BLACK)
        self.gap_box.setToolTip(
            "At a hole in the recording: jump to where footage resumes, or play on through it"
        )
        self.gap_box.currentIndexChanged.connect(
            lambda index: self.set_gap_mode(self.gap_box.itemData(index))
        )
        self.live_button = QPushButton("Go live")
        self.live_button.setToolTip("Leave the archive and watch these cameras live")
        self.live_button.clicked.connect(self.request_live)
        self.live_button.hide()
        self.readout = QLabel("")
        self.readout.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        font = self.readout.font()
        font.setStyleHint(font.StyleHint.Monospace)
        font.setFamily("monospace")
        self.readout.setFont(font)
        self.readout.setAccessibleName("Moment shown")
        self.status_label = QLabel("No archive open")
        self.status_label.setWordWrap(True)
        self.scrub_bar = ArchiveScrubBar()
        self.scrub_bar.scrubbed.connect(self.scrub)
        self.scrub_bar.scrub_finished.connect(self.seek)
        self.scrub_bar.window_changed.connect(lambda *_: self.read_coverage())

        self._controls: tuple[QWidget, ...] = (
            self.back_button,
            self.play_button,
            self.forward_button,
            self.speed_box,
            self.gap_box,
            self.scrub_bar,
        )
        # Keys belong to the player as a whole: a focused button would eat the space bar.
        for widget in (*self._controls, self.live_button):
            widget.setFocusPolicy(Qt.FocusPolicy.NoFocus)

        controls = QHBoxLayout()
        controls.setContentsMargins(0, 0, 0, 0)
        for widget in (self.back_button, self.play_button, self.forward_button):
            controls.addWidget(widget)
        controls.addSpacing(6)
        controls.addWidget(self.speed_box)
        controls.addWidget(self.gap_box)
        controls.addStretch(1)
        controls.addWidget(self.readout)
        controls.addWidget(self.live_button)

        self.grid = QGridLayout()
        self.grid.setContentsMargins(0, 0, 0, 0)
        self.grid.setSpacing(2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(4)
        layout.addLayout(self.grid, 1)
        layout.addWidget(self.scrub_bar)
        layout.addLayout(controls)
        layout.addWidget(self.status_label)
        if self.compact:
            # A tile is narrow: its camera's title line already tells the moment shown.
            self.readout.hide()
            self.gap_box.hide()
            self.status_label.hide()
            self.live_button.setText("Live")
            self.live_button.show()
            layout.setContentsMargins(0, 0, 0, 0)
            layout.setSpacing(2)

    # ---- public API ----------------------------------------------------------------------

    @property
    def tiles(self) -> list[ArchiveTile]:
        """The cameras' tiles, in grid order (the first one's picture sets the readout)."""
        return list(self._tiles)

    @property
    def camera_ids(self) -> list[str]:
        """The cameras played, in grid order."""
        return [tile.camera_id for tile in self._tiles]

    def tile(self, camera_id: str) -> ArchiveTile:
        """The tile of one camera played (KeyError if it is not)."""
        for tile in self._tiles:
            if tile.camera_id == camera_id:
                return tile
        raise KeyError(camera_id)

    @property
    def moment(self) -> float:
        """The moment the clock is at."""
        return self.clock.moment

    @property
    def is_playing(self) -> bool:
        """True while the clock runs."""
        return self.clock.playing

    @property
    def gap_mode(self) -> GapMode:
        """What playing does at a hole in the footage."""
        return self._mode

    @property
    def at_live_edge(self) -> bool:
        """True while every camera is past its newest footage."""
        return self._live_edge is not None

    @property
    def shown_moment(self) -> float | None:
        """The moment of the first camera's picture on screen (None in a hole or before one)."""
        first = self._tiles[0] if self._tiles else None
        if first is None or first.picture is None or first.in_gap:
            return None
        return first.picture.moment

    def open(self, camera_ids: Sequence[str], moment: float, *, play: bool = True) -> None:
        """Play these cameras (up to four) in step from ``moment`` (UTC epoch seconds)."""
        chosen = list(dict.fromkeys(camera_ids))[:MAX_CAMERAS]
        self._close_tiles()
        for camera_id in chosen:
            self._add_tile(camera_id)
        self._arrange()
        self.scrub_bar.set_moment(moment, centre=True)
        self.clock.seek(moment)
        self._set_controls_enabled(bool(self._tiles))
        self.status_label.setText(f"Archive of {', '.join(chosen)}" if chosen else "")
        self._show_now()
        self.read_coverage()
        if play:
            self.play()
        self.cameras_changed.emit(self.camera_ids)

    def add_camera(self, camera_id: str) -> bool:
        """Play one more camera in step with the others; False when already there or full."""
        if camera_id in self.camera_ids or len(self._tiles) >= MAX_CAMERAS:
            return False
        tile = self._add_tile(camera_id)
        self._arrange()
        self._set_controls_enabled(True)
        tile.show_moment(self.clock.moment)
        self.read_coverage()
        self.cameras_changed.emit(self.camera_ids)
        return True

    def remove_camera(self, camera_id: str) -> None:
        """Stop playing one camera (its playback is closed)."""
        tile = self.tile(camera_id)
        self._tiles.remove(tile)
        self._drop(tile)
        self._arrange()
        if not self._tiles:
            self.close_archive()
        self.cameras_changed.emit(self.camera_ids)

    def close_archive(self) -> None:
        """Stop playing and close every camera's playback."""
        self.pause()
        self._close_tiles()
        self._set_live_edge(None)
        self._set_controls_enabled(False)
        self.readout.setText("")
        self.status_label.setText("No archive open")
        self.cameras_changed.emit([])

    def play(self) -> None:
        """Run the clock from the current moment."""
        if not self._tiles or self.clock.playing:
            return
        self.clock.play()
        self._timer.start()
        self.play_button.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_MediaPause))
        self.play_button.setToolTip("Pause (space)")

    def pause(self) -> None:
        """Stop the clock at the current moment."""
        self._timer.stop()
        if self.clock.playing:
            self.clock.pause()
            self.play_button.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_MediaPlay))
            self.play_button.setToolTip("Play (space)")
            # The picture on screen is the one of the moment the clock stopped at.
            self._show_now()

    def toggle_playing(self) -> None:
        """Pause when playing, play when paused."""
        if self.clock.playing:
            self.pause()
        else:
            self.play()

    def seek(self, moment: float) -> None:
        """Show ``moment`` on every camera (playing on from there, if playing)."""
        self._move_clock(moment)
        self._show_now()

    def scrub(self, moment: float) -> None:
        """Follow a dragging hand: the clock moves at once, requests at a bounded rate."""
        self._move_clock(moment)
        wait = SCRUB_INTERVAL - (self._monotonic() - self._last_show)
        if wait <= 0:
            self._show_now()
        elif not self._scrub_timer.isActive():
            self._scrub_timer.start(max(1, round(wait * 1000)))

    def step(self, direction: int) -> None:
        """Pause and show the next (``+1``) or previous (``-1``) picture of the first camera."""
        if not self._tiles:
            return
        self.pause()
        first = self._tiles[0]
        picture = first.picture
        if picture is not None and not first.in_gap:
            target = step_target(picture.moment, picture.frame_seconds, direction)
        else:
            target = step_target(self.clock.moment, 0.0, direction)
        self.seek(target)

    def set_speed(self, speed: float) -> None:
        """Play at ``speed`` times real time: one of the clip player's speeds."""
        if speed not in SPEEDS:
            raise ValueError(f"speed must be one of {', '.join(f'{s:g}' for s in SPEEDS)}")
        self.clock.set_speed(speed)
        with QSignalBlocker(self.speed_box):
            self.speed_box.setCurrentIndex(SPEEDS.index(speed))

    def set_gap_mode(self, mode: GapMode) -> None:
        """Jump over holes in the footage, or play on through them in black."""
        self._mode = mode
        with QSignalBlocker(self.gap_box):
            self.gap_box.setCurrentIndex(self.gap_box.findData(mode))
        self._decide_gaps()

    def request_live(self) -> None:
        """Ask to leave the archive for the live pictures of the cameras played."""
        self.live_requested.emit(self.camera_ids)

    def read_coverage(self) -> None:
        """Read the cameras' recorded ranges over the scrub bar's window (in the background)."""
        reader, camera_ids = self._coverage, self.camera_ids
        if reader is None or not camera_ids:
            return
        start, end = self.scrub_bar.span

        def read() -> dict[str, Coverage]:
            return {camera_id: reader(camera_id, start, end) for camera_id in camera_ids}

        def done(read_now: dict[str, Coverage]) -> None:
            self.scrub_bar.set_coverage(
                {camera_id: found.ranges for camera_id, found in read_now.items()}
            )

        def failed(error: Exception) -> None:
            log.warning("archive coverage not read: %s", error)

        self._reads.submit(read, done, failed, key="coverage")

    # ---- tiles ---------------------------------------------------------------------------

    def _add_tile(self, camera_id: str) -> ArchiveTile:
        tile = ArchiveTile(camera_id, self._opener, self.clock, self)
        tile.picture_shown.connect(self._on_picture)
        tile.gap_met.connect(self._on_gap)
        tile.failed.connect(self._on_failed)
        self._tiles.append(tile)
        self.scrub_bar.set_cameras(self.camera_ids)
        return tile

    def _drop(self, tile: ArchiveTile) -> None:
        tile.close_playback()
        self.grid.removeWidget(tile)
        tile.hide()
        tile.deleteLater()

    def _close_tiles(self) -> None:
        tiles, self._tiles = self._tiles, []
        for tile in tiles:
            self._drop(tile)
        self.scrub_bar.set_cameras([])

    def _arrange(self) -> None:
        for tile in self._tiles:
            self.grid.removeWidget(tile)
        # One camera fills the area, two sit side by side, three or four make a 2x2 grid.
        columns = 1 if len(self._tiles) <= 1 else 2
        rows = 1 if len(self._tiles) <= 2 else 2
        for index, tile in enumerate(self._tiles):
            self.grid.addWidget(tile, index // columns, index % columns)
        for line in range(2):
            self.grid.setRowStretch(line, 1 if line < rows else 0)
            self.grid.setColumnStretch(line, 1 if line < columns else 0)
        self.scrub_bar.set_cameras(self.camera_ids)

    # ---- the clock -------------------------------------------------------------------------

    def _move_clock(self, moment: float) -> None:
        self.clock.seek(moment)
        self._set_live_edge(None)
        for tile in self._tiles:
            tile.forget_gap()

    def _show_now(self) -> None:
        """Ask every tile for the moment due now."""
        moment = self.clock.moment
        self._last_show = self._monotonic()
        for tile in self._tiles:
            tile.show_moment(moment)
        self.scrub_bar.set_moment(moment)
        if self.shown_moment is None:
            self._update_readout()
        self.moment_changed.emit(moment)

    def _on_picture(self, picture: ArchivePicture) -> None:
        if self._tiles and self.sender() is self._tiles[0]:
            self._update_readout()
            self.picture_shown.emit(picture)
        self._decide_gaps()

    def _on_gap(self, gap: ArchiveGap) -> None:
        if self._tiles and self.sender() is self._tiles[0]:
            self._update_readout()
        self._decide_gaps()

    def _on_failed(self, camera_id: str, message: str) -> None:
        self.status_label.setText(f"{camera_id}: {message}")
        self.failed.emit(f"Archive of {camera_id} cannot be played: {message}")

    def _decide_gaps(self) -> None:
        decision = decide([tile.gap for tile in self._tiles], self._mode)
        # Only forward: a gap told again at the moment jumped to must not jump there forever.
        if decision.jump_to is not None and decision.jump_to > self.clock.moment + 1e-6:
            self.status_label.setText(
                f"No recording: jumped to {_clock_text(decision.jump_to)} where footage resumes"
            )
            self.seek(decision.jump_to)
            return
        if not decision.live_edge:
            self._set_live_edge(None)
            return
        gaps = [tile.gap.moment for tile in self._tiles if tile.gap is not None]
        edge = self._live_edge if self._live_edge is not None else min(gaps)
        self._set_live_edge(edge)
        if self.clock.playing:
            # Wait at the newest footage instead of running into time not recorded yet.
            self.clock.hold(edge)

    def _set_live_edge(self, edge: float | None) -> None:
        if (edge is None) == (self._live_edge is None):
            self._live_edge = edge
            return
        self._live_edge = edge
        self.live_button.setVisible(self.compact or edge is not None)
        if edge is not None:
            self.status_label.setText(
                f"Live edge: nothing is recorded from {_clock_text(edge)} on yet. "
                "Go live to watch the cameras now."
            )
        else:
            self.status_label.setText(f"Archive of {', '.join(self.camera_ids)}")

    def _update_readout(self) -> None:
        shown = self.shown_moment
        if shown is not None:
            self.readout.setText(_clock_text(shown))
        elif self._tiles:
            self.readout.setText(f"{_clock_text(self.clock.moment)}  no recording")

    def _set_controls_enabled(self, enabled: bool) -> None:
        for widget in self._controls:
            widget.setEnabled(enabled)

    # ---- Qt events -------------------------------------------------------------------------

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self._coverage_timer.start()
        self.read_coverage()

    def hideEvent(self, event: QHideEvent) -> None:
        super().hideEvent(event)
        self._coverage_timer.stop()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        if key == Qt.Key.Key_Space:
            self.toggle_playing()
        elif key in (Qt.Key.Key_Comma, Qt.Key.Key_Left):
            self.step(-1)
        elif key in (Qt.Key.Key_Period, Qt.Key.Key_Right):
            self.step(+1)
        else:
            super().keyPressEvent(event)
            return
        event.accept()

    def shutdown(self) -> None:
        """Close every playback and stop reading (the window is closing)."""
        self.close_archive()
        self._coverage_timer.stop()
        self._reads.close()
