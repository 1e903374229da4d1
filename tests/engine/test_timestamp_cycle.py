"""Clips at every phase of the 33-bit timestamp cycle, across a camera dark for seconds or days.

MPEG-TS timestamps wrap every 2**33 / 90 kHz = 95,443.7 s, so where an event falls in the cycle
and how long the camera was dark change nothing a clip may show. The footage is recorded into
a real buffer at injected UTC moments and the clip is built with an injected clock, so every run
gives the same verdict on any day.
"""

from __future__ import annotations

import contextlib
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from tests.support.clipcheck import (
    Recording,
    check_timeline,
    decode_clip,
    expected_gaps,
    hole_lengths,
    is_black,
)
from tests.support.media import FileCamera, make_camera_file, record_file
from tests.support.waiting import wait_until
from vms_desktop.domain.errors import NoFootageError
from vms_desktop.engine.clip_builder import ClipBuilder, ClipResult, ClipSpec
from vms_desktop.engine.clock import WallClock
from vms_desktop.engine.segment_buffer import GAP_TOLERANCE, TS_HZ, TS_WRAP, SegmentBuffer

CYCLE = TS_WRAP / TS_HZ  # 95,443.7 s
HALF = CYCLE / 2
DAY = 86_400.0
FPS = 15
SPEC = ClipSpec(pre_seconds=2, post_seconds=2, fps=FPS, width=320, height=240)
# Each stretch the camera records: 3 s of the shared file (45 pictures).
STRETCH = 3.0
FRAMES = round(STRETCH * FPS)
# Where in the cycle the tested events lie: cycles 18,000 to 20,000 are the years 2024 to 2030.
CYCLES = st.integers(18_000, 20_000)


@pytest.fixture(scope="module")
def small_camera_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 s of stamped 320x240 H.264 with a keyframe a second."""
    directory = tmp_path_factory.mktemp("cycle-media")
    return make_camera_file(
        directory / "small.ts", seconds=8, start=0.0, width=320, height=240, gop_seconds=1.0
    )


def moment_at(cycles: int, phase: float) -> float:
    """The UTC moment whose 90 kHz timestamp is ``phase`` seconds into cycle ``cycles``."""
    return (cycles * TS_WRAP + round(phase * TS_HZ)) / TS_HZ


def make_buffer(directory: Path, clock: WallClock) -> SegmentBuffer:
    # Keeps footage of any age, with 1 s segments so each stretch is a run of several files.
    return SegmentBuffer(
        directory, "cam01", retention_seconds=1e12, segment_seconds=1.0, clock=clock
    )


def check_clip(result: ClipResult, recordings: list[Recording], event: float) -> None:
    """Frame count, the gaps where the camera was dark, black there, and the right pictures."""
    start, end = event - SPEC.pre_seconds, event + SPEC.post_seconds
    gaps = expected_gaps(recordings, start, end)
    assert [(g.start, g.end) for g in result.gaps] == [
        (pytest.approx(low, abs=0.01), pytest.approx(high, abs=0.01)) for low, high in gaps
    ]
    clip = decode_clip(result.path)
    assert result.frames == len(clip.frames) == SPEC.frame_count
    check_timeline(clip.frames, gaps, recordings, start, FPS)


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,  # the same examples on every run: the same verdict on any day
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    cycles=CYCLES,
    phase=st.one_of(
        st.floats(0.0, CYCLE, exclude_max=True),
        st.floats(CYCLE - 1.0, CYCLE, exclude_max=True),  # within a second before the wrap
        st.floats(0.0, 1.0),  # within a second after it
    ),
    dark=st.floats(-3.5, 1.9),
    gap=st.one_of(
        st.floats(0.05, 0.35),  # jitter, not a hole
        st.floats(0.65, 4.0),  # back inside the window
        st.floats(4.0, 600.0),
        st.floats(HALF - 5.0, HALF + 5.0),
        st.floats(CYCLE - 5.0, CYCLE + 5.0),
        st.floats(1.0, 4 * CYCLE),
    ),
)
# The wrap inside the window and inside the footage after the hole.
@example(cycles=19_000, phase=CYCLE - 0.5, dark=-0.5, gap=0.8)
# The camera comes back half a cycle, give or take a second, later; a whole cycle; three days.
@example(cycles=19_000, phase=1234.5, dark=0.5, gap=HALF - 1.0)
@example(cycles=19_000, phase=1234.5, dark=0.5, gap=HALF + 1.0)
@example(cycles=19_000, phase=CYCLE - 0.3, dark=0.5, gap=HALF + 1.0)
@example(cycles=19_000, phase=1234.5, dark=0.5, gap=CYCLE)
@example(cycles=19_000, phase=CYCLE - 0.5, dark=-1.0, gap=CYCLE)
@example(cycles=19_000, phase=1234.5, dark=0.5, gap=3 * DAY)
@example(cycles=19_000, phase=0.2, dark=-2.9, gap=3 * DAY)
# No footage in the window at all.
@example(cycles=19_000, phase=CYCLE - 0.5, dark=-3.4, gap=HALF + 1.0)
def test_a_clip_across_a_dark_camera_is_the_same_at_any_phase_of_the_cycle(
    small_camera_file: Path, cycles: int, phase: float, dark: float, gap: float
) -> None:
    event = moment_at(cycles, phase)
    # Recorded for 3 s up to ``event + dark``, dark for ``gap``, then recorded for 3 s again.
    first = Recording(event + dark - STRETCH, FRAMES)
    second = Recording(first.end + gap, FRAMES)
    window_end = event + SPEC.post_seconds
    # A hole about as long as the jitter tolerance may go either way: the contract is silent.
    assume(
        not any(abs(x - GAP_TOLERANCE) < 0.15 for x in hole_lengths([first, second], window_end))
    )
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        clock = WallClock(max(second.end, window_end) + 60)  # built once all is recorded
        buffer = make_buffer(directory / "buffer", clock)
        for recording in (first, second):
            record_file(buffer, small_camera_file, recording.start, seconds=STRETCH)
        builder = ClipBuilder(buffer, wait_grace=1.0, clock=clock)
        window_start = event - SPEC.pre_seconds
        if all(r.end <= window_start or r.start >= window_end for r in (first, second)):
            with pytest.raises(NoFootageError, match="no footage"):
                builder.build(event, SPEC, directory / "clip.mp4")
            return
        result = builder.build(event, SPEC, directory / "clip.mp4")
        check_clip(result, [first, second], event)


class WaitLog:
    """A ``while_waiting`` hook that records when builds wait for footage and stop waiting."""

    def __init__(self) -> None:
        self.events: list[str] = []

    @contextlib.contextmanager
    def __call__(self) -> Iterator[None]:
        self.events.append("enter")
        try:
            yield
        finally:
            self.events.append("exit")

    @property
    def waiting(self) -> bool:
        return bool(self.events) and self.events[-1] == "enter"


# The event one second before a wrap: the wrap falls inside the window.
NEAR_WRAP = moment_at(19_000, CYCLE - 1.0)


@pytest.mark.parametrize(
    "gap",
    [1.5, 3.5, HALF + 1.0, 3 * DAY],
    ids=["back-inside-the-window", "back-after-it", "half-a-cycle-later", "three-days-later"],
)
def test_a_build_waiting_for_a_dark_camera_finishes_when_it_returns(
    small_camera_file: Path, tmp_path: Path, gap: float
) -> None:
    event = NEAR_WRAP
    first = Recording(event - 0.5 - STRETCH, FRAMES)  # dark from half a second before the event
    second = Recording(first.end + gap, FRAMES)
    clock = WallClock(first.start + 2.0)  # the camera is still recording when the build starts
    buffer = make_buffer(tmp_path / "buffer", clock)
    camera = FileCamera(buffer, small_camera_file, first.start)
    camera.record_until(2.0)
    builder = ClipBuilder(buffer, wait_grace=60.0, clock=clock)
    log = WaitLog()
    outcome: list[ClipResult | BaseException] = []

    def build() -> None:
        try:
            outcome.append(builder.build(event, SPEC, tmp_path / "clip.mp4", while_waiting=log))
        except BaseException as exc:  # handed to the test thread
            outcome.append(exc)

    worker = threading.Thread(target=build)
    worker.start()
    try:
        wait_until(lambda: log.waiting, what="the build waiting at the live tail")
        camera.record_until(STRETCH)
        camera.finish()  # the camera goes dark
        assert not outcome, "the build must wait for the rest of its window"
        # It was waiting when the rest came: it leaves the wait, reads, and waits again.
        wait_until(
            lambda: len(log.events) >= 3 and log.waiting,
            what="the build waiting for the dark camera",
        )
        record_file(buffer, small_camera_file, second.start, seconds=STRETCH)  # it is back
    finally:
        worker.join(60)
    assert not worker.is_alive() and len(outcome) == 1
    result = outcome[0]
    assert isinstance(result, ClipResult), result
    assert clock.now() < event + SPEC.post_seconds + builder.wait_grace  # not held to the grace
    check_clip(result, [first, second], event)
    assert result.gaps  # the camera was dark inside the window
    assert log.events.count("enter") == log.events.count("exit") >= 2


def test_a_build_for_a_camera_still_dark_finishes_black_after_the_grace(
    small_camera_file: Path, tmp_path: Path
) -> None:
    event = NEAR_WRAP
    first = Recording(event - 0.5 - STRETCH, FRAMES)
    clock = WallClock(event + 1.0)  # dark for 1.5 s, and the window closes in a second
    buffer = make_buffer(tmp_path / "buffer", clock)
    record_file(buffer, small_camera_file, first.start, seconds=STRETCH)
    builder = ClipBuilder(buffer, wait_grace=1.0, clock=clock)
    log = WaitLog()
    result = builder.build(event, SPEC, tmp_path / "clip.mp4", while_waiting=log)
    assert clock.now() >= event + SPEC.post_seconds + builder.wait_grace  # waited it out
    check_clip(result, [first], event)
    assert [(g.start, g.end) for g in result.gaps] == [
        (pytest.approx(first.end, abs=0.01), pytest.approx(event + SPEC.post_seconds, abs=0.01))
    ]
    assert is_black(decode_clip(result.path).frames[-1])
    assert log.events and log.events.count("enter") == log.events.count("exit")


def test_a_window_the_camera_was_dark_for_has_no_footage(
    small_camera_file: Path, tmp_path: Path
) -> None:
    event = NEAR_WRAP
    first = Recording(event - SPEC.pre_seconds - 1.0 - STRETCH, FRAMES)  # dark before the window
    clock = WallClock(event + 1.0)  # the window closes in a second
    buffer = make_buffer(tmp_path / "buffer", clock)
    record_file(buffer, small_camera_file, first.start, seconds=STRETCH)
    destination = tmp_path / "clip.mp4"
    with pytest.raises(NoFootageError, match="no footage"):
        ClipBuilder(buffer, wait_grace=1.0, clock=clock).build(event, SPEC, destination)
    assert clock.now() >= event + SPEC.post_seconds + 1.0  # it waited for the camera to return
    assert not destination.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
