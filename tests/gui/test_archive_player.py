"""The archive player on two real demo cameras: any moment, in step, frame steps, holes, edge."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot

from tests.support.waiting import wait_until
from vms_desktop.domain.recording import ArchiveGap
from vms_desktop.engine import framestamp
from vms_desktop.engine.camera_worker import CameraWorker
from vms_desktop.gui.player.archive_clock import GapMode, PlayClock, decide, step_target
from vms_desktop.gui.player.archive_player import ArchivePlayer
from vms_desktop.gui.player.archive_tile import ArchiveTile
from vms_desktop.gui.time_text import local_time_text
from vms_desktop.runtime import Runtime

FRAME = 1 / 15  # the demo cameras' default rate
# The archive's moments are resolved from 90 kHz timestamps against a run start kept in ms.
STAMP_MS = 5


def painted_stamp(tile: ArchiveTile) -> int | None:
    """The stamp (ms) read from what the tile's surface painted, inside its black bars."""
    surface = tile.surface
    rect = surface.picture_rect()
    gray = surface.grab().toImage().convertToFormat(QImage.Format.Format_Grayscale8)
    rows = np.frombuffer(gray.constBits(), dtype=np.uint8).reshape(
        gray.height(), gray.bytesPerLine()
    )
    luma = rows[:, : gray.width()]
    return framestamp.read(luma[rect.y() : rect.bottom() + 1, rect.x() : rect.right() + 1])


def clock_text(moment: float) -> str:
    return local_time_text(datetime.fromtimestamp(moment, UTC), milliseconds=True)


def recorded_for(runtime: Runtime, seconds: float, *cameras: str) -> None:
    """Wait until every camera named holds ``seconds`` of footage."""
    for camera_id in cameras:
        buffer = runtime.recorder.buffer(camera_id)
        wait_until(
            lambda b=buffer: (b.newest or 0) - (b.oldest or float("inf")) >= seconds,
            timeout=40,
            what=f"{seconds} s of {camera_id}",
        )


@pytest.fixture
def player(qtbot: QtBot, runtime: Runtime) -> Iterator[ArchivePlayer]:
    widget = ArchivePlayer(runtime.console.open_archive, runtime.console.coverage)
    qtbot.addWidget(widget)
    widget.resize(800, 600)
    widget.show()
    qtbot.waitExposed(widget)
    yield widget
    widget.shutdown()


def shown_near(player: ArchivePlayer, moment: float, frames: float = 2.0) -> bool:
    shown = player.shown_moment
    return shown is not None and moment - frames * FRAME - 1e-3 <= shown <= moment + 1e-3


# ---- the rules, as plain values -----------------------------------------------------------


def test_the_clock_runs_at_its_speed_and_stands_still_when_paused() -> None:
    now = [100.0]
    clock = PlayClock(5000.0, monotonic=lambda: now[0])
    now[0] += 1
    assert clock.moment == 5000.0
    clock.play()
    now[0] += 2
    assert clock.moment == pytest.approx(5002.0)
    clock.set_speed(4.0)
    now[0] += 0.5
    assert clock.moment == pytest.approx(5004.0)
    clock.pause()
    now[0] += 10
    assert clock.moment == pytest.approx(5004.0)
    clock.seek(6000.0)
    assert clock.moment == 6000.0 and clock.seeked_to == 6000.0
    assert not clock.belongs(5999.0) and clock.belongs(6000.0)
    assert clock.belongs(5999.0, picture=True)  # the picture due at 6000 may be older


def test_the_view_acts_on_gaps_only_when_every_camera_is_in_one() -> None:
    gap = ArchiveGap("cam01", 10.0, 20.0)
    later = ArchiveGap("cam02", 10.0, 30.0)
    edge = ArchiveGap("cam02", 10.0, None)
    assert decide([gap, None], GapMode.JUMP).jump_to is None  # cam02 still has footage
    assert decide([gap, later], GapMode.JUMP).jump_to == 20.0
    assert decide([gap, later], GapMode.BLACK).jump_to is None
    assert decide([gap, edge], GapMode.JUMP).jump_to == 20.0
    assert decide([edge], GapMode.BLACK).live_edge
    assert decide([edge], GapMode.JUMP).live_edge
    assert step_target(10.0, 0.1, +1) == pytest.approx(10.15)
    assert step_target(10.0, 0.1, -1) == pytest.approx(9.95)


# ---- on real footage ----------------------------------------------------------------------


def test_a_recorded_moment_shows_its_picture_and_local_time(
    qtbot: QtBot, runtime: Runtime, player: ArchivePlayer
) -> None:
    recorded_for(runtime, 6.0, "cam01")
    buffer = runtime.recorder.buffer("cam01")
    moment = (buffer.oldest or 0) + 3.0
    player.open(["cam01"], moment, play=False)
    qtbot.waitUntil(lambda: shown_near(player, moment), timeout=10_000)
    shown = player.shown_moment
    assert shown is not None
    tile = player.tiles[0]
    qtbot.waitUntil(lambda: painted_stamp(tile) is not None, timeout=5000)
    assert painted_stamp(tile) == pytest.approx(shown * 1000, abs=STAMP_MS)
    assert player.readout.text() == clock_text(shown)
    assert "UTC" in player.readout.text() or player.readout.text()[-1].isalpha()


def test_pictures_are_decoded_at_the_size_of_their_tile(
    qtbot: QtBot, runtime: Runtime, player: ArchivePlayer
) -> None:
    recorded_for(runtime, 4.0, "cam01")
    player.open(["cam01"], (runtime.recorder.buffer("cam01").oldest or 0) + 2.0, play=False)
    tile = player.tiles[0]

    def decoded_to_fit() -> bool:
        picture, box = tile.picture, tile.surface.picture_rect()
        if picture is None:
            return False
        height, width = picture.image.shape[:2]
        ratio = tile.surface.devicePixelRatioF()
        return abs(width - box.width() * ratio) <= 2 and abs(height - box.height() * ratio) <= 2

    qtbot.waitUntil(decoded_to_fit, timeout=10_000)
    large = tile.picture
    player.resize(360, 300)  # paused: the picture shown is decoded again at the new size
    qtbot.waitUntil(lambda: tile.picture is not large and decoded_to_fit(), timeout=10_000)
    assert tile.picture is not None and large is not None
    assert tile.picture.image.shape[1] < large.image.shape[1]
    assert tile.picture.moment == large.moment


def test_playing_moves_the_pictures_on_with_the_clock(
    qtbot: QtBot, runtime: Runtime, player: ArchivePlayer
) -> None:
    recorded_for(runtime, 8.0, "cam01")
    start = (runtime.recorder.buffer("cam01").oldest or 0) + 1.0
    player.open(["cam01"], start, play=True)
    qtbot.waitUntil(lambda: (player.shown_moment or 0) >= start + 2.0, timeout=10_000)
    assert player.is_playing
    player.pause()
    qtbot.wait(200)
    held = player.shown_moment
    qtbot.wait(500)
    assert player.shown_moment == held


def test_two_cameras_play_in_step(qtbot: QtBot, runtime: Runtime, player: ArchivePlayer) -> None:
    recorded_for(runtime, 8.0, "cam01", "cam02")
    oldest = max(runtime.recorder.buffer(c).oldest or 0 for c in ("cam01", "cam02"))
    moment = oldest + 2.0
    player.open(["cam01", "cam02"], moment, play=False)
    assert player.camera_ids == ["cam01", "cam02"]
    first, second = player.tiles

    def both_near(target: float) -> bool:
        return all(
            tile.picture is not None and target - 2 * FRAME - 1e-3 <= tile.picture.moment <= target
            for tile in (first, second)
        )

    qtbot.waitUntil(lambda: both_near(moment), timeout=10_000)
    assert first.requested == second.requested == moment
    player.play()
    qtbot.wait(1500)
    player.pause()
    asked = player.moment
    qtbot.waitUntil(lambda: both_near(asked), timeout=10_000)
    assert first.requested == second.requested == asked
    assert first.picture is not None and second.picture is not None
    assert abs(first.picture.moment - second.picture.moment) <= 2 * FRAME
    for tile in (first, second):
        picture = tile.picture
        qtbot.waitUntil(
            lambda t=tile, p=picture: abs((painted_stamp(t) or 0) - p.moment * 1000) <= STAMP_MS
        )


def test_frame_steps_move_one_picture_each_way(
    qtbot: QtBot, runtime: Runtime, player: ArchivePlayer
) -> None:
    recorded_for(runtime, 6.0, "cam01")
    moment = (runtime.recorder.buffer("cam01").oldest or 0) + 3.0
    player.open(["cam01"], moment, play=False)
    qtbot.waitUntil(lambda: shown_near(player, moment), timeout=10_000)
    start = player.shown_moment
    assert start is not None
    player.setFocus()
    QTest.keyClick(player, Qt.Key.Key_Period)
    qtbot.waitUntil(lambda: (player.shown_moment or 0) > start, timeout=5000)
    after = player.shown_moment
    assert after is not None
    assert after - start == pytest.approx(FRAME, abs=0.02)
    QTest.keyClick(player, Qt.Key.Key_Period)
    qtbot.waitUntil(lambda: (player.shown_moment or 0) > after, timeout=5000)
    QTest.keyClick(player, Qt.Key.Key_Comma)
    qtbot.waitUntil(lambda: player.shown_moment == after, timeout=5000)
    player.step(-1)
    qtbot.waitUntil(lambda: player.shown_moment == start, timeout=5000)
    assert not player.is_playing
    assert painted_stamp(player.tiles[0]) == pytest.approx(start * 1000, abs=STAMP_MS)
    QTest.keyClick(player, Qt.Key.Key_Space)
    assert player.is_playing


def make_hole(runtime: Runtime, camera_id: str, seconds: float) -> tuple[CameraWorker, float]:
    """Stop the camera's recording for ``seconds`` and start it again: a real hole in its
    archive. Returns the new worker (stop it when done) and where the hole begins.
    """
    recorder = runtime.recorder
    recorder.workers[camera_id].stop(15)
    buffer = recorder.buffer(camera_id)
    hole_start = buffer.newest or 0.0
    QTest.qWait(round(seconds * 1000))
    worker = CameraWorker(recorder.cameras[camera_id], buffer)
    worker.start()
    wait_until(lambda: (buffer.newest or 0) > hole_start + seconds + 3, timeout=30, what="resume")
    return worker, hole_start


def test_a_hole_is_jumped_or_played_through_in_black(
    qtbot: QtBot, runtime: Runtime, player: ArchivePlayer
) -> None:
    recorded_for(runtime, 3.0, "cam01")
    worker, hole_start = make_hole(runtime, "cam01", 4.0)
    try:
        coverage = runtime.console.coverage("cam01", hole_start - 5, hole_start + 30)
        hole = next(gap for gap in coverage.gaps if gap.end > hole_start)
        assert hole.duration > 2.0

        # Jump: playing into the hole moves the clock to where footage resumes at once.
        player.set_gap_mode(GapMode.JUMP)
        began = time.monotonic()
        player.open(["cam01"], hole.start - 1.0, play=True)
        qtbot.waitUntil(lambda: (player.shown_moment or 0) >= hole.end, timeout=10_000)
        assert time.monotonic() - began < hole.duration  # it did not play the hole through
        assert (player.shown_moment or 0) < hole.end + 1.0
        assert "jumped" in player.status_label.text()

        # Black: the clock runs on through the hole, the tile shows black and "No recording".
        player.set_gap_mode(GapMode.BLACK)
        player.open(["cam01"], hole.start - 0.5, play=True)
        tile = player.tiles[0]
        qtbot.waitUntil(lambda: tile.in_gap, timeout=10_000)
        entered, inside = time.monotonic(), player.moment
        assert tile.surface.message.startswith("No recording")
        assert tile.surface.image is None
        assert player.shown_moment is None and "no recording" in player.readout.text()
        assert hole.start <= inside < hole.end
        player.grab().save("/tmp/archive-black.png")
        qtbot.waitUntil(lambda: (player.shown_moment or 0) >= hole.end, timeout=15_000)
        # It took the hole's length in real time: the clock ran through it at 1x.
        assert time.monotonic() - entered >= hole.end - inside - 0.3
        assert tile.surface.image is not None and not tile.in_gap
    finally:
        worker.stop(15)


def test_the_live_edge_says_so_and_offers_going_live(
    qtbot: QtBot, runtime: Runtime, player: ArchivePlayer
) -> None:
    recorded_for(runtime, 3.0, "cam01")
    newest = runtime.recorder.buffer("cam01").newest or 0
    player.open(["cam01"], newest + 30.0, play=False)
    qtbot.waitUntil(lambda: player.at_live_edge, timeout=10_000)
    assert player.live_button.isVisible()
    assert "Live edge" in player.status_label.text()
    player.grab().save("/tmp/archive-live-edge.png")
    with qtbot.waitSignal(player.live_requested) as asked:
        player.live_button.click()
    assert asked.args == [["cam01"]]


def test_closing_releases_every_playback(qtbot: QtBot, runtime: Runtime) -> None:
    recorded_for(runtime, 2.0, "cam01", "cam02")
    player = ArchivePlayer(runtime.console.open_archive)
    qtbot.addWidget(player)
    player.open(["cam01", "cam02"], runtime.recorder.buffer("cam01").oldest or 0, play=False)
    playbacks = [tile.playback for tile in player.tiles]
    player.close_archive()
    assert player.tiles == []
    for playback in playbacks:
        assert isinstance(playback, threading.Thread)
        playback.join(5)
        assert not playback.is_alive()
