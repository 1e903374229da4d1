"""One camera's archive on screen: its playback's pictures and gaps, carried to the GUI thread."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from datetime import UTC, datetime

from PySide6.QtCore import QEvent, QObject, Qt, Signal, SignalInstance
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from vms_desktop.domain.recording import ArchiveGap, ArchivePicture
from vms_desktop.engine.console_port import ArchivePlayback
from vms_desktop.gui.player.archive_clock import PlayClock
from vms_desktop.gui.player.surface import VideoSurface
from vms_desktop.gui.time_text import local_time_text

ArchiveOpener = Callable[
    [
        str,
        Callable[[ArchivePicture], None],
        Callable[[ArchiveGap], None],
        Callable[[str], None],
    ],
    ArchivePlayback,
]
"""Opens a camera's archive for playing (``Console.open_archive``)."""

NO_RECORDING = "No recording"


class _PlaybackSignals(QObject):
    """Carries a playback's outcomes, told on its decoding thread, to the GUI thread."""

    picture = Signal(object)  # ArchivePicture
    gap = Signal(object)  # ArchiveGap
    failed = Signal(str)


def _emit(signal: SignalInstance, value: object) -> None:
    # Once the application is gone nobody listens: Qt's RuntimeError is dropped.
    with contextlib.suppress(RuntimeError):
        signal.emit(value)


def _close_playback(playback: ArchivePlayback, *_: object) -> None:
    playback.close()


class ArchiveTile(QWidget):
    """Shows what one camera recorded at the moments its player asks for.

    The playback decodes on its own thread; its callbacks only emit signals of an unparented
    object (safe after the tile is gone), which Qt queues to this tile on the GUI thread.
    Pictures from before the player's last seek are dropped, so a late answer never flashes.
    """

    picture_shown = Signal(object)  # ArchivePicture
    gap_met = Signal(object)  # ArchiveGap
    failed = Signal(str, str)  # camera id, message

    def __init__(
        self, camera_id: str, opener: ArchiveOpener, clock: PlayClock, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.camera_id = camera_id
        self._clock = clock
        self.picture: ArchivePicture | None = None
        self.gap: ArchiveGap | None = None
        self.requested: float | None = None
        self.error = ""
        self._closed = False
        self.surface = VideoSurface()
        self.surface.setMinimumSize(96, 54)
        self.surface.installEventFilter(self)
        self.title = QLabel(camera_id)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(1)
        layout.addWidget(self.title)
        layout.addWidget(self.surface, 1)
        signals = _PlaybackSignals()
        signals.picture.connect(self._on_picture)
        signals.gap.connect(self._on_gap)
        signals.failed.connect(self._on_failed)
        self._signals = signals
        self.playback = opener(
            camera_id,
            functools.partial(_emit, signals.picture),
            functools.partial(_emit, signals.gap),
            functools.partial(_emit, signals.failed),
        )
        # A tile deleted without close() must not leave its decoder running; the hook holds
        # the playback, not the tile, which is gone by the time it runs.
        self.destroyed.connect(functools.partial(_close_playback, self.playback))
        self.surface.show_message("Opening…")

    # ---- asked by the player -----------------------------------------------------------

    def show_moment(self, moment: float) -> None:
        """Ask for the picture due at ``moment``."""
        if not self._closed:
            self.requested = moment
            self.playback.show(moment)

    def forget_gap(self) -> None:
        """The clock moved: a hole met before says nothing about the new moment."""
        self.gap = None

    def close_playback(self) -> None:
        """Stop decoding and release the footage (idempotent)."""
        self._closed = True
        self.playback.close()

    @property
    def closed(self) -> bool:
        """True once the playback was closed."""
        return self._closed

    @property
    def in_gap(self) -> bool:
        """True when the latest answer was a hole in the footage."""
        return self.gap is not None

    # ---- answers (GUI thread) ----------------------------------------------------------

    def _on_picture(self, picture: ArchivePicture) -> None:
        if self._closed or not self._clock.belongs(picture.moment, picture=True):
            return
        self.picture, self.gap, self.error = picture, None, ""
        self.surface.show_pixels(picture.image, picture.display_aspect)
        self._set_title(picture.moment)
        self.picture_shown.emit(picture)

    def _on_gap(self, gap: ArchiveGap) -> None:
        if self._closed or not self._clock.belongs(gap.moment):
            return
        self.gap = gap
        if gap.resume is None:
            self.surface.show_message(f"{NO_RECORDING} yet: this is the live edge")
        else:
            resume = local_time_text(datetime.fromtimestamp(gap.resume, UTC), date=False)
            self.surface.show_message(f"{NO_RECORDING}\nfootage resumes at {resume}")
        self._set_title(gap.moment)
        self.gap_met.emit(gap)

    def _on_failed(self, message: str) -> None:
        if self._closed:
            return
        self.error = message
        self.surface.show_message(f"Cannot play the archive: {message}")
        self.failed.emit(self.camera_id, message)

    def _set_title(self, moment: float) -> None:
        when = local_time_text(datetime.fromtimestamp(moment, UTC), milliseconds=True)
        self.title.setText(f"{self.camera_id}   {when}")

    # ---- size --------------------------------------------------------------------------

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.surface and event.type() == QEvent.Type.Resize:
            self._fit()
        return super().eventFilter(watched, event)

    def _fit(self) -> None:
        if self._closed:
            return
        ratio = self.surface.devicePixelRatioF()
        width = round(self.surface.width() * ratio)
        height = round(self.surface.height() * ratio)
        if width > 1 and height > 1:
            self.playback.fit(width, height)
            if self.requested is not None and not self._clock.playing:
                # Paused, no tick follows: ask again for the picture shown, at the new size.
                self.playback.show(self.requested)
