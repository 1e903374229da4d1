"""Fixtures of the console's tests: the local time zone set and restored, a service with two
demo cameras, and where a timeline point is on screen.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, QPointF

from tests.support.service import start_service
from vms_desktop.gui.timeline import TimelinePlot
from vms_desktop.runtime import Runtime

ZoneSetter = Callable[[str], None]


@pytest.fixture
def local_zone() -> Iterator[ZoneSetter]:
    """Sets the process's local zone (``TZ`` + ``time.tzset``); the old one is back after."""
    before = os.environ.get("TZ")

    def set_zone(name: str) -> None:
        os.environ["TZ"] = name
        time.tzset()

    try:
        yield set_zone
    finally:
        if before is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = before
        time.tzset()


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    """A running service (no API) with two small demo cameras, cam01 and cam02."""
    running = start_service(
        tmp_path,
        with_api=False,
        CAMERA_CAM01_URL="demo://?width=320&height=240",
        CAMERA_CAM02_URL="demo://?width=320&height=240",
    )
    yield running
    running.stop()


def plot_point(timeline: TimelinePlot, x: float, y: float) -> QPoint:
    """Where the timeline's plot point (x, y) is on its viewport, for mouse events."""
    return timeline.plot.mapFromScene(timeline.view_box.mapViewToScene(QPointF(x, y)))
