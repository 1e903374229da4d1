"""Shared fixtures for engine tests: stamped camera media recorded into a buffer."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.support.media import make_camera_file, record_file
from vms_desktop.engine.segment_buffer import SegmentBuffer

FILE_SECONDS = 34.0


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def camera_file(media_dir: Path) -> Path:
    """34 s of stamped 640x480 15 fps H.264, frame k stamped ``k / 15`` s after 0."""
    return make_camera_file(media_dir / "camera.ts", seconds=FILE_SECONDS, start=0.0)


@pytest.fixture(scope="session")
def wide_camera_file(media_dir: Path) -> Path:
    """34 s of stamped 1280x720 H.264 with AAC audio."""
    return make_camera_file(
        media_dir / "wide.ts", seconds=FILE_SECONDS, start=0.0, width=1280, height=720, audio=True
    )


@pytest.fixture
def recorded(tmp_path: Path, camera_file: Path) -> tuple[SegmentBuffer, float]:
    """A buffer holding ``camera_file`` as recorded a minute ago; returns it and its start."""
    start = round(time.time() - 60, 3)
    buffer = SegmentBuffer(tmp_path / "buffer", "cam01")
    record_file(buffer, camera_file, start)
    return buffer, start
