"""Footage files of many pieces: layout, piece indexes, entering a file mid-way, recovery."""

from __future__ import annotations

import io
import itertools
import math
from pathlib import Path

import av
import pytest

from tests.engine.conftest import FILE_SECONDS, MOMENT, BufferFactory
from tests.support.media import FileCamera, record_file, stamp_of
from vms_desktop.engine.archive import Archive
from vms_desktop.engine.archive_files import index_path
from vms_desktop.engine.segment_buffer import (
    DEMUX_OPTIONS,
    TS_HZ,
    TS_WRAP,
    RunTimeline,
    SegmentBuffer,
    archive_file_seconds,
    to_ts,
)
from vms_desktop.engine.segment_stream import SegmentStream

# The first 90 kHz wrap after MOMENT: footage around it has a file that crosses the wrap.
WRAP = math.ceil(to_ts(MOMENT) / TS_WRAP) * TS_WRAP / TS_HZ
STARTS = [MOMENT, WRAP - 7.0]
FILE_LENGTH = 12.0


def _archive(buffer_at: BufferFactory, start: float) -> SegmentBuffer:
    return buffer_at(
        start + 120, retention_seconds=1e9, segment_seconds=2.0, file_seconds=FILE_LENGTH
    )


def _first_picture(data: bytes, near: float) -> tuple[float, int | None, bool]:
    """UTC time, stamp (ms from the file's first picture) and keyframe flag of the first picture."""
    with av.open(io.BytesIO(data), options=DEMUX_OPTIONS) as box:
        video = box.streams.video[0]
        timeline = RunTimeline(near)
        for packet in box.demux(video):
            if packet.pts is None:
                continue
            moment = timeline.resolve(packet.pts)
            for frame in packet.decode():
                return moment, stamp_of(frame), packet.is_keyframe
    raise AssertionError("no picture")


@pytest.mark.parametrize("start", STARTS, ids=["ordinary", "across-the-wrap"])
def test_pieces_share_files_and_each_is_a_stream_of_its_own(
    buffer_at: BufferFactory, camera_file: Path, start: float
) -> None:
    buffer = _archive(buffer_at, start)
    record_file(buffer, camera_file, start)
    files = buffer.segments()
    assert len(files) == math.ceil(FILE_SECONDS / FILE_LENGTH)
    for file in files:
        pieces = buffer.pieces(file)
        assert pieces[0].start == file.start and pieces[0].offset == 0
        assert pieces[-1].end == file.end
        # The pieces tile the file: no byte and no moment left out.
        assert sum(piece.length for piece in pieces) == file.size
        for before, after in itertools.pairwise(pieces):
            assert before.offset + before.length == after.offset
            assert before.end == after.start
        data = file.path.read_bytes()
        for piece in pieces:
            alone = data[piece.offset : piece.offset + piece.length]
            moment, stamp, keyframe = _first_picture(alone, piece.start)
            assert keyframe
            assert moment == pytest.approx(piece.start, abs=1e-3)
            assert stamp == round((piece.start - start) * 1000)
    assert all(file.end - file.start <= FILE_LENGTH + 0.1 for file in files)
    # Sequence numbers run on across files, for live playlists.
    numbers = [piece.sequence for file in files for piece in buffer.pieces(file)]
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))


@pytest.mark.parametrize("start", STARTS, ids=["ordinary", "across-the-wrap"])
def test_a_reader_enters_a_long_file_at_the_piece_holding_its_start(
    buffer_at: BufferFactory, camera_file: Path, start: float
) -> None:
    buffer = _archive(buffer_at, start)
    record_file(buffer, camera_file, start)
    wanted = start + 17.3
    file = buffer.segment_at_or_before(wanted)
    assert file is not None and file.start < wanted - 4
    holding = next(p for p in buffer.pieces(file) if p.start <= wanted < p.end)
    with SegmentStream(buffer, wanted, start + FILE_SECONDS) as stream:
        assert stream.run_start == holding.start
        first = stream.read(holding.length)
    moment, stamp, keyframe = _first_picture(first, stream.run_start)
    assert keyframe and moment == pytest.approx(holding.start, abs=1e-3)
    assert stamp == round((holding.start - start) * 1000)


def test_pieces_are_found_again_after_a_restart(
    buffer_at: BufferFactory, camera_file: Path
) -> None:
    buffer = _archive(buffer_at, MOMENT)
    record_file(buffer, camera_file, MOMENT)
    before = [
        [(p.start, p.end, p.offset, p.length) for p in buffer.pieces(f)] for f in buffer.segments()
    ]
    again = _archive(buffer_at, MOMENT)
    after = [
        [(p.start, p.end, p.offset, p.length) for p in again.pieces(f)] for f in again.segments()
    ]
    assert after == before
    assert all(p.sequence is None for f in again.segments() for p in again.pieces(f))


def test_a_file_left_open_by_a_crash_keeps_its_pieces_and_a_torn_index_tail_is_ignored(
    buffer_at: BufferFactory, camera_file: Path
) -> None:
    buffer = _archive(buffer_at, MOMENT)
    camera = FileCamera(buffer, camera_file, MOMENT)
    camera.record_until(19.0)  # the second file is open, with a few pieces, when "power fails"
    open_file = buffer.segments()[-1]
    assert not open_file.closed
    written = [(p.start, p.offset) for p in buffer.pieces(open_file)]
    with index_path(buffer.directory, open_file.start).open("ab") as index:
        index.write(b"\x01\x02\x03")  # a record cut short
    recovered = _archive(buffer_at, MOMENT)
    files = recovered.segments()
    assert [f.closed for f in files] == [True, True]
    last = files[-1]
    assert last.start == open_file.start
    assert last.end == pytest.approx(MOMENT + 19.0, abs=0.2)
    pieces = recovered.pieces(last)
    # Every piece closed before the crash is listed again; the one being written is too.
    assert [(p.start, p.offset) for p in pieces][: len(written)] == written
    assert pieces[-1].end == last.end
    camera.finish()


def test_a_hole_within_a_session_starts_a_new_file(
    buffer_at: BufferFactory, camera_file: Path
) -> None:
    buffer = _archive(buffer_at, MOMENT)
    camera = FileCamera(buffer, camera_file, MOMENT)
    camera.record_until(6.0)
    camera.start += 30.0  # the camera goes silent for half a minute, then carries on
    camera.record_until(12.0)
    camera.finish()
    files = buffer.segments()
    assert len(files) == 2
    assert files[0].end == pytest.approx(MOMENT + 6.0, abs=0.1)
    assert files[1].start == pytest.approx(MOMENT + 36.0, abs=0.1)
    archive = Archive({"cam01": buffer})
    coverage = archive.coverage("cam01", MOMENT, MOMENT + 60)
    assert len(coverage.ranges) == 2 and len(coverage.gaps) == 2
    assert coverage.gaps[0].start == pytest.approx(MOMENT + 6.0, abs=0.1)
    assert coverage.gaps[0].end == pytest.approx(MOMENT + 36.0, abs=0.1)


def test_media_spans_group_pieces_and_mark_holes(
    buffer_at: BufferFactory, camera_file: Path
) -> None:
    buffer = _archive(buffer_at, MOMENT)
    record_file(buffer, camera_file, MOMENT)
    record_file(buffer, camera_file, MOMENT + 40, seconds=10)
    archive = Archive({"cam01": buffer})
    spans = archive.media_spans("cam01", MOMENT + 3.0, MOMENT + 60)
    assert spans[0].start <= MOMENT + 3.0 < spans[0].end
    assert [s.discontinuity for s in spans].count(True) == 1
    broken = next(s for s in spans if s.discontinuity)
    assert broken.start == pytest.approx(MOMENT + 40, abs=0.1)
    for span in spans:
        assert span.duration <= 8.0
        data = b"".join(archive.read_span("cam01", span.file_key, span.offset, span.length))
        assert len(data) == span.length
        moment, _, keyframe = _first_picture(data, span.start)
        assert keyframe and moment == pytest.approx(span.start, abs=1e-3)
    # Before the hole, every moment is in exactly one span.
    for earlier, later in itertools.pairwise(spans):
        if not later.discontinuity:
            assert earlier.end == pytest.approx(later.start, abs=1e-3)
    live = archive.live_spans("cam01", 4)
    assert len(live) == 4
    numbers = [s.sequence for s in live]
    assert numbers == list(range(numbers[0], numbers[0] + 4))
    assert live[-1].end == pytest.approx(MOMENT + 50, abs=0.1)


def test_file_length_follows_retention() -> None:
    assert archive_file_seconds(600, 2.0) == 30.0
    assert archive_file_seconds(30 * 86400, 2.0) == 600.0
    assert archive_file_seconds(20, 2.0) == 2.0


def test_a_stream_goes_on_past_a_file_cut_shorter_than_recorded(
    buffer_at: BufferFactory, camera_file: Path
) -> None:
    buffer = _archive(buffer_at, MOMENT)
    record_file(buffer, camera_file, MOMENT)
    first = buffer.segments()[0]
    with first.path.open("r+b") as footage:
        footage.truncate(first.size // 2)  # a failing disk lost its second half
    with SegmentStream(buffer, MOMENT, MOMENT + FILE_SECONDS) as stream:
        data = stream.read()  # ends; before, it spun at the cut for ever
    assert len(data) == first.size // 2 + sum(s.size for s in buffer.segments()[1:])
