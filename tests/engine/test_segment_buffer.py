"""The rolling buffer: keyframe-aligned segments, coverage and gaps, pruning, crash recovery."""

from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path

import av
import pytest

from tests.engine.conftest import FILE_SECONDS
from tests.support.media import record_file
from vms_desktop.engine.segment_buffer import (
    TS_WRAP,
    SegmentBuffer,
    SegmentStream,
    SegmentWriter,
    from_ts,
    to_ts,
)


def test_timestamps_survive_the_33_bit_wrap() -> None:
    moment = 1_795_000_000.123
    wrapped = to_ts(moment) % TS_WRAP
    assert from_ts(wrapped, near=moment - 1000) == pytest.approx(moment, abs=1e-4)
    assert from_ts(wrapped, near=moment + 1000) == pytest.approx(moment, abs=1e-4)


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


def test_a_second_recording_after_a_pause_leaves_a_gap(tmp_path: Path, camera_file: Path) -> None:
    buffer = SegmentBuffer(tmp_path, "cam01")
    start = time.time() - 120
    record_file(buffer, camera_file, start)
    record_file(buffer, camera_file, start + FILE_SECONDS + 10)
    holes = buffer.gaps(start, start + 2 * FILE_SECONDS + 10)
    assert len(holes) == 1
    assert holes[0].start == pytest.approx(start + FILE_SECONDS, abs=0.1)
    assert holes[0].end == pytest.approx(start + FILE_SECONDS + 10, abs=0.1)


def test_index_is_rebuilt_from_the_directory(recorded: tuple[SegmentBuffer, float]) -> None:
    buffer, _ = recorded
    again = SegmentBuffer(buffer.directory.parent, buffer.camera_id)
    assert [(s.start, s.end, s.size) for s in again.segments()] == [
        (pytest.approx(s.start, abs=1e-3), pytest.approx(s.end, abs=1e-3), s.size)
        for s in buffer.segments()
    ]


def test_pruning_by_age_keeps_pinned_segments(tmp_path: Path, camera_file: Path) -> None:
    buffer = SegmentBuffer(tmp_path, "cam01", retention_seconds=3600)
    start = time.time() - 1000
    record_file(buffer, camera_file, start)
    buffer.retention_seconds = 990  # footage older than now-990 s is due to go
    pin = buffer.pin(start + 6)
    buffer.prune()
    assert buffer.oldest == pytest.approx(start + 6, abs=1e-3)
    buffer.unpin(pin)
    buffer.prune()
    assert buffer.oldest == pytest.approx(start + 10, abs=1e-3)
    assert len(list(buffer.directory.iterdir())) == len(buffer.segments())


def test_pruning_by_size(tmp_path: Path, camera_file: Path) -> None:
    buffer = SegmentBuffer(tmp_path, "cam01")
    record_file(buffer, camera_file, time.time() - 60)
    total = buffer.size_bytes
    buffer.max_bytes = total // 2
    removed = buffer.prune()
    assert removed and buffer.size_bytes <= total // 2
    assert all(not s.path.exists() for s in removed)


def test_a_segment_left_open_by_a_crash_is_recovered(tmp_path: Path, camera_file: Path) -> None:
    buffer = SegmentBuffer(tmp_path, "cam01")
    start = time.time() - 60
    writer = SegmentWriter(buffer)
    with av.open(str(camera_file)) as source:
        video = source.streams.video[0]
        writer.start(video, None)
        first = float(video.start_time * video.time_base)
        for packet in source.demux(video):
            if packet.pts is None:
                continue
            seconds = float(packet.pts * packet.time_base) - first
            if seconds > 3.0:
                break  # "crash": the writer never finishes its second segment
            writer.write(packet, start + seconds, start + seconds)
    open_files = [p.name for p in buffer.directory.iterdir() if ".open." in p.name]
    assert len(open_files) == 1
    recovered = SegmentBuffer(tmp_path, "cam01")
    segments = recovered.segments()
    assert [round(s.start - start, 2) for s in segments] == [0.0, 2.0]
    assert segments[-1].end == pytest.approx(start + 3.0, abs=0.1)
    assert not any(".open." in p.name for p in recovered.directory.iterdir())


def test_stream_reads_live_footage_as_it_is_written(tmp_path: Path, camera_file: Path) -> None:
    buffer = SegmentBuffer(tmp_path, "cam01")
    start = time.time() - 1
    writer = SegmentWriter(buffer)
    source = av.open(str(camera_file))
    video = source.streams.video[0]
    writer.start(video, None)
    first = float(video.start_time * video.time_base)
    packets = [p for p in source.demux(video) if p.pts is not None]
    for packet in packets[:20]:  # the first keyframe opens the segment
        seconds = float(packet.pts * packet.time_base) - first
        writer.write(packet, start + seconds, start + seconds)
    stream = SegmentStream(buffer, start, deadline=time.time() + 30)
    chunks: list[bytes] = []

    def read_all() -> None:
        while chunk := stream.read(65536):
            chunks.append(chunk)

    reader = threading.Thread(target=read_all)
    reader.start()
    for packet in packets[20:100]:
        seconds = float(packet.pts * packet.time_base) - first
        writer.write(packet, start + seconds, start + seconds)
    writer.finish()
    time.sleep(0.3)
    stream.stop()
    reader.join(5)
    stream.close()
    assert not reader.is_alive()
    data = b"".join(chunks)
    assert sum(s.size for s in buffer.segments()) == len(data)
    source.close()


def test_stream_without_footage_is_refused(tmp_path: Path) -> None:
    buffer = SegmentBuffer(tmp_path, "cam01")
    with pytest.raises(LookupError):
        SegmentStream(buffer, time.time() - 30, deadline=time.time())
