"""ClipPlayer: exact seeking and stepping, speed, snapshots, event marker, clock and errors."""

from __future__ import annotations

import itertools
import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QStyle, QStyleOptionSlider
from pytestqt.qtbot import QtBot

from tests.gui.conftest import ZoneSetter
from tests.support.media import make_camera_file
from vms_desktop.domain.clip import ClipMeta, Event
from vms_desktop.engine import framestamp
from vms_desktop.engine.playback import ClipReader, DecodedFrame
from vms_desktop.gui.player import ClipPlayer
from vms_desktop.gui.time_text import local_time_text

FPS = 15
FRAMES = 90
WINDOW_START = datetime(2025, 5, 31, 10, 30, 0, tzinfo=UTC)
PRE = 2.0
EVENT_FRAME = round(PRE * FPS)


def expected_stamp(index: int) -> int:
    return round(index * 1000 / FPS)


def stamp_of_rgb(rgb: np.ndarray | None) -> int | None:
    assert rgb is not None
    luma = rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return framestamp.read(luma)


def luma_of(image: QImage) -> np.ndarray:
    gray = image.convertToFormat(QImage.Format.Format_Grayscale8)
    rows = np.frombuffer(gray.constBits(), dtype=np.uint8).reshape(
        gray.height(), gray.bytesPerLine()
    )
    return rows[:, : gray.width()].copy()


def grabbed_stamp(player: ClipPlayer) -> int | None:
    """The stamp read from what the surface actually painted (scaled, inside its black bars)."""
    surface = player.surface
    rect = surface.picture_rect()
    luma = luma_of(surface.grab().toImage())
    return framestamp.read(luma[rect.y() : rect.bottom() + 1, rect.x() : rect.right() + 1])


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """6 s of stamped 640x480 15 fps H.264, frame k stamped k/15 s."""
    return make_camera_file(
        tmp_path_factory.mktemp("player") / "clip.ts", seconds=FRAMES / FPS, start=0.0
    )


@pytest.fixture
def meta() -> ClipMeta:
    event = Event("evt-0042", "cam01", "motion", WINDOW_START + timedelta(seconds=PRE))
    return ClipMeta(
        event=event,
        window_start=WINDOW_START,
        window_end=WINDOW_START + timedelta(seconds=FRAMES / FPS),
        fps=FPS,
        width=640,
        height=480,
        duration=FRAMES / FPS,
        size=1,
        sha256="0" * 64,
        created_at=WINDOW_START + timedelta(seconds=10),
    )


@pytest.fixture
def player(qtbot: QtBot) -> ClipPlayer:
    widget = ClipPlayer()
    qtbot.addWidget(widget)
    widget.resize(760, 680)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


@pytest.fixture
def opened(qtbot: QtBot, player: ClipPlayer, clip: Path, meta: ClipMeta) -> ClipPlayer:
    player.open_clip(str(clip), meta)
    qtbot.waitUntil(lambda: player.current_frame_index == 0, timeout=10_000)
    return player


def show(qtbot: QtBot, player: ClipPlayer, index: int) -> None:
    qtbot.waitUntil(lambda: player.current_frame_index == index, timeout=5000)


def test_seeking_shows_exactly_the_frame_asked_for(qtbot: QtBot, opened: ClipPlayer) -> None:
    assert (opened.frame_count, opened.fps) == (FRAMES, FPS)
    rng = random.Random(11)
    for index in [rng.randrange(FRAMES) for _ in range(12)] + [FRAMES - 1, 0, 44, 43]:
        opened.seek_frame(index)
        show(qtbot, opened, index)
        assert stamp_of_rgb(opened.surface.pixels) == expected_stamp(index)
        assert grabbed_stamp(opened) == expected_stamp(index)
        assert opened.seek_bar.value() == index


def test_stepping_moves_exactly_one_frame(qtbot: QtBot, opened: ClipPlayer) -> None:
    opened.seek_frame(31)
    show(qtbot, opened, 31)
    for delta, index in [(-1, 30), (-1, 29), (+1, 30), (+1, 31), (+1, 32)]:
        opened.step(delta)
        show(qtbot, opened, index)
        assert stamp_of_rgb(opened.surface.pixels) == expected_stamp(index)
    opened.seek_frame(0)
    show(qtbot, opened, 0)
    opened.step(-1)  # clamped at the first frame
    qtbot.wait(100)
    assert opened.current_frame_index == 0


def test_keys_step_jump_and_toggle_playback(qtbot: QtBot, opened: ClipPlayer) -> None:
    opened.seek_frame(10)
    show(qtbot, opened, 10)
    qtbot.keyClick(opened, Qt.Key.Key_Left)
    show(qtbot, opened, 9)
    qtbot.keyClick(opened, Qt.Key.Key_Right)
    qtbot.keyClick(opened, Qt.Key.Key_Right)
    show(qtbot, opened, 11)
    qtbot.keyClick(opened, Qt.Key.Key_End)
    show(qtbot, opened, FRAMES - 1)
    qtbot.keyClick(opened, Qt.Key.Key_Home)
    show(qtbot, opened, 0)
    qtbot.keyClick(opened, Qt.Key.Key_Space)
    assert opened.is_playing
    qtbot.waitUntil(lambda: opened.current_frame_index > 3, timeout=5000)
    qtbot.keyClick(opened, Qt.Key.Key_Space)
    assert not opened.is_playing


def _settled_index(qtbot: QtBot, player: ClipPlayer) -> int:
    """The frame on screen once the last one asked for has landed (decoding may lag behind)."""
    while True:
        before = player.current_frame_index
        qtbot.wait(300)
        if player.current_frame_index == before:
            return before


def _frames_per_second(qtbot: QtBot, player: ClipPlayer, speed: float) -> float:
    player.seek_frame(0)
    show(qtbot, player, 0)
    player.set_speed(speed)
    started = time.monotonic()
    player.play()
    qtbot.wait(1000)
    player.pause()
    elapsed = time.monotonic() - started
    return _settled_index(qtbot, player) / elapsed


def test_playing_at_2x_advances_twice_as_fast_as_at_1x(qtbot: QtBot, opened: ClipPlayer) -> None:
    normal = _frames_per_second(qtbot, opened, 1.0)
    double = _frames_per_second(qtbot, opened, 2.0)
    assert normal == pytest.approx(FPS, rel=0.25)
    assert double == pytest.approx(2 * FPS, rel=0.25)
    assert double / normal == pytest.approx(2.0, rel=0.25)
    assert opened.speed_box.currentText() == "2x"
    with pytest.raises(ValueError):
        opened.set_speed(3.0)


def test_a_slow_decoder_drops_frames_instead_of_falling_behind(
    qtbot: QtBot, opened: ClipPlayer, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_frame_at = ClipReader.frame_at
    decoded: list[int] = []

    def slow_frame_at(reader: ClipReader, index: int) -> DecodedFrame:
        time.sleep(0.2)  # three frame times at 15 fps
        decoded.append(index)
        return real_frame_at(reader, index)

    monkeypatch.setattr(ClipReader, "frame_at", slow_frame_at)
    rate = _frames_per_second(qtbot, opened, 1.0)
    # The clock, not the decoder, sets the pace: about 15 frames along after a second...
    assert rate == pytest.approx(FPS, rel=0.3)
    # ...reached by skipping the frames there was no time for.
    assert len(decoded) <= 8
    assert any(b - a > 1 for a, b in itertools.pairwise(decoded))


def test_playback_stops_at_the_last_frame(qtbot: QtBot, opened: ClipPlayer) -> None:
    opened.seek_frame(FRAMES - 10)
    show(qtbot, opened, FRAMES - 10)
    opened.set_speed(4.0)
    opened.play()
    show(qtbot, opened, FRAMES - 1)
    qtbot.waitUntil(lambda: not opened.is_playing, timeout=2000)
    opened.play()  # from the end, playing starts over
    qtbot.waitUntil(lambda: 0 < opened.current_frame_index < FRAMES - 10, timeout=5000)
    opened.pause()


def test_snapshot_is_a_png_of_the_shown_frame_at_the_clip_size(
    qtbot: QtBot, opened: ClipPlayer, tmp_path: Path
) -> None:
    opened.seek_frame(52)
    show(qtbot, opened, 52)
    saved = opened.save_snapshot(tmp_path / "snap.png")
    image = QImage(str(saved))
    assert (image.width(), image.height()) == (640, 480)
    assert framestamp.read(luma_of(image)) == expected_stamp(52)

    opened.snapshot_dir = tmp_path / "shots"
    with qtbot.waitSignal(opened.snapshot_saved, timeout=2000) as saved_signal:
        qtbot.mouseClick(opened.snapshot_button, Qt.MouseButton.LeftButton)
    written = Path(saved_signal.args[0])
    assert written.parent == tmp_path / "shots"
    assert written.name.startswith("evt-0042_") and written.suffix == ".png"
    assert QImage(str(written)).size() == image.size()

    with pytest.raises(OSError, match="cannot write"):
        opened.save_snapshot(tmp_path / "no-such-dir" / "snap.png")


def test_closing_the_clip_releases_it(qtbot: QtBot, opened: ClipPlayer) -> None:
    decoder = opened.decoder
    assert decoder is not None
    opened.play()
    opened.close_clip()
    assert not decoder.is_alive()
    assert (opened.current_frame_index, opened.frame_count, opened.is_playing) == (-1, 0, False)
    assert opened.surface.image is None and opened.wall_label.text() == ""
    assert not opened.play_button.isEnabled()


def test_a_player_deleted_without_closing_stops_its_decoder(qtbot: QtBot, clip: Path) -> None:
    widget = ClipPlayer()
    widget.open_clip(str(clip), None)
    qtbot.waitUntil(lambda: widget.current_frame_index == 0, timeout=10_000)
    decoder = widget.decoder
    assert decoder is not None and decoder.is_alive()
    widget.deleteLater()
    qtbot.waitUntil(lambda: not decoder.is_alive(), timeout=5000)


def test_the_event_moment_is_marked_on_the_seek_bar_at_pre(
    qtbot: QtBot, opened: ClipPlayer
) -> None:
    bar = opened.seek_bar
    assert opened.event_frame_index == EVENT_FRAME
    marker = bar.marker_x()
    assert marker is not None
    # Proportionally along the bar: pre / duration of the way from the first to the last frame.
    first, last = bar.value_x(0), bar.value_x(FRAMES - 1)
    assert (marker - first) / (last - first) == pytest.approx(EVENT_FRAME / (FRAMES - 1), abs=0.01)
    # Right under the handle when the event frame is shown.
    opened.seek_frame(EVENT_FRAME)
    show(qtbot, opened, EVENT_FRAME)
    option = QStyleOptionSlider()
    bar.initStyleOption(option)
    handle = bar.style().subControlRect(
        QStyle.ComplexControl.CC_Slider, option, QStyle.SubControl.SC_SliderHandle, bar
    )
    assert abs(handle.center().x() - marker) <= 1
    # And it is drawn: event-red pixels in the marker's column, none far from it.
    opened.seek_frame(0)
    show(qtbot, opened, 0)
    image = bar.grab().toImage()

    def red_pixels(x: int) -> int:
        colors = [image.pixelColor(x, y) for y in range(image.height())]
        return sum(c.red() > 180 and c.green() < 120 and c.blue() < 120 for c in colors)

    assert red_pixels(marker) >= bar.height() // 2
    assert red_pixels(marker + 40) == 0


@pytest.mark.parametrize(
    ("zone", "first"),
    [
        ("UTC", "2025-05-31 10:30:00.467 UTC"),
        ("Europe/Berlin", "2025-05-31 12:30:00.467 CEST"),  # summer time on that day
        ("Etc/GMT+3", "2025-05-31 07:30:00.467 UTC-03:00"),  # a zone named only "-03"
        ("Asia/Kolkata", "2025-05-31 16:00:00.467 IST"),
    ],
)
def test_the_clock_shows_local_time_with_its_zone_and_the_event_offset(
    qtbot: QtBot, opened: ClipPlayer, local_zone: ZoneSetter, zone: str, first: str
) -> None:
    local_zone(zone)
    for index, offset in [(7, "-1.533"), (45, "+1.000"), (EVENT_FRAME, "+0.000")]:
        opened.seek_frame(index)
        show(qtbot, opened, index)
        wall = WINDOW_START + timedelta(seconds=index / FPS)
        assert opened.current_wall_time is not None
        assert abs(opened.current_wall_time - wall) < timedelta(milliseconds=1)
        assert (
            opened.wall_label.text()
            == f"{local_time_text(wall, milliseconds=True)}   event {offset} s"
        )
        if index == 7:
            assert opened.wall_label.text() == f"{first}   event -1.533 s"


def test_a_corrupt_file_shows_a_readable_message(
    qtbot: QtBot, player: ClipPlayer, tmp_path: Path, clip: Path
) -> None:
    garbage = tmp_path / "broken.mp4"
    garbage.write_bytes(random.Random(5).randbytes(100_000))
    with qtbot.waitSignal(player.error, timeout=10_000) as failure:
        player.open_clip(str(garbage), None)
    assert "broken.mp4" in failure.args[0]
    message = player.surface.message
    assert message.startswith("Cannot play this clip.")
    assert "Traceback" not in message and "broken.mp4" in message
    assert not player.play_button.isEnabled()
    assert player.current_frame_index == -1
    # The message is painted where the picture would be.
    luma = luma_of(player.surface.grab().toImage())
    assert luma.max() > 200
    player.grab().save("/tmp/player_error.png")

    # The player recovers when a good clip follows.
    player.open_clip(str(clip), None)
    qtbot.waitUntil(lambda: player.current_frame_index == 0, timeout=10_000)
    assert player.surface.message == ""
    assert player.wall_label.text() == ""  # no metadata, no wall clock


def test_screenshot(qtbot: QtBot, opened: ClipPlayer) -> None:
    opened.seek_frame(EVENT_FRAME + 4)
    show(qtbot, opened, EVENT_FRAME + 4)
    assert opened.grab().save("/tmp/player.png")


def test_play_asked_for_while_opening_starts_once_open(
    qtbot: QtBot, player: ClipPlayer, clip: Path, meta: ClipMeta
) -> None:
    player.open_clip(str(clip), meta)
    player.play()  # nothing is open yet: the intent must survive the asynchronous open
    assert player.will_play and not player.is_playing
    qtbot.waitUntil(lambda: player.is_playing, timeout=10_000)
    qtbot.waitUntil(lambda: player.current_frame_index > 3, timeout=5000)

    player.open_clip(str(clip), meta)
    player.play()
    player.pause()  # changed their mind before it opened
    qtbot.waitUntil(lambda: player.current_frame_index == 0, timeout=10_000)
    qtbot.wait(300)
    assert not player.is_playing and player.current_frame_index == 0


def test_the_snapshot_dialog_does_not_block_and_saves_where_chosen(
    qtbot: QtBot, opened: ClipPlayer, tmp_path: Path
) -> None:
    from PySide6.QtWidgets import QFileDialog

    opened.seek_frame(20)
    show(qtbot, opened, 20)
    opened.ask_snapshot_path = True
    qtbot.mouseClick(opened.snapshot_button, Qt.MouseButton.LeftButton)
    # The click returned: the dialog is open without a nested event loop.
    dialog = opened.findChild(QFileDialog, "snapshotDialog")
    assert dialog is not None and dialog.isVisible()
    chosen = tmp_path / "picked" / "door.png"
    chosen.parent.mkdir()
    with qtbot.waitSignal(opened.snapshot_saved, timeout=5000) as saved:
        dialog.selectFile(str(chosen))
        dialog.accept()
    assert saved.args == [str(chosen)]
    image = QImage(str(chosen))
    assert (image.width(), image.height()) == (640, 480)
    assert framestamp.read(luma_of(image)) == expected_stamp(20)
