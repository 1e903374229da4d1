"""One camera's rolling buffer: keyframe-aligned MPEG-TS segments on disk, with UTC times.

Packets are copied without decoding into segments of about ``segment_seconds``, each starting on a
video keyframe. MPEG-TS survives a crash (a cut-off file is still readable up to its last packet),
and consecutive segments concatenate into one valid byte stream, so a clip reader opens one
demuxer over a run of segments instead of paying an open per segment.

Every packet's PTS/DTS is its UTC time in 90 kHz units (written modulo 2**33 by the muxer), so the
files themselves say when each picture was seen; a segment's name gives its start (and, once
closed, its end) in milliseconds, so the index is rebuilt from a directory listing at start-up.
The 33-bit timestamps wrap every 26.5 hours, so they are only ever resolved within one run of
continuous footage, against that run's known UTC start (:class:`RunTimeline`); a reader never
hands one demuxer bytes from both sides of a hole or of a reconnect (``segment_stream``).
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import os
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from vms_desktop.engine.clock import SYSTEM_CLOCK, WallClock

log = logging.getLogger(__name__)

TS_HZ = 90_000
TS_WRAP = 1 << 33
TS_TIME_BASE = Fraction(1, TS_HZ)
# A hole shorter than this between segments is jitter, not missing footage.
GAP_TOLERANCE = 0.5

_CLOSED_NAME = re.compile(r"^(\d{13})_(\d{13})\.ts$")
_OPEN_NAME = re.compile(r"^(\d{13})\.open\.ts$")


def to_ts(seconds: float) -> int:
    """UTC seconds as an (unwrapped) 90 kHz timestamp."""
    return round(seconds * TS_HZ)


def from_ts(ts: int, near: float) -> float:
    """UTC seconds for a 90 kHz timestamp, choosing the wrap closest to ``near``.

    Only ``ts`` modulo 2**33 counts, so a demuxer's own unwrapping (adding or subtracting whole
    cycles) changes nothing; ``near`` must lie within half a cycle (13.2 h) of the answer.
    """
    base = to_ts(near)
    diff = (ts - base) % TS_WRAP
    if diff >= TS_WRAP // 2:
        diff -= TS_WRAP
    return (base + diff) / TS_HZ


class RunTimeline:
    """UTC seconds for the timestamps of one run of continuous footage, read in order.

    The reference starts at the run's known UTC start and follows every resolved time, so a run
    of any length resolves exactly: consecutive timestamps of a run are always far closer than
    half the 33-bit cycle.
    """

    def __init__(self, start: float) -> None:
        self._near = start

    def resolve(self, ts: int) -> float:
        """UTC seconds of ``ts``, the next timestamp read from this run."""
        moment = from_ts(ts, self._near)
        self._near = moment
        return moment


# Options for a demuxer over buffered MPEG-TS. FFmpeg's wrap correction guesses from the first
# timestamps it sees; RunTimeline is exact and ignores whole cycles, so the guess is turned off
# rather than left to matter some day.
DEMUX_OPTIONS = {"correct_ts_overflow": "0"}


@dataclass
class Segment:
    """A stretch of one camera's footage in one file, ``[start, end)`` in UTC seconds."""

    start: float
    end: float
    path: Path
    size: int = 0
    closed: bool = True
    # Total packets; only known for segments written by this process.
    packets: int = 0
    # The recording session (one connection of the camera) that wrote it; 0 when unknown
    # (found on disk at start-up).
    session: int = 0
    # Counts the segments this process recorded (None for segments found on disk).
    sequence: int | None = None

    @property
    def duration(self) -> float:
        """Seconds of footage the segment covers."""
        return max(0.0, self.end - self.start)


@dataclass(frozen=True)
class Piece:
    """A keyframe-aligned stretch of one file, a complete MPEG-TS stream of its own.

    Footage ``[start, end)`` in bytes ``[offset, offset + length)`` of its file; ``sequence``
    counts the pieces this process recorded (None for pieces found on disk).
    """

    start: float
    end: float
    offset: int
    length: int
    sequence: int | None = None


@dataclass(frozen=True)
class Gap:
    """A stretch of a requested window with no footage, in UTC seconds."""

    start: float
    end: float

    @property
    def duration(self) -> float:
        """Length of the gap in seconds."""
        return self.end - self.start


class _SegmentFile(io.RawIOBase):
    """Write side of an open segment: counts bytes and wakes readers after every write."""

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

    def close(self) -> None:
        if not self.closed:
            os.close(self._fd)
        super().close()


class SegmentWriter:
    """Muxes one camera's packets into keyframe-aligned segments of a :class:`SegmentBuffer`.

    Used by exactly one thread (the camera's worker). Call :meth:`start` with the source's
    streams after each (re)connect, :meth:`write` for every packet with its UTC times, and
    :meth:`finish` when the connection ends so the open segment is closed and a gap recorded.
    """

    def __init__(self, buffer: SegmentBuffer) -> None:
        self._buffer = buffer
        self._video: Any = None
        self._audio: Any = None
        self._out: Any = None
        self._out_video: Any = None
        self._out_audio: Any = None
        self._segment: Segment | None = None
        self._session = 0
        self._last_time = 0.0
        self._frame_seconds = 0.0

    def start(self, video_stream: Any, audio_stream: Any | None) -> None:
        """Begin a new recording session with these input streams (closes any open segment)."""
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
        """Close the open segment, if any; the next packets start a new one on a keyframe."""
        if self._out is not None:
            try:
                self._out.close()
            except (av.FFmpegError, OSError) as exc:
                log.warning("closing a buffer segment failed: %s", exc)
            self._out = None
        if self._segment is not None:
            self._buffer._close(self._segment)
            self._segment = None

    def _should_cut(self, pts_time: float) -> bool:
        if self._segment is None:
            return True
        # Cut at the first keyframe near the target length; timestamps jitter a little, so a
        # keyframe a few frames early still counts.
        return pts_time - self._segment.start >= self._buffer.segment_seconds * 0.75

    def _cut(self, start: float) -> None:
        self.finish()
        segment, fd = self._buffer._open(start, self._session)
        sink = _SegmentFile(self._buffer, segment, fd)
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
        self._segment = segment


class SegmentBuffer:
    """One camera's segments on disk, kept for ``retention_seconds`` and ``max_bytes``.

    Thread-safe: one writer (the camera worker) and any number of readers (clip builders).
    Segments are removed oldest first once they are older than the retention time or the
    buffer is over its size, except segments a reader still has pinned and segments overlapping
    a protected span (kept whatever their age, and not counted in the size).
    """

    def __init__(
        self,
        root: Path,
        camera_id: str,
        *,
        retention_seconds: float = 600.0,
        max_bytes: int = 2 << 30,
        segment_seconds: float = 2.0,
        clock: WallClock = SYSTEM_CLOCK,
        protected: Mapping[str, tuple[float, float]] | None = None,
    ) -> None:
        self.camera_id = camera_id
        self.directory = root / camera_id
        self.retention_seconds = retention_seconds
        self.max_bytes = max_bytes
        self.segment_seconds = segment_seconds
        self.clock = clock
        self.changed = threading.Condition()
        self._segments: list[Segment] = []
        self._pins: dict[int, float] = {}
        self._next_pin = 0
        # Spans (UTC seconds) whose footage is kept until released, by their holder's key.
        # Given here, not later: loading the folder prunes, and must spare these already.
        self._protected: dict[str, tuple[float, float]] = dict(protected or {})
        self._sessions = 0
        self._sequence = 0
        # End of the newest footage ever removed; footage before a restart's oldest counts too.
        self._evicted_until = -math.inf
        # Called after every prune, so a guard shared by all cameras watches the free space.
        self.space_check: Callable[[], object] | None = None
        self.directory.mkdir(parents=True, exist_ok=True)
        self._load()
        if self._segments:
            self._evicted_until = max(self._evicted_until, self._segments[0].start)

    # ---- queries -------------------------------------------------------------------------

    def segments(self) -> list[Segment]:
        """A snapshot of all segments, oldest first."""
        with self.changed:
            return list(self._segments)

    def covering(self, start: float, end: float) -> list[Segment]:
        """Segments that overlap ``[start, end]``, oldest first."""
        with self.changed:
            return [s for s in self._segments if s.end > start and s.start < end]

    def segment_at_or_before(self, moment: float) -> Segment | None:
        """The latest segment starting at or before ``moment`` (its keyframe precedes it)."""
        with self.changed:
            found = None
            for segment in self._segments:
                if segment.start <= moment + 1e-6:
                    found = segment
                else:
                    break
            return found

    def segment_after(self, segment: Segment) -> Segment | None:
        """The segment that follows ``segment`` in time, if one exists yet."""
        with self.changed:
            for candidate in self._segments:
                if candidate.start > segment.start:
                    return candidate
            return None

    def pieces(self, segment: Segment) -> list[Piece]:
        """The complete pieces of ``segment``'s file, oldest first (not the one being written)."""
        with self.changed:
            if not segment.closed or segment.size == 0:
                return []
            return [Piece(segment.start, segment.end, 0, segment.size, segment.sequence)]

    def file_path(self, file_key: int) -> Path | None:
        """Current path of the file that began at ``file_key`` ms, or None once it is gone."""
        with self.changed:
            for segment in self._segments:
                if round(segment.start * 1000) == file_key:
                    return segment.path
            return None

    def gaps(self, start: float, end: float, *, until: float | None = None) -> list[Gap]:
        """Stretches of ``[start, end]`` that no segment covers.

        Footage is only expected up to ``until`` (default: now), so a window that reaches into
        the future reports no gap for the part that has not happened yet.
        """
        limit = min(end, self.clock.now() if until is None else until)
        holes: list[Gap] = []
        cursor = start
        for segment in self.covering(start, limit):
            if segment.start - cursor > GAP_TOLERANCE:
                holes.append(Gap(cursor, min(segment.start, limit)))
            cursor = max(cursor, segment.end)
        if limit - cursor > GAP_TOLERANCE:
            holes.append(Gap(cursor, limit))
        return holes

    @property
    def oldest(self) -> float | None:
        """UTC start of the oldest footage, or None when empty."""
        with self.changed:
            return self._segments[0].start if self._segments else None

    @property
    def newest(self) -> float | None:
        """UTC end of the newest footage, or None when empty."""
        with self.changed:
            return self._segments[-1].end if self._segments else None

    @property
    def size_bytes(self) -> int:
        """Bytes on disk."""
        with self.changed:
            return sum(s.size for s in self._segments)

    def is_recording(self) -> bool:
        """True while a segment is open for writing."""
        with self.changed:
            return bool(self._segments) and not self._segments[-1].closed

    # ---- readers' pins -------------------------------------------------------------------

    def pin(self, start: float) -> int:
        """Keep segments from ``start`` on from being pruned until :meth:`unpin`."""
        with self.changed:
            self._next_pin += 1
            self._pins[self._next_pin] = start
            return self._next_pin

    def move_pin(self, token: int, start: float) -> None:
        """Advance a pin as its reader moves forward."""
        with self.changed:
            if token in self._pins:
                self._pins[token] = start

    def unpin(self, token: int) -> None:
        """Release a pin."""
        with self.changed:
            self._pins.pop(token, None)

    # ---- protected spans -----------------------------------------------------------------

    def protect(self, key: str, start: float, end: float) -> None:
        """Keep every segment overlapping ``[start, end]`` until :meth:`release` of ``key``.

        Unlike a pin, which holds everything after its start for a reader moving forward, a
        span holds only its own footage, so the buffer goes on rolling around it.
        """
        with self.changed:
            self._protected[key] = (start, max(start, end))

    def release(self, key: str) -> None:
        """Stop protecting the span held under ``key`` (its footage ages out as usual)."""
        with self.changed:
            self._protected.pop(key, None)

    def protected_spans(self) -> dict[str, tuple[float, float]]:
        """The spans protected now, by key."""
        with self.changed:
            return dict(self._protected)

    def keeps(self, start: float, end: float) -> bool:
        """True when ``[start, end]`` lies inside one protected span (its footage stays)."""
        with self.changed:
            return any(low <= start and end <= high for low, high in self._protected.values())

    def _is_protected(self, segment: Segment) -> bool:
        return any(
            segment.end > start and segment.start <= end for start, end in self._protected.values()
        )

    # ---- maintenance ---------------------------------------------------------------------

    def prune(self) -> list[Segment]:
        """Delete closed segments beyond retention or size, oldest first; returns them."""
        removed: list[Segment] = []
        with self.changed:
            horizon = self.clock.now() - self.retention_seconds
            pinned = min(self._pins.values(), default=math.inf)
            total = sum(s.size for s in self._segments if not self._is_protected(s))
            index = 0
            while index < len(self._segments):
                oldest = self._segments[index]
                if not oldest.closed or oldest.end > pinned:
                    break
                if self._is_protected(oldest):
                    index += 1
                    continue
                if oldest.end >= horizon and total <= self.max_bytes:
                    break
                self._segments.pop(index)
                total -= oldest.size
                removed.append(oldest)
                self._evicted_until = max(self._evicted_until, oldest.end)
        for segment in removed:
            with contextlib.suppress(FileNotFoundError):
                segment.path.unlink()
        if self.space_check is not None:
            self.space_check()
        return removed

    @property
    def evicted_until(self) -> float:
        """UTC end of the newest footage removed so far (-inf when none was).

        Footage of a window starting at or after it is still complete in the buffer.
        """
        with self.changed:
            return self._evicted_until

    def recent_segment_bytes(self, count: int = 3) -> int:
        """Size of the largest of the newest ``count`` closed segments (0 when none)."""
        with self.changed:
            return max((s.size for s in self._segments[-count:] if s.closed), default=0)

    def evictable(self) -> Segment | None:
        """The oldest segment that may be removed to free space (closed, unpinned,
        unprotected), or None.
        """
        with self.changed:
            pinned = min(self._pins.values(), default=math.inf)
            for oldest in self._segments:
                if not oldest.closed or oldest.end > pinned:
                    return None
                if not self._is_protected(oldest):
                    return oldest
            return None

    def evict(self, segment: Segment) -> bool:
        """Remove ``segment`` at once if it is still :meth:`evictable`; True if it was.

        Used when the file system runs short of space, whatever the retention and size say.
        """
        with self.changed:
            if self.evictable() is not segment:
                return False
            # By identity: the guard picked this very segment.
            self._segments.pop(next(i for i, s in enumerate(self._segments) if s is segment))
            self._evicted_until = max(self._evicted_until, segment.end)
        with contextlib.suppress(FileNotFoundError):
            segment.path.unlink()
        return True

    # ---- writer side (SegmentWriter) -----------------------------------------------------

    def _new_session(self) -> int:
        with self.changed:
            self._sessions += 1
            return self._sessions

    def _open(self, start: float, session: int) -> tuple[Segment, int]:
        millis = round(start * 1000)
        path = self.directory / f"{millis:013d}.open.ts"
        # Created before it is listed, so a reader never finds a listed segment missing.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        with self.changed:
            if self._segments and self._segments[-1].end > start:
                # A restarted source can produce a time the last segment already covers;
                # clamp so segments never overlap.
                self._segments[-1].end = start
            self._sequence += 1
            segment = Segment(
                start=start,
                end=start,
                path=path,
                closed=False,
                session=session,
                sequence=self._sequence,
            )
            self._segments.append(segment)
            self.changed.notify_all()
        return segment, fd

    def _grew(self, segment: Segment, count: int) -> None:
        with self.changed:
            segment.size += count
            self.changed.notify_all()

    def _extend(self, segment: Segment, end: float) -> None:
        with self.changed:
            segment.end = max(segment.end, end)

    def _close(self, segment: Segment) -> None:
        final = self.directory / (
            f"{round(segment.start * 1000):013d}_{round(segment.end * 1000):013d}.ts"
        )
        with self.changed:
            # Renamed under the lock so a reader never sees the old name gone and the new one
            # not yet recorded.
            try:
                if segment.packets == 0:
                    segment.path.unlink()
                    self._segments.remove(segment)
                else:
                    os.replace(segment.path, final)
                    segment.path = final
            except (OSError, ValueError) as exc:
                log.warning("finalising buffer segment failed: %s", exc)
            segment.closed = True
            self.changed.notify_all()
        self.prune()

    # ---- start-up ------------------------------------------------------------------------

    def _load(self) -> None:
        found: list[Segment] = []
        for entry in sorted(self.directory.iterdir()):
            closed = _CLOSED_NAME.match(entry.name)
            if closed:
                found.append(
                    Segment(
                        start=int(closed.group(1)) / 1000,
                        end=int(closed.group(2)) / 1000,
                        path=entry,
                        size=entry.stat().st_size,
                    )
                )
                continue
            if _OPEN_NAME.match(entry.name):
                recovered = _recover(entry)
                if recovered is not None:
                    found.append(recovered)
                continue
            if entry.name.endswith(".tmp"):
                entry.unlink(missing_ok=True)
        found.sort(key=lambda s: s.start)
        self._segments = found
        self.prune()


def _recover(path: Path) -> Segment | None:
    """Close a segment left open by a crash: find its last packet time and rename it."""
    start = int(path.name.split(".")[0]) / 1000
    end = start
    try:
        with av.open(str(path), options=DEMUX_OPTIONS) as container:
            video = container.streams.video[0]
            timeline = RunTimeline(start)
            for packet in container.demux(video):
                if packet.pts is not None:
                    shown = float((packet.duration or 0) * packet.time_base)
                    end = max(end, timeline.resolve(packet.pts) + shown)
    except (av.FFmpegError, IndexError, OSError):
        pass  # a torn tail ends the file where it stops making sense
    if end <= start:
        path.unlink(missing_ok=True)
        return None
    final = path.with_name(f"{round(start * 1000):013d}_{round(end * 1000):013d}.ts")
    os.replace(path, final)
    log.info("recovered buffer segment %s after an unclean stop", final.name)
    return Segment(start=start, end=end, path=final, size=final.stat().st_size)
