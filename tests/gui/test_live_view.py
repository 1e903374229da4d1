"""The live grid on real cameras: pictures, overlay, layouts, focus, offline tiles, CPU cost."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QObject, QPoint, Qt, Signal
from PySide6.QtGui import QContextMenuEvent, QImage
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from tests.support.ports import free_port
from vms_desktop.domain.camera import CameraConfig, CameraState
from vms_desktop.engine.embedded_console import EmbeddedCameras
from vms_desktop.engine.recorder import Recorder, RecorderOptions
from vms_desktop.engine.sources import Timeouts
from vms_desktop.gui.live_view import LiveGrid, LiveTile

DEMO = "demo://?width=640&height=360&fps=15"


class StatusRelay(QObject):
    """What the engine bridge does for the main window: worker-thread callbacks to a signal."""

    status = Signal(object)


RecorderFactory = Callable[[Sequence[CameraConfig]], tuple[Recorder, StatusRelay]]


@pytest.fixture
def make_recorder(tmp_path: Path) -> Iterator[RecorderFactory]:
    recorders: list[Recorder] = []

    def make(cameras: Sequence[CameraConfig]) -> tuple[Recorder, StatusRelay]:
        recorder = Recorder(
            cameras,
            RecorderOptions(
                buffer_root=tmp_path / f"buffer{len(recorders)}",
                timeouts=Timeouts(connect=2, read=3),
                reconnect_max=2,
            ),
        )
        relay = StatusRelay()
        recorder.add_listener(relay.status.emit)
        recorders.append(recorder)
        return recorder, relay

    yield make
    for recorder in recorders:
        recorder.stop()


def start_grid(
    qtbot: QtBot, recorder: Recorder, relay: StatusRelay, size: tuple[int, int] = (960, 540)
) -> LiveGrid:
    grid = LiveGrid(EmbeddedCameras(recorder))
    relay.status.connect(grid.on_camera_status)
    qtbot.addWidget(grid)
    grid.resize(*size)
    grid.show()
    qtbot.waitExposed(grid)
    recorder.start()
    return grid


def pixels(image: QImage) -> np.ndarray:
    image = image.convertToFormat(QImage.Format.Format_RGB888)
    array = np.frombuffer(image.constBits(), np.uint8, image.sizeInBytes())
    rows = array.reshape(image.height(), image.bytesPerLine())
    return rows[:, : image.width() * 3].reshape(image.height(), image.width(), 3)


def demo_cameras(count: int) -> list[CameraConfig]:
    return [CameraConfig(f"cam{i:02d}", DEMO, name=f"Demo {i}") for i in range(1, count + 1)]


def test_grid_shows_live_pictures_with_an_overlay(
    qtbot: QtBot, make_recorder: RecorderFactory
) -> None:
    recorder, relay = make_recorder(demo_cameras(2))
    grid = start_grid(qtbot, recorder, relay)
    assert grid.tile_count == 4  # the smallest layout holding both cameras
    tiles = [grid.tile("cam01"), grid.tile("cam02")]
    qtbot.waitUntil(lambda: all(t.has_picture for t in tiles), timeout=15_000)
    qtbot.wait(300)

    for tile in tiles:
        shot = pixels(tile.grab().toImage())
        assert shot.std() > 20, "a tile showing a camera is not a flat colour"
        title, line = tile.overlay_lines()
        assert tile.camera is not None and title == tile.camera.label
        assert line.startswith("recording") and "fps" in line and "view" in line
        assert tile.placeholder_text() == ""
        picture = recorder.preview(tile.camera_id).latest()
        assert picture is not None
        # Converted at the tile's own pixel size, not the camera's.
        height, width = picture.image.shape[:2]
        assert width <= tile.width() * tile.devicePixelRatioF() + 1
        assert height <= tile.height() * tile.devicePixelRatioF() + 1
        assert width == round(tile.width() * tile.devicePixelRatioF()) or height == round(
            tile.height() * tile.devicePixelRatioF()
        )

    empty = [t for t in grid.visible_tiles() if t.camera is None]
    assert len(empty) == 2 and all(t.placeholder_text() == "No camera" for t in empty)
    assert all(not t.watching for t in empty)
    shot = pixels(grid.grab().toImage())
    half_h, half_w = shot.shape[0] // 2, shot.shape[1] // 2
    assert shot[:half_h, :half_w].std() > 20 and shot[:half_h, half_w:].std() > 20
    assert shot[half_h + 40 :, :half_w].std() < shot[:half_h, :half_w].std()


def test_layouts_and_double_click_focus(qtbot: QtBot, make_recorder: RecorderFactory) -> None:
    recorder, relay = make_recorder(demo_cameras(2))
    grid = start_grid(qtbot, recorder, relay)
    first, second = grid.tile("cam01"), grid.tile("cam02")
    qtbot.waitUntil(lambda: first.has_picture and second.has_picture, timeout=15_000)

    for cells in (1, 9, 16, 4):
        grid.set_layout(cells)
        qtbot.wait(50)
        shown = grid.visible_tiles()
        assert len(shown) == cells and all(t.isVisible() for t in shown)
        assert grid.tile_count == cells
        sizes = {(t.width(), t.height()) for t in shown}
        widths = [w for w, _ in sizes]
        assert max(widths) - min(widths) <= 2, "cells share the grid evenly"
        assert grid.visible_cameras() == ["cam01", "cam02"][:cells]
        assert second.watching == (cells > 1)
        assert recorder.preview("cam02").watched == (cells > 1)
    with pytest.raises(ValueError):
        grid.set_layout(6)

    with qtbot.waitSignal(grid.camera_activated, timeout=2000) as activated:
        qtbot.mouseDClick(second, Qt.MouseButton.LeftButton)
    assert activated.args == ["cam02"]
    assert grid.focused == "cam02" and grid.visible_cameras() == ["cam02"]
    qtbot.wait(50)
    assert second.width() >= grid.width() - 2 and second.height() >= grid.height() - 2
    assert not first.isVisible() and not first.watching
    qtbot.waitUntil(lambda: not recorder.preview("cam01").decoding, timeout=2000)
    qtbot.waitUntil(
        lambda: (p := recorder.preview("cam02").latest()) is not None and p.image.shape[1] > 900,
        timeout=3000,
    )  # now converted at the focused tile's size

    with qtbot.waitSignal(grid.camera_activated, timeout=2000) as activated:
        qtbot.mouseDClick(second, Qt.MouseButton.LeftButton)
    assert activated.args == ["cam02"]
    focused: str | None = grid.focused  # (mypy would keep the narrowing from above)
    assert focused is None and grid.tile_count == 4 and len(grid.visible_tiles()) == 4
    qtbot.waitUntil(lambda: first.watching and first.has_picture, timeout=3000)

    with qtbot.waitSignal(grid.camera_context_requested, timeout=2000) as requested:
        where = QPoint(10, 10)
        event = QContextMenuEvent(QContextMenuEvent.Reason.Mouse, where, first.mapToGlobal(where))
        QApplication.sendEvent(first, event)
    assert requested.args == ["cam01", first.mapToGlobal(where)]

    grid.assign(["cam02", "cam01"])
    assert grid.visible_cameras() == ["cam02", "cam01"]


def test_offline_camera_shows_why(qtbot: QtBot, make_recorder: RecorderFactory) -> None:
    dead = CameraConfig("cam09", f"rtsp://admin:s3cret@127.0.0.1:{free_port()}/x", name="Gate")
    recorder, relay = make_recorder([*demo_cameras(1), dead])
    grid = start_grid(qtbot, recorder, relay)
    tile = grid.tile("cam09")
    qtbot.waitUntil(lambda: tile.placeholder_text().startswith("offline: "), timeout=10_000)

    assert tile.status is not None and tile.status.state is CameraState.OFFLINE
    assert not tile.has_picture
    assert tile.overlay_lines() == ("Gate", "offline")
    for text in (tile.placeholder_text(), tile.toolTip(), *tile.overlay_lines()):
        assert "s3cret" not in text and "admin" not in text
    shot = pixels(tile.grab().toImage())
    assert shot.std() > 1, "the placeholder text is painted"
    qtbot.waitUntil(lambda: grid.tile("cam01").has_picture, timeout=15_000)


def _tile_cpu(qtbot: QtBot, grid: LiveGrid, seconds: float) -> float:
    started_cpu, started = time.process_time(), time.monotonic()
    qtbot.wait(round(seconds * 1000))
    return (time.process_time() - started_cpu) / (time.monotonic() - started)


def test_cpu_cost_of_live_tiles(
    qtbot: QtBot, make_recorder: RecorderFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    recorder, relay = make_recorder(demo_cameras(9))
    grid = start_grid(qtbot, recorder, relay, size=(1280, 720))
    grid.set_layout(9)
    tiles: list[LiveTile] = grid.visible_tiles()
    qtbot.waitUntil(lambda: all(t.has_picture for t in tiles), timeout=30_000)

    grid.hide()  # recording (and the demo cameras' own encoding) only
    qtbot.wait(500)
    baseline = _tile_cpu(qtbot, grid, 5)
    grid.show()
    lines = [f"  no tiles: {baseline:.1%}"]
    for cells in (4, 9):
        grid.set_layout(cells)
        qtbot.wait(1000)
        used = _tile_cpu(qtbot, grid, 5)
        size = grid.visible_tiles()[0].size()
        lines.append(
            f"  {cells} tiles ({size.width()}x{size.height()}): {used:.1%}"
            f"  (+{(used - baseline) / cells:.2%} per tile)"
        )
    rates = [recorder.preview(t.camera_id).fps for t in grid.visible_tiles()]
    lines.append(f"  view rates with 9 tiles: {min(rates):.1f}-{max(rates):.1f} fps")
    with capsys.disabled():
        print("\nlive view CPU (share of one core; 9 demo cameras 640x360@15 recording):")
        print("\n".join(lines))
    assert min(rates) > 5
