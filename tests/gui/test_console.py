"""The console end to end: an event posted over HTTP shows up, records, plays at its moment."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
import pytest
from PySide6.QtCore import QSettings, Qt
from pytestqt.qtbot import QtBot

from tests.support.ports import free_port
from tests.support.service import start_service
from vms_desktop.domain.clip import ClipStatus, Event
from vms_desktop.engine import framestamp
from vms_desktop.gui.bridge import EngineBridge
from vms_desktop.gui.main_window import MainWindow
from vms_desktop.runtime import Runtime


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    running = start_service(
        tmp_path,
        # First in the list, and never recording: nothing listens on its port.
        CAMERA_CAM00_URL=f"rtsp://viewer:secret@127.0.0.1:{free_port()}/stream",
        CAMERA_CAM01_URL="demo://?width=640&height=480",
        CAMERA_CAM02_URL="demo://?width=640&height=360",
        PRE_EVENT_BUFFER_SECONDS="2",
        POST_EVENT_BUFFER_SECONDS="2",
        CLIP_DURATION_SECONDS="4",
    )
    yield running
    running.stop()


@pytest.fixture
def window(qtbot: QtBot, runtime: Runtime, tmp_path: Path) -> Iterator[MainWindow]:
    bridge = EngineBridge(runtime.console)
    settings = QSettings(str(tmp_path / "console.ini"), QSettings.Format.IniFormat)
    assert runtime.api is not None
    main = MainWindow(
        bridge,
        api_url=runtime.api.base_url,
        settings_store=settings,
    )
    qtbot.addWidget(main)
    main.show()
    yield main
    main.close()
    bridge.shutdown()


def _stamp(rgb: np.ndarray) -> int | None:
    luma = (0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]).astype(np.uint8)
    return framestamp.read(luma)


def test_an_http_event_appears_records_and_plays_at_its_moment(
    qtbot: QtBot, window: MainWindow, runtime: Runtime
) -> None:
    assert runtime.api is not None
    qtbot.waitUntil(lambda: (runtime.recorder.buffer("cam01").newest or 0) > 0, timeout=20_000)
    qtbot.wait(3000)  # pre-event footage
    moment = datetime.now(UTC)
    body = {
        "event": {
            "id": "gui-e2e-1",
            "camera_id": "cam01",
            "event_type": "person",
            "timestamp": moment.isoformat().replace("+00:00", "Z"),
        }
    }
    response = httpx.post(runtime.api.base_url + "/clips/generate", json=body, timeout=30)
    assert response.status_code == 202

    model = window.events.model

    def row_of_event() -> int:
        for row in range(model.rowCount()):
            job = model.job_at(row)
            if job is not None and job.event.id == "gui-e2e-1":
                return row
        return -1

    qtbot.waitUntil(lambda: row_of_event() >= 0, timeout=5000)
    seen: set[ClipStatus] = set()

    def ready() -> bool:
        job = model.job_at(row_of_event())
        if job is not None:
            seen.add(job.status)
        return job is not None and job.status is ClipStatus.READY

    qtbot.waitUntil(ready, timeout=30_000)
    assert ClipStatus.RECORDING in seen or ClipStatus.ENCODING in seen

    row = row_of_event()
    rect = window.events.view.visualRect(model.index(row, 0))
    qtbot.mouseClick(window.events.view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    player = window.player
    # Opened from the feed, it plays (not paused on its first frame).
    qtbot.waitUntil(lambda: player.is_playing, timeout=10_000)
    qtbot.waitUntil(lambda: player.current_frame_index >= 5, timeout=10_000)
    player.pause()
    window.grab().save("/tmp/console-playing.png")
    event_index = player.event_frame_index
    assert event_index == 30  # 2 s before the event at 15 fps
    player.seek_frame(event_index)
    qtbot.waitUntil(lambda: player.current_frame_index == event_index, timeout=10_000)
    pixels = player.surface.pixels
    assert pixels is not None
    shown = _stamp(pixels)
    assert shown is not None
    assert -(1000 / 15 + 40) <= shown - moment.timestamp() * 1000 <= 1
    wall = player.current_wall_time
    assert wall is not None and abs((wall - moment).total_seconds()) < 1 / 15 + 1e-3


def test_operator_marks_an_event_with_the_hotkey(
    qtbot: QtBot, window: MainWindow, runtime: Runtime
) -> None:
    qtbot.waitUntil(lambda: (runtime.recorder.buffer("cam02").newest or 0) > 0, timeout=20_000)
    tile = window.live.tile("cam02")
    qtbot.mouseClick(tile, Qt.MouseButton.LeftButton)  # selects the camera
    assert window.live.selected == "cam02" and window.events.cameras.currentText() == "cam02"
    before = window.events.model.rowCount()
    window.mark_action.trigger()
    qtbot.waitUntil(lambda: window.events.model.rowCount() == before + 1, timeout=5000)
    job = window.events.model.job_at(0)
    assert job is not None and job.event.camera_id == "cam02"
    assert job.event.event_type == "operator"
    qtbot.waitUntil(
        lambda: (
            runtime.service.job(job.event.id) is not None
            and runtime.service.job(job.event.id).status is ClipStatus.READY
        ),  # type: ignore[union-attr]
        timeout=30_000,
    )


def test_layout_is_remembered(qtbot: QtBot, window: MainWindow, tmp_path: Path) -> None:
    window.live.set_layout(9)
    window.docks["dashboard"].hide()
    window.save_layout()
    settings = QSettings(str(tmp_path / "console.ini"), QSettings.Format.IniFormat)
    assert int(str(settings.value("tiles"))) == 9
    again = MainWindow(window.bridge, settings_store=settings)
    qtbot.addWidget(again)
    assert again.live.tile_count == 9
    assert not again.docks["dashboard"].isVisibleTo(again)
    again.close()


def test_status_bar_shows_api_storage_and_queue(
    qtbot: QtBot, window: MainWindow, runtime: Runtime
) -> None:
    assert runtime.api is not None
    window.disk_label.clear()
    window._refresh_status_bar()
    assert runtime.api.base_url in window.api_label.text()
    assert "Storage local" in window.storage_label.text()
    qtbot.waitUntil(lambda: "Disk free" in window.disk_label.text())  # measured off-thread
    assert window.queue_label.text() == "Upload queue 0"


def test_about_box_shows_the_version_and_links_the_licences(
    qtbot: QtBot, window: MainWindow
) -> None:
    from urllib.parse import urlsplit
    from urllib.request import url2pathname

    from PySide6.QtWidgets import QMessageBox

    from vms_desktop.__version__ import __version__

    window._on_about()
    box = window.findChild(QMessageBox)
    assert box is not None
    qtbot.waitUntil(box.isVisible, timeout=5000)
    text = box.text()
    assert f"vms_desktop {__version__}" in text and "FFmpeg" in text and "Qt 6." in text
    links = [part.split('"')[0] for part in text.split('href="')[1:]]
    assert len(links) == 2
    for link in links:
        assert Path(url2pathname(urlsplit(link).path)).is_file(), link
    assert not box.iconPixmap().isNull()
    box.close()


def test_the_selected_camera_is_the_first_recording_one_until_the_operator_picks(
    qtbot: QtBot, window: MainWindow, runtime: Runtime
) -> None:
    live = window.live
    qtbot.waitUntil(lambda: live.selected == "cam01", timeout=20_000)  # cam00 never records
    assert not live.chosen_by_operator
    tile = live.tile("cam01")
    assert tile.selected and not live.tile("cam02").selected
    # The selected tile is outlined in the selection colour; the others are not.
    shot = window.live.grab().toImage()
    corner = tile.geometry().topLeft()
    assert shot.pixelColor(corner.x() + 1, corner.y() + tile.height() // 2).name() == "#409cff"
    other = live.tile("cam02").geometry().topLeft()
    assert shot.pixelColor(other.x() + 1, other.y() + 40).name() != "#409cff"

    # The operator picks the offline camera: the choice sticks, and marking says why not.
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    qtbot.mouseClick(live.tile("cam00"), Qt.MouseButton.LeftButton)
    assert live.selected == "cam00" and live.chosen_by_operator
    assert live.tile("cam00").hasFocus()  # keyboard focus follows the click
    assert window.events.cameras.currentText() == "cam00"
    before = window.events.model.rowCount()
    window.mark_action.trigger()
    message = window.statusBar().currentMessage()
    assert message.startswith("No event marked: camera cam00 is ") and "not recording" in message
    qtbot.wait(300)
    assert window.events.model.rowCount() == before

    # Choosing in the feed's list selects the tile too.
    window.events.cameras.activated.emit(window.events.cameras.findText("cam02"))
    assert live.selected == "cam02" and live.tile("cam02").selected
    assert not live.tile("cam00").selected


def test_a_clip_clicked_on_the_timeline_plays(
    qtbot: QtBot, window: MainWindow, runtime: Runtime
) -> None:
    qtbot.waitUntil(lambda: (runtime.recorder.buffer("cam02").newest or 0) > 0, timeout=20_000)
    qtbot.wait(1500)
    runtime.service.generate(Event("tl-play", "cam02", "motion", datetime.now(UTC)))
    window.docks["timeline"].raise_()  # a timeline under another tab draws nothing
    qtbot.waitUntil(lambda: "tl-play" in window.timeline.clip_ids, timeout=30_000)

    def dots() -> list[str]:
        return [e for e in window.timeline.drawn_event_ids() if e == "tl-play"]

    qtbot.waitUntil(lambda: bool(dots()), timeout=5_000)
    window.timeline.activate_event(dots()[0])
    qtbot.waitUntil(lambda: window.player.is_playing, timeout=10_000)
    qtbot.waitUntil(lambda: window.player.current_frame_index >= 3, timeout=10_000)
    window.player.pause()
