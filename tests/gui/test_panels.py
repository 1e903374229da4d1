"""The console's smaller panels: event feed model, timeline, dashboard and settings dialog."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from pytestqt.modeltest import ModelTester
from pytestqt.qtbot import QtBot

from tests.support.service import start_service
from vms_desktop.domain.clip import ClipJob, ClipStatus, Event
from vms_desktop.gui.event_feed import EventFeedModel, EventFeedPanel
from vms_desktop.gui.settings_dialog import SettingsDialog
from vms_desktop.gui.timeline import DashboardPanel, TimelinePlot, merged_spans
from vms_desktop.runtime import Runtime
from vms_desktop.settings import load_settings


def _job(event_id: str, status: ClipStatus, progress: float = 0.0) -> ClipJob:
    event = Event(event_id, "cam01", "motion", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    return ClipJob(event, status, progress)


@pytest.mark.qt_log_level_fail("WARNING")
def test_event_feed_model_passes_the_model_tester(qtmodeltester: ModelTester) -> None:
    model = EventFeedModel()
    model.on_job(_job("a", ClipStatus.PENDING))
    model.on_job(_job("b", ClipStatus.RECORDING, 0.4))
    qtmodeltester.check(model)
    model.on_job(_job("a", ClipStatus.READY, 1.0))  # updates in place
    model.on_job(_job("c", ClipStatus.FAILED))
    qtmodeltester.check(model)
    assert [model.job_at(r).event.id for r in range(model.rowCount())] == ["c", "b", "a"]  # type: ignore[union-attr]
    assert model.data(model.index(2, 3)) == "ready"
    assert model.data(model.index(1, 3)) == "recording 40 %"


def test_clicking_a_ready_event_asks_to_play_it(qtbot: QtBot) -> None:
    panel = EventFeedPanel()
    qtbot.addWidget(panel)
    panel.model.on_job(_job("ready-1", ClipStatus.READY, 1.0))
    panel.model.on_job(_job("busy-1", ClipStatus.ENCODING, 0.5))
    panel.resize(600, 300)
    panel.show()
    with qtbot.waitSignal(panel.play_requested) as signal:
        rect = panel.view.visualRect(panel.model.index(1, 0))
        qtbot.mouseClick(panel.view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert signal.args == ["ready-1"]
    with qtbot.assertNotEmitted(panel.play_requested):
        rect = panel.view.visualRect(panel.model.index(0, 0))
        qtbot.mouseClick(panel.view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    panel.set_cameras(["cam01", "cam02"])
    with qtbot.waitSignal(panel.mark_requested) as mark:
        panel.mark_button.click()
    assert mark.args == ["cam01"]


def test_merged_spans_join_touching_segments() -> None:
    assert merged_spans([(0, 2), (2, 4), (10, 12), (4.2, 6)]) == [[0, 6], [10, 12]]


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    running = start_service(
        tmp_path,
        with_api=False,
        CAMERA_CAM01_URL="demo://?width=320&height=240",
        CAMERA_CAM02_URL="demo://?width=320&height=240",
    )
    yield running
    running.stop()


def test_timeline_shows_footage_and_events_and_clicks_play(qtbot: QtBot, runtime: Runtime) -> None:
    qtbot.waitUntil(lambda: (runtime.recorder.buffer("cam02").newest or 0) > 0, timeout=20_000)
    qtbot.wait(1500)
    moment = datetime.now(UTC) - timedelta(seconds=1)
    runtime.service.generate(Event("tl-1", "cam02", "motion", moment))
    qtbot.waitUntil(lambda: runtime.service.get("tl-1") is not None, timeout=20_000)
    timeline = TimelinePlot(runtime.recorder, runtime.service, refresh_ms=200)
    qtbot.addWidget(timeline)
    timeline.resize(800, 200)
    timeline.show()
    timeline.refresh()
    footage = timeline._footage.opts
    assert len(footage["x0"]) == 2 and set(footage["y"]) == {0, 1}
    points = timeline._events.points()
    assert len(points) == 1 and points[0].data() == "tl-1"
    assert points[0].pos().y() == 1  # cam02's lane
    with qtbot.waitSignal(timeline.event_clicked) as clicked:
        timeline._on_points_clicked(timeline._events, [points[0]])
    assert clicked.args == ["tl-1"]
    timeline.stop()

    dashboard = DashboardPanel(runtime.recorder, runtime.service, refresh_ms=200)
    qtbot.addWidget(dashboard)
    dashboard.sample()
    assert sum(dashboard._hour_bars.opts["height"]) == 1
    assert dashboard._storage[-1] > 0
    assert dashboard._fps["cam01"][-1] > 0
    dashboard.stop()


def test_settings_dialog_validates_masks_and_saves(qtbot: QtBot, tmp_path: Path) -> None:
    settings = load_settings(
        env_files=[],
        environ={
            "CAMERA_CAM01_URL": "rtsp://admin:S3cretPw@10.0.0.5/stream",
            "API_TOKEN": "tok-123456",
            "LOCAL_STORAGE_PATH": str(tmp_path / "clips"),
            "BUFFER_PATH": str(tmp_path / "buffer"),
        },
    )
    env_file = tmp_path / "conf" / ".env"
    dialog = SettingsDialog(settings, env_file)
    qtbot.addWidget(dialog)
    assert "S3cretPw" not in dialog.cameras.toPlainText()
    assert dialog._fields["API_TOKEN"].text() == ""  # masked: shown empty, kept if left so
    dialog._fields["CLIP_RESOLUTION"].setText("640")
    dialog.save()
    assert "CLIP_RESOLUTION" in dialog.message.text() and not env_file.exists()
    dialog._fields["CLIP_RESOLUTION"].setText("1280,720")
    dialog.save()
    assert dialog.saved is not None and "CLIP_RESOLUTION" in dialog.restart_needed
    written = env_file.read_text()
    assert "CLIP_RESOLUTION=1280,720" in written
    assert "CAMERA_CAM01_URL=rtsp://admin:S3cretPw@10.0.0.5/stream" in written
    assert "API_TOKEN=tok-123456" in written
    assert env_file.stat().st_mode & 0o077 == 0
    again = load_settings(env_files=[env_file], environ={})
    assert again.clip_resolution == (1280, 720)
