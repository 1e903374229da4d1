"""The rolling buffer: segments, coverage and gaps, pruning, crash recovery, reading it in runs."""

from __future__ import annotations

import contextlib
import io
import itertools
import math
import threading
from collections.abc import Iterator
from pathlib import Path

import av
import pytest

from tests.engine.conftest import FILE_SECONDS, MOMENT, BufferFactory
from tests.support.media import FileCamera, record_file
from tests.support.waiting import wait_until
from vms_desktop.engine.segment_buffer import (
    DEMUX_OPTIONS,
    TS_HZ,
    TS_WRAP,
    RunTimeline,
    SegmentBuffer,
    from_ts,
    to_ts,
)
from vms_desktop.engine.segment_stream import SegmentStream

CYCLE = TS_WRAP / TS_HZ
# The UTC moment at which the 90 kHz timestamps wrap, nearest after MOMENT.
WRAP = math.ceil(to_ts(MOMENT) / TS_WRAP) * TS_WRAP / TS_HZ


def test_timestamps_survive_the_33_bit_wrap() -> None:
    moment = 1_795_000_000.123
    wrapped = to_ts(moment) % TS_WRAP
    assert from_ts(wrapped, near=moment - 1000) == pytest.approx(moment, abs=1e-4)
    assert from_ts(wrapped, near=moment + 1000) == pytest.approx(moment, abs=1e-4)


def test_a_run_of_any_length_resolves_exactly_however_the_demuxer_unwrapped() -> None:
    start = WRAP - 3600.0
    # Two days of timestamps an hour apart: over the wrap twice, and far beyond half a cycle
    # from the run's start.
    moments = [start + hour * 3600.0 + 0.0111 * hour for hour in range(49)]
    for unwrap in (0, TS_WRAP, -TS_WRAP):  # as written; FFmpeg's correction either way
        timeline = RunTimeline(start)
        for moment in moments:
            ts = to_ts(moment) % TS_WRAP + (unwrap if moment >= WRAP else 0)
            assert timeline.resolve(ts) == pytest.approx(moment, abs=1e-4)


def test_segments_start_on_keyframes_and_last_about_two_seconds(
    recorded: tuple[SegmentBuffer, float],
) -> None:
    buffer, start = recorded
    segments = buffer.segments()
    assert len(segments) == FILE_SECONDS // 2
    assert segments[0].start == pytest.approx(start, abs=1e-3)
    for segment in segments:
        assert segment.closed
        assert segment.path.name.endswith(".ts") and ".open" not in segment.path.name
        assert segment.duration == pytest.approx(2.0, abs=0.1)
        with av.open(str(segment.path)) as container:
            first = next(p for p in container.demux(video=0) if p.pts is not None)
            assert first.is_keyframe
            assert from_ts(first.pts, segment.start) == pytest.approx(segment.start, abs=1e-3)
    for earlier, later in itertools.pairwise(segments):
        assert later.start == pytest.approx(earlier.end, abs=1e-3)
        assert later.session == earlier.session  # one recording session


def test_covering_and_gaps(recorded: tuple[SegmentBuffer, float]) -> None:
    buffer, start = recorded
    assert [s.start for s in buffer.covering(start + 3, start + 5)] == pytest.approx(
        [start + 2, start + 4], abs=1e-3
    )
    assert buffer.gaps(start + 1, start + 15) == []
    holes = buffer.gaps(start - 10, start + 50)
    assert [(round(g.start - start, 2), round(g.end - start, 2)) for g in holes] == [
        (-10.0, 0.0),
        (FILE_SECONDS, 50.0),
    ]


def test_a_second_recording_after_a_pause_leaves_a_gap(
    buffer_at: BufferFactory, camera_file: Path
) -> None:
    start = MOMENT
    buffer = buffer_at(start + 120)
    record_file(buffer, camera_file, start)
    record_file(buffer, camera_file, start + FILE_SECONDS + 10)
    holes = buffer.gaps(start, start + 2 * FILE_SECONDS + 10)
    assert len(holes) == 1
    assert holes[0].start == pytest.approx(start + FILE_SECONDS, abs=0.1)
    assert holes[0].end == pytest.approx(start + FILE_SECONDS + 10, abs=0.1)


def test_index_is_rebuilt_from_the_directory(recorded: tuple[SegmentBuffer, float]) -> None:
    buffer, _ = recorded
    again = SegmentBuffer(buffer.directory.parent, buffer.camera_id, clock=buffer.clock)
    assert [(s.start, s.end, s.size) for s in again.segments()] == [
        (pytest.approx(s.start, abs=1e-3), pytest.approx(s.end, abs=1e-3), s.size)
        for s in buffer.segments()
    ]


def test_pruning_by_age_keeps_pinned_segments(buffer_at: BufferFactory, camera_file: Path) -> None:
    start = MOMENT
    buffer = buffer_at(start + 1000, retention_seconds=3600)
    record_file(buffer, camera_file, start)
    buffer.retention_seconds = 990  # footage older than now-990 s is due to go
    pin = buffer.pin(start + 6)
    buffer.prune()
    assert buffer.oldest == pytest.approx(start + 6, abs=1e-3)
    buffer.unpin(pin)
    buffer.prune()
    assert buffer.oldest == pytest.approx(start + 10, abs=1e-3)
    assert len(list(buffer.directory.iterdir())) == len(buffer.segments())


def test_pruning_by_size(buffer_at: BufferFactory, camera_file: Path) -> None:
    buffer = buffer_at(MOMENT + 60)
    record_file(buffer, camera_file, MOMENT)
    total = buffer.size_bytes
    buffer.max_bytes = total // 2
    removed = buffer.prune()
    assert removed and buffer.size_bytes <= total // 2
    assert all(not s.path.exists() for s in removed)


@pytest.mark.parametrize("start", [MOMENT, WRAP - 1.5], ids=["any-moment", "across-the-wrap"])
def test_a_segment_left_open_by_a_crash_is_recovered(
    buffer_at: BufferFactory, camera_file: Path, start: float
) -> None:
    buffer = buffer_at(start + 60)
    camera = FileCamera(buffer, camera_file, start)
    camera.record_until(3.05)  # "crash": the writer never finishes its second segment
    open_files = [p.name for p in buffer.directory.iterdir() if ".open." in p.name]
    assert len(open_files) == 1
    recovered = SegmentBuffer(buffer.directory.parent, "cam01", clock=buffer.clock)
    segments = recovered.segments()
    assert [round(s.start - start, 2) for s in segments] == [0.0, 2.0]
    # The last picture (at 3.0 s) is shown for one frame.
    assert segments[-1].end == pytest.approx(start + 3.0 + 1 / 15, abs=0.01)
    assert not any(".open." in p.name for p in recovered.directory.iterdir())


def test_stream_reads_live_footage_as_it_is_written(
    buffer_at: BufferFactory, camera_file: Path
) -> None:
    buffer = buffer_at(MOMENT + 1)
    camera = FileCamera(buffer, camera_file, MOMENT)
    camera.record_until(20 / 15)  # the first keyframe opens the segment
    stream = SegmentStream(buffer, MOMENT, deadline=MOMENT + 60)
    chunks: list[bytes] = []

    def read_all() -> None:
        while chunk := stream.read(65536):
            chunks.append(chunk)

    reader = threading.Thread(target=read_all)
    reader.start()
    try:
        camera.record_until(100 / 15)
        camera.finish()
        written = sum(s.size for s in buffer.segments())
        wait_until(lambda: sum(map(len, chunks)) == written, what="every byte read")
    finally:
        stream.stop()
        reader.join(5)
        stream.close()
    assert not reader.is_alive()
    assert b"".join(chunks) == b"".join(s.path.read_bytes() for s in buffer.segments())


def test_stream_without_footage_is_refused(buffer_at: BufferFactory) -> None:
    buffer = buffer_at(MOMENT)
    with pytest.raises(LookupError):
        SegmentStream(buffer, MOMENT - 30, deadline=MOMENT)


def _read_run(stream: SegmentStream) -> bytes:
    chunks = []
    while chunk := stream.read(1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)


def _first_picture_time(data: bytes, run_start: float) -> float:
    """What a demuxer over one run's bytes says its first picture's UTC time is."""
    with av.open(io.BytesIO(data), format="mpegts", options=DEMUX_OPTIONS) as container:
        timeline = RunTimeline(run_start)
        packet = next(p for p in container.demux(video=0) if p.pts is not None)
        return timeline.resolve(packet.pts)


@pytest.mark.parametrize(
    "gap", [1.0, CYCLE / 2 + 1.0, CYCLE, 3 * 86_400.0], ids=["1s", "half+1s", "cycle", "3d"]
)
def test_a_stream_ends_at_a_hole_and_reads_the_next_run_on_its_own(
    buffer_at: BufferFactory, camera_file: Path, gap: float
) -> None:
    start = WRAP - 5.0  # the first run crosses the wrap
    buffer = buffer_at(start + 10 + gap + 100, retention_seconds=1e12)
    record_file(buffer, camera_file, start, seconds=10)
    record_file(buffer, camera_file, start + 10 + gap, seconds=4)
    first_run = [s for s in buffer.segments() if s.start < start + 10]
    second_run = [s for s in buffer.segments() if s.start > start + 10]
    stream = SegmentStream(buffer, start + 1, deadline=buffer.clock.now())
    with stream:
        assert stream.run_start == pytest.approx(start)
        data = _read_run(stream)
        assert data == b"".join(s.path.read_bytes() for s in first_run)  # not a byte more
        assert stream.following is second_run[0]
        assert not stream.next_run(before=second_run[0].start)  # it lies beyond the window
        assert stream.next_run(before=math.inf)
        assert stream.run_start == pytest.approx(start + 10 + gap)
        again = _read_run(stream)
        assert again == b"".join(s.path.read_bytes() for s in second_run)
        assert stream.following is None and not stream.next_run(before=math.inf)
    assert _first_picture_time(data, start) == pytest.approx(start, abs=1e-3)
    second_start = start + 10 + gap
    assert _first_picture_time(again, second_start) == pytest.approx(second_start, abs=1e-3)


def test_a_new_recording_session_starts_a_new_run_even_without_a_hole(
    buffer_at: BufferFactory, camera_file: Path
) -> None:
    buffer = buffer_at(MOMENT + 60)
    record_file(buffer, camera_file, MOMENT, seconds=4)
    record_file(buffer, camera_file, MOMENT + 4, seconds=4)  # reconnected at once
    segments = buffer.segments()
    assert segments[2].start == pytest.approx(segments[1].end, abs=1e-3)
    assert segments[2].session != segments[1].session
    stream = SegmentStream(buffer, MOMENT, deadline=MOMENT)
    with stream:
        assert _read_run(stream) == b"".join(s.path.read_bytes() for s in segments[:2])
        assert stream.following is segments[2]


def test_a_stream_skips_footage_that_ended_before_its_start(
    buffer_at: BufferFactory, camera_file: Path
) -> None:
    buffer = buffer_at(MOMENT + 60)
    record_file(buffer, camera_file, MOMENT, seconds=4)
    record_file(buffer, camera_file, MOMENT + 10, seconds=4)
    stream = SegmentStream(buffer, MOMENT + 7, deadline=MOMENT)
    with stream:
        assert not stream.wait_for_data()  # the first run has nothing for the window
        assert stream.next_run(before=math.inf)
        assert stream.wait_for_data()
        assert _read_run(stream) == b"".join(s.path.read_bytes() for s in buffer.segments()[2:])


def test_a_read_at_the_live_tail_runs_inside_while_waiting(
    buffer_at: BufferFactory, camera_file: Path
) -> None:
    buffer = buffer_at(MOMENT + 1)
    camera = FileCamera(buffer, camera_file, MOMENT)
    camera.record_until(20 / 15)
    events: list[str] = []

    @contextlib.contextmanager
    def while_waiting() -> Iterator[None]:
        events.append("enter")
        try:
            yield
        finally:
            events.append("exit")

    stream = SegmentStream(buffer, MOMENT, deadline=MOMENT + 60, while_waiting=while_waiting)
    recorded = buffer.segments()[0].size
    received: list[int] = []

    def read_all() -> None:
        while chunk := stream.read(recorded + 65536):
            received.append(len(chunk))
            events.append("data")

    reader = threading.Thread(target=read_all)
    reader.start()
    try:
        wait_until(lambda: "enter" in events, what="the reader waiting at the tail")
        assert events == ["data", "enter"]  # what was recorded was read without waiting
        assert received == [recorded]
        camera.record_until(21 / 15)
        wait_until(lambda: len(events) >= 4, what="the new data being read")
        assert events[:4] == ["data", "enter", "exit", "data"]  # left as the data arrived
    finally:
        stream.stop()
        reader.join(10)
        stream.close()
        camera.finish()
    assert not reader.is_alive()
    assert events.count("enter") == events.count("exit")  # every wait left again
