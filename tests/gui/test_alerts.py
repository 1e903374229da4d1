"""Alerts in the console on two real demo cameras: a stopped camera is down, then recovered
(the storage alerts are tested through the entry point, in test_alerts_entry).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot

from tests.support.waiting import wait_until
from vms_desktop.domain.camera import CameraState
from vms_desktop.domain.clip import Event
from vms_desktop.engine.camera_worker import CameraWorker
from vms_desktop.gui.alert_rules import Alert, AlertKind
from vms_desktop.gui.bridge import EngineBridge
from vms_desktop.gui.event_feed import AlertRole, JobRole
from vms_desktop.gui.main_window import MainWindow
from vms_desktop.runtime import Runtime


@pytest.fixture
def window(qtbot: QtBot, runtime: Runtime, tmp_path: Path) -> Iterator[MainWindow]:
    for camera_id in ("cam01", "cam02"):
        buffer = runtime.recorder.buffer(camera_id)
        wait_until(lambda b=buffer: (b.newest or 0) > 0, timeout=20, what=f"{camera_id} records")
    bridge = EngineBridge(runtime.console)
    settings = QSettings(str(tmp_path / "console.ini"), QSettings.Format.IniFormat)
    main = MainWindow(bridge, settings_store=settings)
    qtbot.addWidget(main)
    main.show()
    yield main
    main.close()
    bridge.shutdown()


def restart_camera(runtime: Runtime, camera_id: str) -> None:
    """Start a stopped camera again on a new worker that tells the same listeners."""
    recorder = runtime.recorder
    stopped = recorder.workers[camera_id]
    worker = CameraWorker(recorder.cameras[camera_id], recorder.buffer(camera_id))
    for listener in stopped._listeners:  # the console's, added when the service was built
        worker.add_listener(listener)
    worker.preview_tap = stopped.preview_tap
    recorder.workers[camera_id] = worker  # stopped with the service
    worker.start()


def alerts_shown(window: MainWindow) -> list[Alert]:
    model = window.events.model
    found = (model.index(row, 0).data(AlertRole) for row in range(model.rowCount()))
    return [alert for alert in found if isinstance(alert, Alert)]


def test_a_stopped_camera_is_down_after_the_grace_then_recovered(
    qtbot: QtBot, window: MainWindow, runtime: Runtime
) -> None:
    window.alert_sound_action.setChecked(True)  # the beep is harmless offscreen
    grace = window.alert_rules.camera_grace
    runtime.recorder.workers["cam01"].stop(15)
    stopped_at = time.monotonic()
    qtbot.waitUntil(lambda: bool(alerts_shown(window)), timeout=int((grace + 5) * 1000))
    assert time.monotonic() - stopped_at >= grace - 0.5  # not before the grace ran out
    [down] = alerts_shown(window)
    assert (down.kind, down.subject) == (AlertKind.CAMERA_DOWN, "cam01")
    assert CameraState.STOPPED.value in down.text

    model = window.events.model
    assert model.alert_count == 1 and model.job_at(0) is None
    cells = [model.index(0, column).data() for column in range(4)]
    assert cells[1:] == ["cam01", "camera down", down.text]
    assert model.index(0, 0).data(Qt.ItemDataRole.DecorationRole) is not None
    assert model.index(0, 0).data(Qt.ItemDataRole.BackgroundRole) is not None
    window.docks["events"].raise_()
    window.events.grab().save("/tmp/alert-feed.png")
    # Clicking an alert plays nothing.
    played: list[str] = []
    window.events.play_requested.connect(played.append)
    view = window.events.view
    QTest.mouseClick(
        view.viewport(), Qt.MouseButton.LeftButton, pos=view.visualRect(model.index(0, 1)).center()
    )

    restart_camera(runtime, "cam01")
    qtbot.waitUntil(lambda: len(alerts_shown(window)) == 2, timeout=15_000)
    recovered, first = alerts_shown(window)
    assert first == down  # said once: the down alert is not repeated
    assert (recovered.kind, recovered.subject) == (AlertKind.CAMERA_RECOVERED, "cam01")
    qtbot.wait(1500)  # the alert timer ticks: nothing more is said
    assert len(alerts_shown(window)) == 2
    assert played == []


def test_the_alert_sound_is_remembered(qtbot: QtBot, window: MainWindow) -> None:
    assert not window.alert_sound_action.isChecked()  # off by default
    window.alert_sound_action.setChecked(True)
    again = MainWindow(window.bridge, settings_store=window.qsettings)
    qtbot.addWidget(again)
    assert again.alert_sound_action.isChecked()
    again.close()


def test_an_event_given_to_the_service_shows_in_the_feed(
    qtbot: QtBot, window: MainWindow, runtime: Runtime
) -> None:
    # As an event arriving over MQTT does: straight to the clip service.
    event = Event("alert-feed-1", "cam02", "person", datetime.now(UTC))
    runtime.service.generate(event)
    model = window.events.model

    def shown() -> bool:
        jobs = (model.index(row, 0).data(JobRole) for row in range(model.rowCount()))
        return any(job is not None and job.event.id == event.id for job in jobs)

    qtbot.waitUntil(shown, timeout=10_000)
    assert alerts_shown(window) == []  # jobs are no alerts
