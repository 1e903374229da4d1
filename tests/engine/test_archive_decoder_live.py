"""The console's archive over a running demo camera: its coverage, and pictures to the live edge."""

from __future__ import annotations

import queue
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.support.service import start_service
from tests.support.waiting import wait_until
from vms_desktop.domain.errors import UnknownCameraError
from vms_desktop.domain.recording import ArchiveGap, ArchivePicture, Coverage
from vms_desktop.engine import framestamp
from vms_desktop.engine.archive_decoder import ArchiveDecoder
from vms_desktop.runtime import Runtime

Outcome = ArchivePicture | ArchiveGap | str


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    started = start_service(
        tmp_path, with_api=False, CAMERA_CAM01_URL="demo://?width=320&height=240&fps=15"
    )
    try:
        yield started
    finally:
        started.stop()


def recorded_for(runtime: Runtime, seconds: float) -> Coverage:
    """The camera's coverage of the last minute once it holds ``seconds`` of footage."""

    def enough() -> Coverage | None:
        now = runtime.recorder.buffer("cam01").clock.now()
        coverage = runtime.console.coverage("cam01", now - 60, now)
        return coverage if coverage.recorded_seconds >= seconds else None

    found = wait_until(enough, 30, f"{seconds} s of recorded footage")
    assert found is not None
    return found


def test_coverage_of_a_recording_camera(runtime: Runtime) -> None:
    coverage = recorded_for(runtime, 3.0)
    assert coverage.camera_id == "cam01"
    assert len(coverage.ranges) == 1
    recorded = coverage.ranges[0]
    # The minute before the camera started is a gap; the footage runs up to about now.
    assert coverage.gaps and coverage.gaps[0].start == coverage.start
    assert coverage.gaps[0].end == pytest.approx(recorded.start, abs=1e-3)
    assert coverage.until - recorded.end < 3.0
    assert recorded.end <= coverage.until + 0.5
    # A window in the future holds neither footage nor gaps: it has not happened yet.
    later = runtime.console.coverage("cam01", coverage.until + 600, coverage.until + 660)
    assert later.ranges == () and later.gaps == ()
    with pytest.raises(UnknownCameraError):
        runtime.console.coverage("nope", coverage.start, coverage.end)


def test_the_archive_of_a_recording_camera_plays_up_to_the_live_edge(runtime: Runtime) -> None:
    recorded = recorded_for(runtime, 4.0).ranges[0]
    outcomes: queue.Queue[Outcome] = queue.Queue()
    playback = runtime.console.open_archive("cam01", outcomes.put, outcomes.put, outcomes.put)
    try:
        playback.fit(160, 160)

        def ask(moment: float) -> Outcome:
            playback.show(moment)
            return outcomes.get(timeout=20)

        before = ask(recorded.start - 30)
        assert isinstance(before, ArchiveGap)
        assert before.resume == pytest.approx(recorded.start, abs=1e-3)
        after = ask(recorded.end + 3600)
        assert isinstance(after, ArchiveGap) and after.resume is None
        moment = recorded.start + 0.5
        shown: list[float] = []
        while moment < recorded.end - 0.2:
            picture = ask(moment)
            assert isinstance(picture, ArchivePicture), picture
            assert picture.image.shape == (120, 160, 3)
            assert picture.moment <= moment + 1e-3
            # The demo camera stamps each picture with the moment it made it.
            stamp = framestamp.read(picture.image.mean(axis=2).astype(np.uint8))
            assert stamp is not None and abs(stamp / 1000 - picture.moment) < 0.5
            shown.append(picture.moment)
            moment += 0.25
        assert shown == sorted(shown) and len(set(shown)) == len(shown)
    finally:
        playback.close()
    with pytest.raises(UnknownCameraError):
        runtime.console.open_archive("nope", outcomes.put, outcomes.put, outcomes.put)


def test_playing_just_behind_the_recording_camera_goes_on_decoding(runtime: Runtime) -> None:
    recorded_for(runtime, 3.0)
    buffer = runtime.recorder.buffer("cam01")
    outcomes: queue.Queue[Outcome] = queue.Queue()
    playback = runtime.console.open_archive("cam01", outcomes.put, outcomes.put, outcomes.put)
    assert isinstance(playback, ArchiveDecoder)
    try:
        shown: list[float] = []
        began = time.monotonic()
        # Four seconds a third of a second behind the newest footage, across its files.
        while time.monotonic() - began < 4.0:
            newest = buffer.newest
            assert newest is not None
            playback.show(newest - 0.33)
            picture = outcomes.get(timeout=20)
            assert isinstance(picture, ArchivePicture), picture
            assert picture.moment <= newest - 0.33 + 1e-3
            shown.append(picture.moment)
        assert shown == sorted(shown) and shown[-1] - shown[0] > 3.0
        # Opened once: each picture came from decoding on, not from its keyframe again.
        assert playback.opened_runs == 1
    finally:
        playback.close()
