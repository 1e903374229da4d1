"""The archive from the console: a timeline click plays that moment, the playhead scrubs, Ctrl adds
a camera in step, live tiles switch to their archive and back, the playback keys.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, QSettings, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QWidget
from pytestqt.qtbot import QtBot

from tests.gui.conftest import plot_point
from tests.gui.test_archive_player import FRAME, STAMP_MS, painted_stamp, recorded_for
from vms_desktop.gui.bridge import EngineBridge
from vms_desktop.gui.main_window import MainWindow
from vms_desktop.gui.player import ArchivePlayer
from vms_desktop.gui.player.archive_player import SCRUB_INTERVAL
from vms_desktop.gui.time_text import local_time_text
from vms_desktop.runtime import Runtime


@pytest.fixture
def window(qtbot: QtBot, runtime: Runtime, tmp_path: Path) -> Iterator[MainWindow]:
    bridge = EngineBridge(runtime.console)
    settings = QSettings(str(tmp_path / "console.ini"), QSettings.Format.IniFormat)
    main = MainWindow(bridge, api_url="", settings_store=settings)
    qtbot.addWidget(main)
    main.resize(1400, 900)
    main.show()
    qtbot.waitExposed(main)
    main.docks["timeline"].raise_()  # a timeline under another tab draws nothing
    yield main
    main.close()
    bridge.shutdown()


def clock_text(moment: float) -> str:
    return local_time_text(datetime.fromtimestamp(moment, UTC), milliseconds=True)


def near(archive: ArchivePlayer, moment: float, frames: float = 2.0) -> bool:
    shown = archive.shown_moment
    return shown is not None and moment - frames * FRAME - 1e-3 <= shown <= moment + 1e-3


def look_at(window: MainWindow, start: float, end: float) -> None:
    timeline = window.timeline
    timeline.follow_now = False
    timeline.plot.setXRange(start, end, padding=0)
    timeline.refresh()


def drag(widget: QWidget, start: QPoint, end: QPoint, shots: list[Path] | None = None) -> None:
    """Press, move in steps with the button held (a screenshot on the way), release."""
    QTest.mousePress(widget, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    for step in range(1, 21):
        here = QPointF(start + (end - start) * step / 20)
        move = QMouseEvent(
            QEvent.Type.MouseMove,
            here,
            QPointF(widget.mapToGlobal(here)),
            Qt.MouseButton.NoButton,
            Qt.MouseButton.LeftButton,
            Qt.KeyboardModifier.NoModifier,
        )
        QApplication.sendEvent(widget, move)
        QTest.qWait(30)
        if shots is not None and step == 10:
            window = widget.window()
            QTest.qWait(300)  # the scrubbed picture arrives
            path = Path("/tmp/archive-scrubbing.png")
            window.grab().save(str(path))
            shots.append(path)
    QTest.mouseRelease(widget, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, end)


def test_a_click_on_a_lane_plays_that_moment_and_the_playhead_scrubs(
    qtbot: QtBot, window: MainWindow, runtime: Runtime
) -> None:
    recorded_for(runtime, 8.0, "cam01", "cam02")
    buffer = runtime.recorder.buffer("cam02")
    oldest, newest = buffer.oldest or 0, buffer.newest or 0
    look_at(window, oldest - 1, newest + 1)
    moment = oldest + 2.0
    viewport = window.timeline.plot.viewport()
    archive = window.archive
    click = plot_point(window.timeline, moment, 1.0)
    QTest.mouseClick(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, click)
    assert archive.camera_ids == ["cam02"]
    assert archive.is_playing
    # Pixels of the plot are ~10 ms wide here: the moment asked for is the one under the click.
    asked = archive.clock.seeked_to
    assert asked == pytest.approx(moment, abs=0.05)
    qtbot.waitUntil(lambda: archive.shown_moment is not None, timeout=10_000)
    archive.pause()
    archive.seek(asked)
    qtbot.waitUntil(lambda: near(archive, asked), timeout=10_000)
    shown = archive.shown_moment
    assert shown is not None
    assert archive.readout.text() == clock_text(shown)
    tile = archive.tiles[0]
    qtbot.waitUntil(lambda: abs((painted_stamp(tile) or 0) - shown * 1000) <= STAMP_MS)
    assert window.docks["archive"].isVisible()
    playhead = window.timeline.playhead
    assert playhead.moment == pytest.approx(asked)
    window.grab().save("/tmp/archive-clicked.png")

    # Dragging the playhead scrubs: the player follows, at a bounded rate, to where it ends.
    target = oldest + 6.0
    requests: list[float] = []
    archive.moment_changed.connect(requests.append)
    shots: list[Path] = []
    began = time.monotonic()
    drag(
        viewport,
        plot_point(window.timeline, asked, 1.0),
        plot_point(window.timeline, target, 1.0),
        shots,
    )
    took = time.monotonic() - began
    final = archive.clock.seeked_to
    assert final == pytest.approx(target, abs=0.05)
    qtbot.waitUntil(lambda: near(archive, final), timeout=10_000)
    assert archive.readout.text() == clock_text(archive.shown_moment or 0)
    assert playhead.moment == pytest.approx(final)
    assert 3 <= len(requests) <= took / SCRUB_INTERVAL + 3  # followed the hand, throttled
    assert all(a <= b + 1e-6 for a, b in itertools.pairwise(requests))
    assert shots and shots[0].exists()
    window.grab().save("/tmp/archive-scrubbed.png")


def test_ctrl_click_adds_a_camera_in_step(
    qtbot: QtBot, window: MainWindow, runtime: Runtime
) -> None:
    recorded_for(runtime, 8.0, "cam01", "cam02")
    oldest = max(runtime.recorder.buffer(c).oldest or 0 for c in ("cam01", "cam02"))
    look_at(window, oldest - 1, oldest + 9)
    viewport = window.timeline.plot.viewport()
    archive = window.archive
    moment = oldest + 3.0
    point = plot_point(window.timeline, moment, 0.0)
    QTest.mouseClick(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, point)
    other = plot_point(window.timeline, moment + 2.0, 1.0)  # where does not matter: it joins
    QTest.mouseClick(
        viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ControlModifier, other
    )
    assert archive.camera_ids == ["cam01", "cam02"]
    archive.pause()
    asked = archive.moment
    first, second = archive.tiles
    qtbot.waitUntil(
        lambda: all(
            t.picture is not None and asked - 2 * FRAME - 1e-3 <= t.picture.moment <= asked
            for t in (first, second)
        ),
        timeout=10_000,
    )
    assert first.requested == second.requested == asked
    window.grab().save("/tmp/archive-two-cameras.png")

    # A plain click on a camera of the view moves the whole view there; Ctrl-click drops one.
    later = oldest + 5.0
    point = plot_point(window.timeline, later, 1.0)
    QTest.mouseClick(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, point)
    assert archive.camera_ids == ["cam01", "cam02"] and archive.is_playing
    assert archive.clock.seeked_to == pytest.approx(later, abs=0.05)
    assert first.requested == second.requested
    point = plot_point(window.timeline, later, 0.0)
    QTest.mouseClick(
        viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ControlModifier, point
    )
    assert archive.camera_ids == ["cam02"]
    assert window.timeline.playhead.marks.points().size == 1


def test_a_live_tile_switches_to_its_archive_and_back(
    qtbot: QtBot, window: MainWindow, runtime: Runtime
) -> None:
    recorded_for(runtime, 4.0, "cam01")
    tile = window.live.tile("cam01")
    qtbot.waitUntil(lambda: tile.watching, timeout=5000)
    window._on_camera_context("cam01", tile.mapToGlobal(tile.rect().center()))
    entry = next(a for a in window.camera_menu.actions() if a.text().startswith("Archive: from"))
    entry.trigger()
    player = tile.archive
    assert player is not None and not tile.watching
    assert player.camera_ids == ["cam01"] and player.isVisible()
    # 30 s ago is before the oldest footage: it jumps to where the footage begins.
    oldest = runtime.recorder.buffer("cam01").oldest or 0
    qtbot.waitUntil(lambda: (player.shown_moment or 0) >= oldest, timeout=10_000)
    assert player.geometry() == tile.rect()
    window.grab().save("/tmp/archive-live-tile.png")
    playback = player.tiles[0].playback
    player.live_button.click()
    assert tile.archive is None and tile.watching
    playback.join(5)  # type: ignore[attr-defined]  # the decoder is a thread
    assert not playback.is_alive()  # type: ignore[attr-defined]

    # And from the menu again, then back by the menu's "Back to live".
    window._on_camera_context("cam01", tile.mapToGlobal(tile.rect().center()))
    next(a for a in window.camera_menu.actions() if a.text().startswith("Archive")).trigger()
    assert tile.archive is not None
    window._on_camera_context("cam01", tile.mapToGlobal(tile.rect().center()))
    next(a for a in window.camera_menu.actions() if a.text() == "Back to live").trigger()
    assert tile.archive is None and tile.watching


def test_playback_keys_act_on_the_archive(
    qtbot: QtBot, window: MainWindow, runtime: Runtime
) -> None:
    recorded_for(runtime, 6.0, "cam01")
    archive = window.archive
    moment = (runtime.recorder.buffer("cam01").oldest or 0) + 3.0
    window.play_archive("cam01", moment)
    window.activateWindow()
    archive.setFocus()
    qtbot.waitUntil(lambda: archive.shown_moment is not None, timeout=10_000)
    QTest.keyClick(archive, Qt.Key.Key_Space)
    assert not archive.is_playing
    start = archive.moment
    qtbot.waitUntil(lambda: near(archive, start), timeout=10_000)
    shown = archive.shown_moment or 0
    QTest.keyClick(archive, Qt.Key.Key_Period)
    qtbot.waitUntil(lambda: (archive.shown_moment or 0) > shown, timeout=5000)
    assert (archive.shown_moment or 0) - shown == pytest.approx(FRAME, abs=0.02)
    QTest.keyClick(archive, Qt.Key.Key_Comma)
    qtbot.waitUntil(lambda: archive.shown_moment == shown, timeout=5000)
    QTest.keyClick(archive, Qt.Key.Key_BracketRight)
    assert archive.clock.speed == 2.0
    window.archive_actions["Go live"].trigger()
    assert archive.camera_ids == [] and window.live.selected == "cam01"
    assert window.timeline.playhead.moment is None
