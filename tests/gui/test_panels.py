"""The console's smaller panels: event feed model, timeline, dashboard and settings dialog."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyqtgraph as pg
import pytest
from PySide6.QtCore import Qt
from pytestqt.modeltest import ModelTester
from pytestqt.qtbot import QtBot

from tests.gui.conftest import ZoneSetter
from vms_desktop.domain.clip import ClipJob, ClipMeta, ClipStatus, Event
from vms_desktop.domain.clip_query import CatalogueChange
from vms_desktop.gui.dashboard import DashboardPanel
from vms_desktop.gui.event_feed import EventFeedModel, EventFeedPanel
from vms_desktop.gui.settings_dialog import SettingsDialog
from vms_desktop.gui.timeline import LocalTimeAxis, TimelinePlot
from vms_desktop.gui.timeline_model import merged_spans
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


def test_timeline_shows_footage_and_events_and_clicks_play(qtbot: QtBot, runtime: Runtime) -> None:
    qtbot.waitUntil(lambda: (runtime.recorder.buffer("cam02").newest or 0) > 0, timeout=20_000)
    qtbot.wait(1500)
    moment = datetime.now(UTC) - timedelta(seconds=1)
    runtime.service.generate(Event("tl-1", "cam02", "motion", moment))
    qtbot.waitUntil(lambda: runtime.service.get("tl-1") is not None, timeout=20_000)
    timeline = TimelinePlot(runtime.console, refresh_ms=200)
    qtbot.addWidget(timeline)
    timeline.resize(800, 200)
    timeline.show()
    timeline.refresh()
    model = timeline.model
    qtbot.waitUntil(lambda: len(model.footage) == 2)  # read in the background
    assert {bar.lane for bar in model.footage} == {0, 1}
    qtbot.waitUntil(lambda: len(model.event_dots()) == 1)
    dots = model.event_dots()
    assert dots[0].event_id == "tl-1"
    assert dots[0].lane == 1  # cam02's lane
    qtbot.waitUntil(lambda: timeline.drawn_event_ids() == ["tl-1"])
    with qtbot.waitSignal(timeline.event_clicked) as clicked:
        timeline.activate_event(dots[0].event_id)
    assert clicked.args == ["tl-1"]
    timeline.stop()

    dashboard = DashboardPanel(runtime.console, refresh_ms=200)
    qtbot.addWidget(dashboard)
    with qtbot.waitSignal(dashboard.sampled):
        dashboard.sample()
    assert sum(dashboard._hour_bars.opts["height"]) == 1
    assert dashboard._storage[-1] > 0
    assert dashboard._fps["cam01"][-1] > 0
    dashboard.stop()


def test_the_timeline_draws_once_for_a_burst_of_job_progress(
    qtbot: QtBot, runtime: Runtime
) -> None:
    timeline = TimelinePlot(runtime.console, refresh_ms=60_000)
    qtbot.addWidget(timeline)
    timeline.show()
    qtbot.waitExposed(timeline)
    qtbot.wait(600)  # the first catalogue read arrives and draws
    before = timeline.draws
    # Every clip reports progress dozens of times; the dots only change when a job comes or goes.
    for step in range(200):
        timeline.on_job(_job(f"burst-{step % 4}", ClipStatus.ENCODING, step / 200))
    qtbot.wait(600)
    assert timeline.draws - before == 1
    assert len(timeline.model.pending_dots()) == 4
    # Hidden behind another tab, it draws nothing at all.
    timeline.hide()
    for step in range(50):
        timeline.on_job(_job(f"hidden-{step}", ClipStatus.ENCODING))
    qtbot.wait(600)
    assert timeline.draws - before == 1
    timeline.stop()


def test_settings_dialog_validates_masks_and_saves(qtbot: QtBot, tmp_path: Path) -> None:
    settings = load_settings(
        env_files=[],
        environ={
            "CAMERA_CAM01_URL": "rtsp://admin:S3cretPw@10.0.0.5/stream",
            "CAMERA_CAM01_RETENTION_HOURS": "72",
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
    with qtbot.waitSignal(dialog.accepted):  # written off the GUI thread
        dialog.save()
    assert dialog.saved is not None and "CLIP_RESOLUTION" in dialog.restart_needed
    written = env_file.read_text()
    assert "CLIP_RESOLUTION=1280,720" in written
    assert "CAMERA_CAM01_URL=rtsp://admin:S3cretPw@10.0.0.5/stream" in written
    assert "API_TOKEN=tok-123456" in written
    assert env_file.stat().st_mode & 0o077 == 0
    again = load_settings(env_files=[env_file], environ={})
    assert again.clip_resolution == (1280, 720)
    assert again.camera_retention_hours == (("cam01", 72.0),)  # kept though not edited here


def _stored(event_id: str, moment: datetime) -> ClipMeta:
    event = Event(event_id, "cam01", "motion", moment)
    return ClipMeta(
        event=event,
        window_start=moment - timedelta(seconds=1),
        window_end=moment + timedelta(seconds=1),
        fps=15,
        width=320,
        height=240,
        duration=2.0,
        size=1000,
        sha256="0" * 64,
        created_at=moment + timedelta(seconds=3),
    )


def test_the_feed_follows_the_catalogue_and_keeps_event_order(
    qtmodeltester: ModelTester,
) -> None:
    model = EventFeedModel()
    qtmodeltester.check(model)
    base = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    model.on_job(_job("live-1", ClipStatus.RECORDING, 0.2))
    older, newer = _stored("synced-old", base - timedelta(hours=1)), _stored("kept", base)
    model.on_catalogue_changed(CatalogueChange(added=(older, newer)))
    ids = [model.job_at(r).event.id for r in range(model.rowCount())]  # type: ignore[union-attr]
    assert ids == ["kept", "live-1", "synced-old"]  # by event time, newest first
    model.on_catalogue_changed(CatalogueChange(removed=(older,)))
    ids = [model.job_at(r).event.id for r in range(model.rowCount())]  # type: ignore[union-attr]
    assert ids == ["kept", "live-1"]
    # Start-up rows never overwrite what live updates already said.
    model.on_job(_job("live-1", ClipStatus.PENDING), replace=False)
    assert model.job_at(1).status is ClipStatus.RECORDING  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("zone", "column", "tooltip_start"),
    [
        ("UTC", "03:04:05 UTC", "2026-01-02 03:04:05.000 UTC"),
        ("America/New_York", "22:04:05 EST", "2026-01-01 22:04:05.000 EST"),
        ("Etc/GMT-5", "08:04:05 UTC+05:00", "2026-01-02 08:04:05.000 UTC+05:00"),
    ],
)
def test_the_feed_shows_local_time_with_the_zone(
    local_zone: ZoneSetter, zone: str, column: str, tooltip_start: str
) -> None:
    local_zone(zone)
    model = EventFeedModel()
    model.on_job(_job("z-1", ClipStatus.READY, 1.0))
    assert model.data(model.index(0, 0)) == column
    tooltip = model.data(model.index(0, 0), Qt.ItemDataRole.ToolTipRole)
    assert isinstance(tooltip, str) and tooltip.split("\n")[1] == tooltip_start


@pytest.mark.parametrize(
    ("zone", "offset", "title"),
    [("UTC", 0, "Time (UTC)"), ("Asia/Tokyo", -9 * 3600, "Time (JST)")],
)
def test_time_axes_read_local_time_and_name_the_zone(
    qtbot: QtBot, local_zone: ZoneSetter, zone: str, offset: int, title: str
) -> None:
    local_zone(zone)
    axis = LocalTimeAxis()
    plot = pg.PlotWidget(axisItems={"bottom": axis})
    qtbot.addWidget(plot)
    plot.resize(800, 200)
    plot.show()
    qtbot.waitExposed(plot)
    plot.grab()  # the axis learns its font's size when it paints
    assert axis.utcOffset == offset and axis.title == title
    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC).timestamp()
    levels = axis.tickValues(moment - 1800, moment + 1800, 800)
    spacing, values = [(spacing, values) for spacing, values in levels if len(values)][-1]
    labels = axis.tickStrings(values, 1.0, spacing)
    assert labels and labels == [
        (datetime.fromtimestamp(value, UTC) - timedelta(seconds=offset)).strftime("%H:%M")
        for value in values
    ]
    assert any(label.startswith(f"{(3 - offset // 3600) % 24:02d}:") for label in labels)
