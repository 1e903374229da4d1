"""Fixtures shared by the whole test suite."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.support.rtsp_camera import RtspCamera
from tests.support.seaweedfs import SeaweedServer


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


def pytest_configure(config: pytest.Config) -> None:
    """Qt widgets render offscreen: no display is needed (or wanted) in tests."""
    import os

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


# --- S3: real SeaweedFS servers (tests/support/seaweedfs.py) ---------------------------------


@pytest.fixture(scope="session")
def seaweedfs() -> Iterator[SeaweedServer]:
    """One SeaweedFS S3 server for the whole session; tests keep apart with their own buckets."""
    with SeaweedServer() as server:
        yield server


@pytest.fixture
def s3_bucket(seaweedfs: SeaweedServer) -> str:
    """A new, empty bucket on the shared server (its name is unique to this test)."""
    name = f"test-{uuid.uuid4().hex[:24]}"
    seaweedfs.client().create_bucket(Bucket=name)
    return name


@pytest.fixture
def private_seaweedfs() -> Iterator[SeaweedServer]:
    """A SeaweedFS server of this test's own, which it may kill and restart."""
    with SeaweedServer() as server:
        yield server
