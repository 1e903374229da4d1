"""Exporting a stretch of a camera's footage from the timeline: drag with Shift along a lane."""

from __future__ import annotations

import time

import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from tests.gui.conftest import plot_point
from vms_desktop.domain.clip import ClipJob, ClipStatus, EventWindow
from vms_desktop.gui.timeline import TimelinePlot
from vms_desktop.gui.timeline_model import ExportRange, TimelineModel
from vms_desktop.runtime import Runtime


def test_a_drag_along_a_lane_is_a_range_of_that_camera() -> None:
    model = TimelineModel(["cam01", "cam02"])
    assert model.export_range(1.1, 110.0, 100.0) == ExportRange("cam02", 100.0, 110.0)
    assert model.export_range(-0.2, 100.0, 104.0) == ExportRange("cam01", 100.0, 104.0)
    assert model.export_range(2.6, 100.0, 110.0) is None  # below the last lane
    assert model.export_range(0.0, 100.0, 100.2) is None  # a slip of the hand


def _drag(widget: object, start: QPoint, end: QPoint, modifiers: Qt.KeyboardModifier) -> None:
    """Press, move in steps with the button held, release (what a hand does)."""
    assert hasattr(widget, "mapToGlobal")
    QTest.mousePress(widget, Qt.MouseButton.LeftButton, modifiers, start)  # type: ignore[arg-type]
    for step in range(1, 11):
        here = QPointF(start + (end - start) * step / 10)
        move = QMouseEvent(
            QEvent.Type.MouseMove,
            here,
            QPointF(widget.mapToGlobal(here)),
            Qt.MouseButton.NoButton,
            Qt.MouseButton.LeftButton,
            modifiers,
        )
        QApplication.sendEvent(widget, move)  # type: ignore[arg-type]
        QTest.qWait(10)
    QTest.mouseRelease(widget, Qt.MouseButton.LeftButton, modifiers, end)  # type: ignore[arg-type]


def test_a_shift_drag_exports_the_range_as_a_clip_that_long(qtbot: QtBot, runtime: Runtime) -> None:
    qtbot.waitUntil(lambda: (runtime.recorder.buffer("cam02").newest or 0) > 0, timeout=20_000)
    qtbot.wait(5000)  # footage for the whole range
    jobs: list[ClipJob] = []
    runtime.service.add_listener(jobs.append)
    timeline = TimelinePlot(runtime.console, refresh_ms=60_000)
    qtbot.addWidget(timeline)
    timeline.resize(900, 240)
    timeline.show()
    qtbot.waitExposed(timeline)
    now = time.time()
    timeline.follow_now = False
    timeline.plot.setXRange(now - 10, now, padding=0)
    shown = timeline.view_box.viewRange()[0]
    start, end = plot_point(timeline, now - 5, 1.0), plot_point(timeline, now - 2, 1.0)
    viewport = timeline.plot.viewport()

    _drag(viewport, start, end, Qt.KeyboardModifier.NoModifier)  # a plain drag pans
    assert timeline.view_box.viewRange()[0] != shown
    timeline.plot.setXRange(*shown, padding=0)
    with qtbot.waitSignal(timeline.notice, timeout=10_000) as notice:
        _drag(viewport, start, end, Qt.KeyboardModifier.ShiftModifier)
    assert timeline.view_box.viewRange()[0] == pytest.approx(shown)  # selecting does not pan
    assert str(notice.args[0]).startswith("Exporting 3.0 s of cam02")

    qtbot.waitUntil(lambda: any(job.status is ClipStatus.READY for job in jobs), timeout=30_000)
    ready = next(job for job in jobs if job.status is ClipStatus.READY)
    assert ready.event.id.startswith("export-cam02-") and ready.event.event_type == "export"
    assert ready.window is not None and ready.window.pre_seconds == 0.0
    assert ready.window.post_seconds == pytest.approx(3.0, abs=0.1)  # pixels of ~12 ms
    meta = runtime.service.get(ready.event.id)
    assert meta is not None and meta.duration == pytest.approx(ready.window.length, abs=0.1)
    assert abs(meta.event.timestamp.timestamp() - (now - 5)) < 0.1
    again = runtime.console.export_range("cam02", meta.event.timestamp, meta.window_end)
    assert again.event.id == ready.event.id  # the same range is the same clip
    assert again.window == EventWindow(0.0, ready.window.post_seconds)
    timeline.stop()


def test_an_export_that_cannot_be_made_says_why(qtbot: QtBot, runtime: Runtime) -> None:
    timeline = TimelinePlot(runtime.console, refresh_ms=60_000)
    qtbot.addWidget(timeline)
    old = time.time() - 86_400
    with qtbot.waitSignal(timeline.notice, timeout=10_000) as notice:
        timeline.export(ExportRange("cam01", old, old + 3))
    assert str(notice.args[0]).startswith("Range of cam01 not exported: ")
    assert "footage" in str(notice.args[0])
    timeline.stop()
