"""Recording into a camera's archive: packets muxed, without decoding, into keyframe-aligned pieces.

Each piece gets a muxer of its own, so it is a complete MPEG-TS stream (tables first) that a
reader can start at; pieces of one continuous stretch share a footage file, whose descriptor
outlives them (the buffer decides when a piece starts a new file: a hole, a step back in time,
or the file's length reached).
"""

from __future__ import annotations

import io
import logging
import os
from typing import TYPE_CHECKING, Any

import av

from vms_desktop.engine.archive_files import IndexWriter, PieceStart, index_path
from vms_desktop.engine.segment_buffer import TS_TIME_BASE, Segment, to_ts

if TYPE_CHECKING:
    from vms_desktop.engine.segment_buffer import SegmentBuffer

log = logging.getLogger(__name__)


class _SegmentFile(io.RawIOBase):
    """Write side of an open footage file: counts bytes and wakes readers after every write.

    One per piece (each piece has its own muxer); the file descriptor belongs to the writer
    and outlives them.
    """

    def __init__(self, buffer: SegmentBuffer, segment: Segment, fd: int) -> None:
        super().__init__()
        self._buffer = buffer
        self._segment = segment
        self._fd = fd

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data)
        written = 0
        while written < len(view):
            written += os.write(self._fd, view[written:])
        self._buffer._grew(self._segment, written)
        return written


class SegmentWriter:
    """Muxes one camera's packets into keyframe-aligned pieces and files of a buffer.

    Used by exactly one thread (the camera's worker). Call :meth:`start` with the source's
    streams after each (re)connect, :meth:`write` for every packet with its UTC times, and
    :meth:`finish` when the connection ends so the open file is closed and a gap recorded.
    """

    def __init__(self, buffer: SegmentBuffer) -> None:
        self._buffer = buffer
        self._video: Any = None
        self._audio: Any = None
        self._out: Any = None
        self._out_video: Any = None
        self._out_audio: Any = None
        self._segment: Segment | None = None
        self._fd = -1
        self._index: IndexWriter | None = None
        self._piece_start = 0.0
        self._session = 0
        self._last_time = 0.0
        self._frame_seconds = 0.0

    def start(self, video_stream: Any, audio_stream: Any | None) -> None:
        """Begin a new recording session with these input streams (closes any open file)."""
        self.finish()
        self._session = self._buffer._new_session()
        self._video = video_stream
        if audio_stream is not None and not audio_stream.codec_context.sample_rate:
            # The muxer cannot describe audio whose parameters the probe never saw.
            log.warning(
                "camera %s: audio parameters unknown, recording video only",
                self._buffer.camera_id,
            )
            audio_stream = None
        self._audio = audio_stream
        rate = video_stream.average_rate or video_stream.guessed_rate
        self._frame_seconds = float(1 / rate) if rate else 1 / 15

    def write(self, packet: Any, pts_time: float, dts_time: float) -> None:
        """Store one packet whose presentation/decoding times are the given UTC seconds."""
        is_video = packet.stream is self._video
        if is_video and packet.is_keyframe and self._should_cut(pts_time):
            self._cut(pts_time)
        if self._out is None:
            return  # nothing is recorded until the first video keyframe of a session
        target = self._out_video if is_video else self._out_audio
        if target is None:
            return
        packet.pts = to_ts(pts_time)
        packet.dts = to_ts(dts_time)
        packet.time_base = TS_TIME_BASE
        packet.stream = target
        self._out.mux(packet)
        assert self._segment is not None
        self._segment.packets += 1
        if is_video:
            self._last_time = max(self._last_time, pts_time)
            self._buffer._extend(self._segment, self._last_time + self._frame_seconds)

    def finish(self) -> None:
        """Close the open file, if any; the next packets start a new one on a keyframe."""
        self._close_piece()
        if self._index is not None:
            self._index.close()
            self._index = None
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        if self._segment is not None:
            self._buffer._close(self._segment)
            self._segment = None

    def _close_piece(self) -> None:
        if self._out is not None:
            try:
                self._out.close()
            except (av.FFmpegError, OSError) as exc:
                log.warning("closing a footage piece failed: %s", exc)
            self._out = None
            if self._segment is not None:
                self._buffer._piece_closed(self._segment)

    def _should_cut(self, pts_time: float) -> bool:
        if self._segment is None:
            return True
        # Cut at the first keyframe near the target length; timestamps jitter a little, so a
        # keyframe a few frames early still counts.
        return pts_time - self._piece_start >= self._buffer.segment_seconds * 0.75

    def _cut(self, start: float) -> None:
        self._close_piece()
        segment = self._segment
        if segment is not None and self._buffer._carries_on(segment, start):
            self._buffer._new_piece(segment, start, self._index)
        else:
            self.finish()
            segment, self._fd = self._buffer._open(start, self._session)
            if self._buffer.file_seconds > self._buffer.segment_seconds:
                # A file of one piece needs no index: it is read from its start.
                self._index = IndexWriter(index_path(self._buffer.directory, start))
                self._index.append(PieceStart(start, 0))
            self._segment = segment
        sink = _SegmentFile(self._buffer, segment, self._fd)
        # mpegts_copyts keeps our UTC timestamps as given (the muxer would otherwise add 1.4 s);
        # flush_packets hands every packet to the file at once so live readers see it.
        out = av.open(
            sink, "w", format="mpegts", options={"mpegts_copyts": "1", "flush_packets": "1"}
        )
        self._out_video = out.add_stream_from_template(self._video)
        self._out_audio = (
            out.add_stream_from_template(self._audio) if self._audio is not None else None
        )
        self._out = out
        self._piece_start = start
