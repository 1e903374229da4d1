"""Clip player: frame-exact playback, stepping and snapshots of a clip, with its wall clock."""

from __future__ import annotations

import functools
import logging
import re
import time
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import platformdirs
from PySide6.QtCore import QObject, QSignalBlocker, Qt, QTimer, Signal
from PySide6.QtGui import (
    QCloseEvent,
    QGuiApplication,
    QImage,
    QImageWriter,
    QKeyEvent,
)
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QStyle,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from vms_desktop.domain.clip import ClipMeta, iso
from vms_desktop.engine.clip_decoder import ClipDecoder, ClipInfo, DecodedFrame
from vms_desktop.gui.player.seek_bar import EventSeekBar
from vms_desktop.gui.player.surface import VideoSurface
from vms_desktop.gui.tasks import BackgroundTasks
from vms_desktop.gui.time_text import local_time_text

log = logging.getLogger(__name__)

SPEEDS = (0.25, 0.5, 1.0, 2.0, 4.0)
# Platforms with nobody in front of the screen: a file dialog there would wait forever.
_HEADLESS_PLATFORMS = {"offscreen", "minimal", "vnc"}


class _DecoderSignals(QObject):
    """Carries a decoder's outcomes (told on its thread) to the player's thread, by session."""

    opened = Signal(int, object)  # session, ClipInfo
    decoded = Signal(int, object)  # session, DecodedFrame
    failed = Signal(int, str)  # session, message


def _start_decoder(source: str, session: int) -> tuple[ClipDecoder, _DecoderSignals]:
    # Unparented signals, so emitting stays safe even after the player that listens is deleted.
    signals = _DecoderSignals()
    # The callbacks hold the signals object, so it lives as long as the decoder does.
    decoder = ClipDecoder(
        source,
        lambda info: signals.opened.emit(session, info),
        lambda frame: signals.decoded.emit(session, frame),
        lambda message: signals.failed.emit(session, message),
    )
    return decoder, signals


def _stop_decoders(decoders: list[ClipDecoder], *_: object) -> None:
    for decoder in decoders:
        decoder.stop()


def _clock(seconds: float) -> str:
    minutes, rest = divmod(max(0.0, seconds), 60)
    return f"{int(minutes):02d}:{rest:06.3f}"


def _interactive() -> bool:
    return QGuiApplication.platformName() not in _HEADLESS_PLATFORMS


def _write_png(image: QImage, target: Path, *, make_folder: bool = False) -> Path:
    """Write ``image`` as a PNG file (any thread: a QImage is not tied to the GUI thread)."""
    if make_folder:
        target.parent.mkdir(parents=True, exist_ok=True)
    writer = QImageWriter(str(target), b"png")
    if not writer.write(image):
        raise OSError(f"cannot write {target}: {writer.errorString()}")
    return target


class ClipPlayer(QWidget):
    """Plays a stored clip frame-exactly, showing each frame's local time and offset from the event.

    Decoding runs on a worker thread that hands RGB arrays back through a signal; the GUI wraps
    them in ``QImage``s. Playback follows the wall clock (a timer at fps x speed asks for the
    frame due now), so a slow decoder drops frames instead of drifting. Keys: space plays or
    pauses, left/right step one frame, Home/End jump to the first/last frame.
    """

    frame_shown = Signal(int)  # frame index
    error = Signal(str)  # a message for the operator
    snapshot_saved = Signal(str)  # path

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.snapshot_dir = Path(platformdirs.user_pictures_dir())
        self._session = 0
        self._decoder: ClipDecoder | None = None
        self._decoder_signals: _DecoderSignals | None = None
        # A player deleted without being closed must not leave its decoder waiting forever; the
        # hook holds this list, not the player, which is gone by the time it runs.
        live: list[ClipDecoder] = []
        self._live_decoders = live
        self.destroyed.connect(functools.partial(_stop_decoders, live))
        self._source = ""
        self._meta: ClipMeta | None = None
        self._info: ClipInfo | None = None
        self._frame: DecodedFrame | None = None
        self._target = 0
        self._playing = False
        self._play_when_open = False  # play() was asked for while the clip was still opening
        self._speed = 1.0
        self._anchor_index = 0
        self._anchor_time = 0.0
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.timeout.connect(self._on_tick)
        self._writes = BackgroundTasks(1, self)  # snapshot files
        self.ask_snapshot_path = _interactive()
        """Whether the snapshot button asks where to save (else: :attr:`snapshot_dir`)."""
        self._build()
        self._set_controls_enabled(False)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

    def _build(self) -> None:
        self.surface = VideoSurface()
        self.seek_bar = EventSeekBar()
        self.seek_bar.valueChanged.connect(self._on_seek_bar_changed)
        style = self.style()

        def button(icon: QStyle.StandardPixmap, tip: str) -> QToolButton:
            widget = QToolButton()
            widget.setIcon(style.standardIcon(icon))
            widget.setToolTip(tip)
            widget.setAccessibleName(tip.split(" (")[0])
            widget.setAutoRaise(True)
            return widget

        self.first_button = button(QStyle.StandardPixmap.SP_MediaSkipBackward, "First frame (Home)")
        self.back_button = button(QStyle.StandardPixmap.SP_MediaSeekBackward, "Previous frame (←)")
        self.play_button = button(QStyle.StandardPixmap.SP_MediaPlay, "Play (space)")
        self.forward_button = button(QStyle.StandardPixmap.SP_MediaSeekForward, "Next frame (→)")
        self.last_button = button(QStyle.StandardPixmap.SP_MediaSkipForward, "Last frame (End)")
        self.first_button.clicked.connect(self._on_first_clicked)
        self.back_button.clicked.connect(self._on_back_clicked)
        self.play_button.clicked.connect(self._on_play_clicked)
        self.forward_button.clicked.connect(self._on_forward_clicked)
        self.last_button.clicked.connect(self._on_last_clicked)

        self.speed_box = QComboBox()
        for speed in SPEEDS:
            self.speed_box.addItem(f"{speed:g}x", speed)
        self.speed_box.setCurrentIndex(SPEEDS.index(1.0))
        self.speed_box.setToolTip("Playback speed")
        self.speed_box.currentIndexChanged.connect(self._on_speed_chosen)

        self.snapshot_button = QPushButton("Snapshot")
        self.snapshot_button.setToolTip("Save the shown frame as a PNG image")
        self.snapshot_button.clicked.connect(self._on_snapshot_clicked)

        self.time_label = QLabel("--:--.--- / --:--.---")
        self.wall_label = QLabel("")
        self.wall_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        font = self.wall_label.font()
        font.setStyleHint(font.StyleHint.Monospace)
        font.setFamily("monospace")
        self.wall_label.setFont(font)
        self.time_label.setFont(font)
        self.status_label = QLabel("No clip")
        self.status_label.setWordWrap(True)

        self._controls: tuple[QWidget, ...] = (
            self.seek_bar,
            self.first_button,
            self.back_button,
            self.play_button,
            self.forward_button,
            self.last_button,
            self.speed_box,
            self.snapshot_button,
        )
        # Keys belong to the player as a whole: a focused button would eat the space bar.
        for widget in self._controls:
            widget.setFocusPolicy(Qt.FocusPolicy.NoFocus)

        controls = QHBoxLayout()
        controls.setContentsMargins(0, 0, 0, 0)
        for widget in (
            self.first_button,
            self.back_button,
            self.play_button,
            self.forward_button,
            self.last_button,
        ):
            controls.addWidget(widget)
        controls.addSpacing(8)
        controls.addWidget(self.speed_box)
        controls.addWidget(self.snapshot_button)
        controls.addStretch(1)
        controls.addWidget(self.time_label)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(4)
        layout.addWidget(self.surface, 1)
        layout.addWidget(self.seek_bar)
        layout.addLayout(controls)
        layout.addWidget(self.wall_label)
        layout.addWidget(self.status_label)

    # -- public API ----------------------------------------------------------------------

    def open_clip(self, source: str, meta: ClipMeta | None = None) -> None:
        """Start opening a clip (a file path or an http(s) URL); its first frame follows."""
        # Results still on their way from the previous clip's decoder are ignored by session.
        self._stop_decoder(wait=False)
        self._source, self._meta = source, meta
        self._reset("Opening clip…", f"Opening {self._source_name()}")
        decoder, signals = _start_decoder(source, self._session)
        signals.opened.connect(self._on_opened)
        signals.decoded.connect(self._on_decoded)
        signals.failed.connect(self._on_failed)
        self._decoder, self._decoder_signals = decoder, signals
        self._live_decoders[:] = [decoder]
        decoder.start()

    def close_clip(self) -> None:
        """Stop playback and release the clip (waits briefly for the decoder to finish)."""
        self._stop_decoder(wait=True)
        self._reset("", "No clip")

    def play(self) -> None:
        """Play from the current frame (from the start if at the end); while a clip is still
        opening, playing starts as soon as it is open.
        """
        if self._info is None:
            self._play_when_open = self._decoder is not None
            return
        if self._playing:
            return
        if self._target >= self._info.frame_count - 1:
            self._request(0)
        self._playing = True
        self._restart_clock()
        self.play_button.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_MediaPause))
        self.play_button.setToolTip("Pause (space)")

    def pause(self) -> None:
        """Stop at the current frame (or do not start once the opening clip is open)."""
        self._play_when_open = False
        self._timer.stop()
        if self._playing:
            self._playing = False
            self.play_button.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_MediaPlay))
            self.play_button.setToolTip("Play (space)")

    def toggle_playing(self) -> None:
        """Pause when playing, play when paused."""
        if self._playing:
            self.pause()
        else:
            self.play()

    def seek_frame(self, index: int) -> None:
        """Show frame ``index`` (clamped to the clip); playback, if on, continues from there."""
        if self._info is None:
            return
        self._request(index)
        if self._playing:
            self._restart_clock()

    def step(self, delta: int) -> None:
        """Pause and move ``delta`` frames (usually +1 or -1) from the frame last asked for."""
        if self._info is None:
            return
        self.pause()
        self._request(self._target + delta)

    def set_speed(self, speed: float) -> None:
        """Play at ``speed`` times real time: one of :data:`SPEEDS`."""
        if speed not in SPEEDS:
            raise ValueError(f"speed must be one of {', '.join(f'{s:g}' for s in SPEEDS)}")
        if self._playing:
            # Continue from the frame due now, at the new pace.
            self._anchor_index = self._due_index()
            self._anchor_time = time.monotonic()
        self._speed = speed
        with QSignalBlocker(self.speed_box):
            self.speed_box.setCurrentIndex(SPEEDS.index(speed))
        if self._playing:
            self._timer.start(self._tick_ms())

    def save_snapshot(self, path: str | Path) -> Path:
        """Write the shown frame, at the clip's size, as a PNG; raises ``OSError`` on failure.

        This writes on the calling thread; the snapshot button writes in the background.
        """
        image = self.surface.image
        if image is None:
            raise OSError("there is no frame to save")
        return _write_png(image, Path(path))

    @property
    def decoder(self) -> ClipDecoder | None:
        """The thread decoding the open clip, if one is open or opening."""
        return self._decoder

    @property
    def is_playing(self) -> bool:
        """True while playing."""
        return self._playing

    @property
    def will_play(self) -> bool:
        """True while playing, or while opening a clip that plays once open."""
        return self._playing or self._play_when_open

    @property
    def speed(self) -> float:
        """The playback speed."""
        return self._speed

    @property
    def frame_count(self) -> int:
        """Frames in the open clip (0 before one is open)."""
        return self._info.frame_count if self._info is not None else 0

    @property
    def fps(self) -> float:
        """Frames per second of the open clip (0 before one is open)."""
        return self._info.fps if self._info is not None else 0.0

    @property
    def event_frame_index(self) -> int | None:
        """The frame at the event's moment (offset ``pre``), if a clip with metadata is open."""
        return self.seek_bar.marker

    @property
    def current_frame_index(self) -> int:
        """Index of the frame on screen, or -1 when none is."""
        return self._frame.index if self._frame is not None else -1

    @property
    def current_wall_time(self) -> datetime | None:
        """UTC moment of the frame on screen (the clip's window start + the frame's time)."""
        if self._frame is None or self._meta is None:
            return None
        return self._meta.window_start + timedelta(seconds=self._frame.pts_seconds)

    @property
    def current_event_offset(self) -> float | None:
        """Seconds from the event to the frame on screen (negative before the event)."""
        wall = self.current_wall_time
        if wall is None or self._meta is None:
            return None
        return (wall - self._meta.event.timestamp).total_seconds()

    # -- decoder results -----------------------------------------------------------------

    def _on_opened(self, session: int, info: ClipInfo) -> None:
        if session != self._session:
            return
        self._info = info
        with QSignalBlocker(self.seek_bar):
            self.seek_bar.setRange(0, max(0, info.frame_count - 1))
            self.seek_bar.setValue(0)
        self.seek_bar.setPageStep(max(1, round(info.fps)))
        self.seek_bar.set_marker(self._event_index(info))
        marker = self.seek_bar.marker
        self.seek_bar.setToolTip(
            f"Event at {_clock(marker / info.fps)}" if marker is not None else ""
        )
        self._set_controls_enabled(True)
        width, height = info.size
        self.status_label.setText(
            f"{self._source_name()} · {width}x{height} · {info.fps:g} fps · "
            f"{info.frame_count} frames"
        )
        self._request(0)
        if self._play_when_open:
            self._play_when_open = False
            self.play()

    def _on_decoded(self, session: int, frame: DecodedFrame) -> None:
        if session != self._session or self._info is None:
            return
        self._frame = frame
        self.surface.show_pixels(frame.rgb, self._info.display_aspect)
        if not self.seek_bar.isSliderDown():
            with QSignalBlocker(self.seek_bar):
                self.seek_bar.setValue(frame.index)
        self._update_labels(frame)
        self.frame_shown.emit(frame.index)

    def _on_failed(self, session: int, message: str) -> None:
        if session != self._session:
            return
        self.pause()
        text = message[:1].upper() + message[1:]
        if self._info is None:
            self._set_controls_enabled(False)
            self.surface.show_message(f"Cannot play this clip.\n{text}")
        else:
            self.surface.show_message(text, keep_picture=True)
        self.status_label.setText(text)
        self.error.emit(message)

    # -- timing --------------------------------------------------------------------------

    def _restart_clock(self) -> None:
        self._anchor_index = self._target
        self._anchor_time = time.monotonic()
        self._timer.start(self._tick_ms())

    def _tick_ms(self) -> int:
        fps = self._info.fps if self._info is not None else 15.0
        return max(1, round(1000 / (fps * self._speed)))

    def _due_index(self) -> int:
        """The frame that should be on screen now, by the clock."""
        fps = self._info.fps if self._info is not None else 15.0
        elapsed = time.monotonic() - self._anchor_time
        return self._anchor_index + int(elapsed * fps * self._speed)

    def _on_tick(self) -> None:
        if self._info is None:
            self.pause()
            return
        last = self._info.frame_count - 1
        due = min(self._due_index(), last)
        if due != self._target:
            self._request(due)
        if due >= last:
            self.pause()

    def _request(self, index: int) -> None:
        if self._info is None or self._decoder is None:
            return
        self._target = max(0, min(index, self._info.frame_count - 1))
        self._decoder.request(self._target)

    # -- controls ------------------------------------------------------------------------

    def _on_play_clicked(self) -> None:
        self.toggle_playing()

    def _on_back_clicked(self) -> None:
        self.step(-1)

    def _on_forward_clicked(self) -> None:
        self.step(+1)

    def _on_first_clicked(self) -> None:
        self.seek_frame(0)

    def _on_last_clicked(self) -> None:
        self.pause()
        self.seek_frame(self.frame_count - 1)

    def _on_seek_bar_changed(self, value: int) -> None:
        if value != self._target:
            self.seek_frame(value)

    def _on_speed_chosen(self, position: int) -> None:
        self.set_speed(SPEEDS[position])

    def _on_snapshot_clicked(self) -> None:
        image = self.surface.image
        if image is None:
            return
        # A copy: the surface's image borrows the decoder's array, which the next frame replaces.
        picture = image.copy()
        suggested = self.snapshot_dir / self._snapshot_name()
        if not self.ask_snapshot_path:
            self._write_snapshot(picture, suggested)
            return
        dialog = QFileDialog(self, "Save snapshot", str(suggested.parent), "PNG image (*.png)")
        dialog.setObjectName("snapshotDialog")
        dialog.setOption(QFileDialog.Option.DontUseNativeDialog)
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setDefaultSuffix("png")
        dialog.selectFile(suggested.name)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.fileSelected.connect(lambda chosen: self._write_snapshot(picture, Path(chosen)))
        dialog.open()  # not exec(): a nested event loop would stall the qasync loop

    def _write_snapshot(self, picture: QImage, path: Path) -> None:
        self._writes.submit(
            lambda: _write_png(picture, path, make_folder=True),
            self._on_snapshot_written,
            self._on_snapshot_failed,
        )

    def _on_snapshot_written(self, saved: Path) -> None:
        self.status_label.setText(f"Snapshot saved: {saved}")
        self.snapshot_saved.emit(str(saved))

    def _on_snapshot_failed(self, error: Exception) -> None:
        message = f"Snapshot not saved: {error}"
        self.status_label.setText(message)
        self.error.emit(message)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        if key == Qt.Key.Key_Space:
            self.toggle_playing()
        elif key == Qt.Key.Key_Left:
            self.step(-1)
        elif key == Qt.Key.Key_Right:
            self.step(+1)
        elif key == Qt.Key.Key_Home:
            self._on_first_clicked()
        elif key == Qt.Key.Key_End:
            self._on_last_clicked()
        else:
            super().keyPressEvent(event)
            return
        event.accept()

    def closeEvent(self, event: QCloseEvent) -> None:
        self._stop_decoder(wait=True)
        self._writes.close()
        super().closeEvent(event)

    # -- helpers -------------------------------------------------------------------------

    def _stop_decoder(self, *, wait: bool) -> None:
        self.pause()
        decoder, self._decoder = self._decoder, None
        self._decoder_signals = None
        self._live_decoders.clear()
        if decoder is None:
            return
        decoder.stop()
        if wait:
            # Bounded: a decoder stuck opening a dead URL gives up on its own (its timeout).
            decoder.join(timeout=2.0)

    def _reset(self, message: str, status: str) -> None:
        self._session += 1
        self._info = self._frame = None
        self._target = 0
        self._set_controls_enabled(False)
        self.seek_bar.set_marker(None)
        self.seek_bar.setToolTip("")
        with QSignalBlocker(self.seek_bar):
            self.seek_bar.setRange(0, 0)
        self.time_label.setText("--:--.--- / --:--.---")
        self.wall_label.setText("")
        self.surface.show_message(message)
        self.status_label.setText(status)

    def _set_controls_enabled(self, enabled: bool) -> None:
        for widget in self._controls:
            widget.setEnabled(enabled)

    def _event_index(self, info: ClipInfo) -> int | None:
        if self._meta is None:
            return None
        pre = (self._meta.event.timestamp - self._meta.window_start).total_seconds()
        index = round(pre * info.fps)
        return index if 0 <= index < info.frame_count else None

    def _update_labels(self, frame: DecodedFrame) -> None:
        info = self._info
        assert info is not None
        self.time_label.setText(
            f"{_clock(frame.pts_seconds)} / {_clock(info.frame_count / info.fps)}"
            f"  frame {frame.index + 1}/{info.frame_count}"
        )
        wall, offset = self.current_wall_time, self.current_event_offset
        if wall is None or offset is None:
            self.wall_label.setText("")
            return
        clock = local_time_text(wall, milliseconds=True)
        self.wall_label.setText(f"{clock}   event {offset:+.3f} s")

    def _source_name(self) -> str:
        # Only the last path part: a presigned URL's query carries a signature.
        path = urlsplit(self._source).path if "://" in self._source else self._source
        return Path(path).name or "clip"

    def _snapshot_name(self) -> str:
        if self._meta is not None:
            stem = self._meta.event_id
        else:
            stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(self._source_name()).stem) or "clip"
        wall = self.current_wall_time
        if wall is not None:
            return f"{stem}_{iso(wall).replace(':', '').replace('-', '')}.png"
        index = self._frame.index if self._frame is not None else 0
        return f"{stem}_frame{index:06d}.png"
