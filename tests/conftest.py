"""Fixtures shared by the whole test suite."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.support.rtsp_camera import RtspCamera


@pytest.fixture
def rtsp_camera() -> Iterator[RtspCamera]:
    """A running RTSP test camera: 640x480, 15 fps, 2 s GOP, video only."""
    camera = RtspCamera(width=640, height=480, fps=15, gop_seconds=2.0, audio=False)
    camera.start()
    try:
        yield camera
    finally:
        camera.stop()


@pytest.fixture
def rtsp_camera_factory() -> Iterator[Callable[..., RtspCamera]]:
    """Makes running RTSP test cameras (``RtspCamera`` keyword arguments); stops them all after."""
    cameras: list[RtspCamera] = []

    def make(**options: Any) -> RtspCamera:
        camera = RtspCamera(**options)
        cameras.append(camera)
        camera.start()
        return camera

    try:
        yield make
    finally:
        for camera in cameras:
            camera.stop()
