"""Shared fixtures for engine tests: stamped camera media recorded into buffers at any moment."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.support.media import make_camera_file, record_file
from vms_desktop.engine.clock import WallClock
from vms_desktop.engine.segment_buffer import SegmentBuffer

FILE_SECONDS = 34.0
# When the shared footage is recorded: a fixed moment, so no verdict depends on today's date.
MOMENT = datetime(2026, 3, 14, 15, 9, 26, tzinfo=UTC).timestamp()

BufferFactory = Callable[..., SegmentBuffer]


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
def buffer_at(tmp_path: Path) -> BufferFactory:
    """Makes a buffer whose clock reads ``now`` (UTC seconds) when made, then runs on from it.

    ``buffer_at(now, camera_id="cam01", **options)``; options go to :class:`SegmentBuffer`.
    """

    def make(now: float, camera_id: str = "cam01", **options: Any) -> SegmentBuffer:
        return SegmentBuffer(tmp_path / "buffer", camera_id, clock=WallClock(start=now), **options)

    return make


@pytest.fixture
def recorded(buffer_at: BufferFactory, camera_file: Path) -> tuple[SegmentBuffer, float]:
    """A buffer holding ``camera_file`` as recorded a minute before its clock's start."""
    buffer = buffer_at(MOMENT + 60)
    record_file(buffer, camera_file, MOMENT)
    return buffer, MOMENT
