"""A camera's archive as others read it: continuous ranges and gaps, and byte spans for players.

The buffer stores footage as files of keyframe-aligned pieces (each piece is a complete MPEG-TS
stream of a couple of seconds, with its own tables, so any piece can be the first bytes a
demuxer or an HLS player is given). This module turns those into what the API and the console
ask for: which stretches of a window are recorded (:meth:`Archive.coverage`), and the pieces of
a window grouped into media spans of a few seconds (:meth:`Archive.media_spans`), each naming a
byte range of one file, so a playlist can point at them and a server can send them unchanged.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from vms_desktop.domain.recording import Coverage, TimeRange
from vms_desktop.engine.segment_buffer import GAP_TOLERANCE, Piece, Segment, SegmentBuffer
from vms_desktop.engine.segment_stream import continues

# HLS players fetch a playlist's media segments one by one; about six seconds each is what the
# HLS authors recommend, long enough to keep request overhead small, short enough to seek.
DEFAULT_SPAN_SECONDS = 6.0
# Bytes read from a file per chunk when a span is sent.
_READ_CHUNK = 256 * 1024


@dataclass(frozen=True)
class MediaSpan:
    """Consecutive pieces of one archive file: footage ``[start, end)`` in bytes
    ``[offset, offset + length)`` of the file that began at ``file_key`` (its start in ms).

    ``discontinuity`` is True when the span does not carry on the one before it in the same
    answer (a hole in the footage or a new recording run): a player must reset its decoder.
    ``sequence`` numbers the live pieces of this process (None for older footage).
    """

    camera_id: str
    file_key: int
    start: float
    end: float
    offset: int
    length: int
    discontinuity: bool = False
    sequence: int | None = None

    @property
    def duration(self) -> float:
        """Seconds of footage in the span."""
        return max(0.0, self.end - self.start)


class Archive:
    """Read-only views of every camera's archive (thread-safe; each call is a short scan)."""

    def __init__(self, buffers: Mapping[str, SegmentBuffer]) -> None:
        self._buffers = buffers

    def camera_ids(self) -> list[str]:
        """Cameras with an archive, sorted."""
        return sorted(self._buffers)

    def _buffer(self, camera_id: str) -> SegmentBuffer:
        try:
            return self._buffers[camera_id]
        except KeyError:
            raise KeyError(camera_id) from None

    def coverage(self, camera_id: str, start: float, end: float) -> Coverage:
        """Continuous ranges and gaps of ``[start, end]`` (KeyError for an unknown camera)."""
        buffer = self._buffer(camera_id)
        until = min(end, buffer.clock.now())
        ranges: list[TimeRange] = []
        previous: Segment | None = None
        for segment in buffer.covering(start, end):
            low, high = max(start, segment.start), min(end, segment.end)
            if high <= low:
                continue
            if previous is not None and ranges and continues(previous, segment):
                ranges[-1] = TimeRange(ranges[-1].start, high)
            else:
                ranges.append(TimeRange(low, high))
            previous = segment
        gaps: list[TimeRange] = []
        cursor = start
        for part in ranges:
            if part.start - cursor > GAP_TOLERANCE:
                gaps.append(TimeRange(cursor, min(part.start, until)))
            cursor = max(cursor, part.end)
        if until - cursor > GAP_TOLERANCE:
            gaps.append(TimeRange(cursor, until))
        return Coverage(camera_id, start, end, until, tuple(ranges), tuple(gaps))

    def media_spans(
        self,
        camera_id: str,
        start: float,
        end: float,
        *,
        target_seconds: float = DEFAULT_SPAN_SECONDS,
    ) -> list[MediaSpan]:
        """Spans of about ``target_seconds`` covering ``[start, end]``, oldest first.

        The first span begins at the keyframe at or before ``start``; only complete pieces are
        given (the piece being recorded right now is not). A span never crosses a file.
        """
        buffer = self._buffer(camera_id)
        spans: list[MediaSpan] = []
        previous: Segment | None = None
        for segment in buffer.covering(start, end):
            pieces = [p for p in buffer.pieces(segment) if p.end > start and p.start < end]
            if not pieces:
                continue
            broken = previous is None or not continues(previous, segment)
            breaks = bool(spans) and broken
            spans.extend(_group(camera_id, segment, pieces, target_seconds, first_breaks=breaks))
            previous = segment
        return spans

    def live_spans(self, camera_id: str, count: int) -> list[MediaSpan]:
        """The newest ``count`` complete pieces recorded by this process, one span each."""
        buffer = self._buffer(camera_id)
        found: list[tuple[Segment, Piece]] = []
        for segment in reversed(buffer.segments()):
            pieces = [p for p in buffer.pieces(segment) if p.sequence is not None]
            if not pieces and not segment.closed and not found:
                continue  # the file being written has no complete piece yet
            found[:0] = [(segment, piece) for piece in pieces]
            if len(found) >= count or not pieces:
                break
        found = found[-count:]
        spans: list[MediaSpan] = []
        for index, (segment, piece) in enumerate(found):
            broken = index > 0 and (
                found[index - 1][0] is not segment and not continues(found[index - 1][0], segment)
            )
            spans.append(_span(camera_id, segment, [piece], broken, piece.sequence))
        return spans

    def file_path(self, camera_id: str, file_key: int) -> Path | None:
        """Where the file that began at ``file_key`` (ms) is now, or None once it is gone."""
        return self._buffer(camera_id).file_path(file_key)

    def read_span(self, camera_id: str, file_key: int, offset: int, length: int) -> Iterator[bytes]:
        """The bytes of a span, in chunks (raises FileNotFoundError once its file is gone).

        The file is opened at once, so a span that was listed can be sent whole even if the
        file is pruned while it is being read.
        """
        path = self.file_path(camera_id, file_key)
        if path is None:
            raise FileNotFoundError(f"footage at {file_key} is no longer archived")
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            # Renamed when it was closed, between the lookup and the open.
            path = self.file_path(camera_id, file_key)
            if path is None:
                raise
            fd = os.open(path, os.O_RDONLY)
        return _read_range(fd, offset, length)


def _read_range(fd: int, offset: int, length: int) -> Iterator[bytes]:
    try:
        remaining = length
        position = offset
        while remaining > 0:
            chunk = os.pread(fd, min(_READ_CHUNK, remaining), position)
            if not chunk:
                break
            position += len(chunk)
            remaining -= len(chunk)
            yield chunk
    finally:
        os.close(fd)


def _group(
    camera_id: str,
    segment: Segment,
    pieces: list[Piece],
    target_seconds: float,
    *,
    first_breaks: bool,
) -> Iterator[MediaSpan]:
    group: list[Piece] = []
    breaks = first_breaks
    for piece in pieces:
        group.append(piece)
        if group[-1].end - group[0].start >= target_seconds * 0.95:
            yield _span(camera_id, segment, group, breaks, None)
            group, breaks = [], False
    if group:
        yield _span(camera_id, segment, group, breaks, None)


def _span(
    camera_id: str,
    segment: Segment,
    pieces: list[Piece],
    discontinuity: bool,
    sequence: int | None,
) -> MediaSpan:
    first, last = pieces[0], pieces[-1]
    return MediaSpan(
        camera_id=camera_id,
        file_key=round(segment.start * 1000),
        start=first.start,
        end=last.end,
        offset=first.offset,
        length=last.offset + last.length - first.offset,
        discontinuity=discontinuity,
        sequence=sequence,
    )
