"""One camera's archive: footage files of keyframe-aligned MPEG-TS pieces on disk, with UTC times.

Packets are copied without decoding into pieces of about ``segment_seconds``, each starting on a
video keyframe and muxed as a stream of its own; consecutive pieces of one continuous stretch go
into one file of up to ``file_seconds`` (a :class:`Segment`; layout in ``archive_files``).
MPEG-TS survives a crash (a cut-off file is still readable up to its last packet), and
consecutive pieces and files concatenate into one valid byte stream, so a reader opens one
demuxer over a run of footage instead of paying an open per piece.

Every packet's PTS/DTS is its UTC time in 90 kHz units (written modulo 2**33 by the muxer), so the
files themselves say when each picture was seen; a file's name gives its start (and, once
closed, its end) in milliseconds, so the index is rebuilt from a directory listing at start-up.
The 33-bit timestamps wrap every 26.5 hours, so they are only ever resolved within one run of
continuous footage, against that run's known UTC start (:class:`RunTimeline`); a reader never
hands one demuxer bytes from both sides of a hole or of a reconnect (``segment_stream``).
"""

from __future__ import annotations

import bisect
import contextlib
import logging
import math
import os
import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from vms_desktop.engine.archive_files import (
    IndexWriter,
    PieceStart,
    closed_name,
    index_path,
    millis,
    open_name,
    read_index,
    scan,
)
from vms_desktop.engine.clock import SYSTEM_CLOCK, WallClock

log = logging.getLogger(__name__)

TS_HZ = 90_000
TS_WRAP = 1 << 33
TS_TIME_BASE = Fraction(1, TS_HZ)
# A hole shorter than this between segments is jitter, not missing footage.
GAP_TOLERANCE = 0.5
# The longest a footage file grows; a month of sixteen cameras is then about 70,000 files.
MAX_FILE_SECONDS = 600.0


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


def archive_file_seconds(retention_seconds: float, segment_seconds: float) -> float:
    """How long footage files grow for a given retention: a twentieth of it, so pruning stays
    within 5 % of the retention, from one piece up to :data:`MAX_FILE_SECONDS`.
    """
    return max(segment_seconds, min(MAX_FILE_SECONDS, retention_seconds / 20))


@dataclass(slots=True)
class Segment:
    """One footage file: a continuous stretch of one camera's footage, ``[start, end)`` in UTC
    seconds, made of one or more pieces (see ``archive_files``).
    """

    start: float
    end: float
    # Kept apart and joined when asked for: building a Path per file made start-up slow.
    folder: Path
    name: str
    size: int = 0
    closed: bool = True
    # Total packets; only known for segments written by this process.
    packets: int = 0
    # The recording session (one connection of the camera) that wrote it; 0 when unknown
    # (found on disk at start-up).
    session: int = 0
    # Sequence number of the file's first piece among the pieces this process recorded (None
    # for files found on disk); its later pieces follow on.
    sequence: int | None = None
    # Where each piece begins while the file is being written (None: read the index file).
    starts: list[PieceStart] | None = None

    @property
    def path(self) -> Path:
        """Where the file is now (its name changes once, when it is closed)."""
        return self.folder / self.name

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


class SegmentBuffer:
    """One camera's footage files on disk, kept for ``retention_seconds`` and ``max_bytes``.

    Thread-safe: one writer (the camera worker) and any number of readers (clip builders,
    players, playlists). Files are removed oldest first once they are older than the retention
    time or the buffer is over its size, except files a reader still has pinned and files
    overlapping a protected span (kept whatever their age, and not counted in the size).
    A file grows to ``file_seconds`` (default: one piece per file).
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
        file_seconds: float | None = None,
    ) -> None:
        self.camera_id = camera_id
        self.directory = root / camera_id
        self.retention_seconds = retention_seconds
        self.max_bytes = max_bytes
        self.segment_seconds = segment_seconds
        self.file_seconds = max(segment_seconds, file_seconds or segment_seconds)
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
        # Sizes of the newest pieces written, to foresee what the next seconds need on disk.
        self._recent_pieces: deque[int] = deque(maxlen=3)
        # Set when space is short and only the file being written could give some.
        self._split_file = False
        # The newest closed file, whose piece starts are still held in memory.
        self._newest_closed: Segment | None = None
        # Bytes of every file, kept up to date rather than summed over a month of files.
        self._bytes = 0
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
            segments = self._segments
            # Files never overlap and are sorted by start, so their ends are sorted too.
            low = bisect.bisect_right(segments, start, key=_end_of)
            high = bisect.bisect_left(segments, end, lo=low, key=_start_of)
            return segments[low:high]

    def segment_at_or_before(self, moment: float) -> Segment | None:
        """The latest segment starting at or before ``moment`` (its keyframe precedes it)."""
        with self.changed:
            index = bisect.bisect_right(self._segments, moment + 1e-6, key=_start_of)
            return self._segments[index - 1] if index else None

    def segment_after(self, segment: Segment) -> Segment | None:
        """The segment that follows ``segment`` in time, if one exists yet."""
        with self.changed:
            index = bisect.bisect_right(self._segments, segment.start, key=_start_of)
            return self._segments[index] if index < len(self._segments) else None

    def pieces(self, segment: Segment) -> list[Piece]:
        """The complete pieces of ``segment``'s file, oldest first (not the one being written)."""
        with self.changed:
            starts = list(segment.starts) if segment.starts is not None else None
            size, end, closed, first = segment.size, segment.end, segment.closed, segment.sequence
        if starts is None:
            starts = read_index(index_path(self.directory, segment.start), size)
            if not starts or starts[0].offset != 0:
                starts = [PieceStart(segment.start, 0)]  # no index: the file is one piece
            # The index keeps microseconds, the file list its own figure: the first piece
            # begins exactly where its file does.
            starts[0] = PieceStart(segment.start, 0)
        found: list[Piece] = []
        for number, piece in enumerate(starts):
            last = number == len(starts) - 1
            if last and not closed:
                break  # still being written
            stop = size if last else starts[number + 1].offset
            until = end if last else starts[number + 1].time
            if stop <= piece.offset:
                continue
            sequence = None if first is None else first + number
            found.append(Piece(piece.time, until, piece.offset, stop - piece.offset, sequence))
        return found

    def seek_point(self, segment: Segment, moment: float) -> PieceStart:
        """Where a reader wanting ``moment`` starts in ``segment``'s file: the start of the piece
        holding it (the piece being written included).
        """
        with self.changed:
            starts = list(segment.starts) if segment.starts is not None else None
            size = segment.size
        if starts is None:
            starts = read_index(index_path(self.directory, segment.start), size)
        best = PieceStart(segment.start, 0)
        for piece in starts:
            if piece.time > moment + 1e-6:
                break
            best = piece
        return best

    def file_path(self, file_key: int) -> Path | None:
        """Current path of the file that began at ``file_key`` ms, or None once it is gone."""
        with self.changed:
            index = bisect.bisect_left(self._segments, file_key, key=_key_of)
            if index < len(self._segments) and _key_of(self._segments[index]) == file_key:
                return self._segments[index].path
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
            return self._bytes

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

    def _protected_bytes(self) -> int:
        """Bytes of the files under protected spans (each counted once); the lock is held."""
        held: dict[int, int] = {}
        segments = self._segments
        for low, high in self._protected.values():
            first = bisect.bisect_right(segments, low, key=_end_of)
            for segment in segments[first:]:
                if segment.start > high:
                    break
                held[id(segment)] = segment.size
        return sum(held.values())

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
            total = self._bytes - self._protected_bytes()
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
                self._bytes -= oldest.size
                removed.append(oldest)
                self._evicted_until = max(self._evicted_until, oldest.end)
        for segment in removed:
            self._unlink(segment)
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

    def recent_segment_bytes(self) -> int:
        """Size of the largest of the newest pieces written (0 when none yet)."""
        with self.changed:
            return max(self._recent_pieces, default=0)

    def evictable(self) -> Segment | None:
        """The oldest segment that may be removed to free space (closed, unpinned,
        unprotected), or None.
        """
        with self.changed:
            pinned = min(self._pins.values(), default=math.inf)
            for oldest in self._segments:
                if not oldest.closed and oldest.end <= pinned and not self._is_protected(oldest):
                    # Only the file being written is left to give: it ends at its next
                    # piece, so its footage so far can go then (a long file would otherwise
                    # hold minutes of it out of reach of a full disk).
                    self._split_file = True
                    return None
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
            self._bytes -= segment.size
            self._evicted_until = max(self._evicted_until, segment.end)
        self._unlink(segment)
        return True

    def _unlink(self, segment: Segment) -> None:
        with contextlib.suppress(FileNotFoundError):
            segment.path.unlink()
        with contextlib.suppress(FileNotFoundError):
            index_path(self.directory, segment.start).unlink()

    # ---- writer side (SegmentWriter) -----------------------------------------------------

    def _new_session(self) -> int:
        with self.changed:
            self._sessions += 1
            return self._sessions

    def _open(self, start: float, session: int) -> tuple[Segment, int]:
        path = self.directory / open_name(start)
        # Created before it is listed, so a reader never finds a listed file missing.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        with self.changed:
            if self._segments and self._segments[-1].end > start:
                # A restarted source can produce a time the last file already covers;
                # clamp so files never overlap.
                self._segments[-1].end = start
            self._sequence += 1
            segment = Segment(
                start=start,
                end=start,
                folder=self.directory,
                name=path.name,
                closed=False,
                session=session,
                sequence=self._sequence,
                starts=[PieceStart(start, 0)],
            )
            self._segments.append(segment)
            self.changed.notify_all()
        return segment, fd

    def _carries_on(self, segment: Segment, start: float) -> bool:
        """Whether a piece starting at ``start`` may go on in ``segment``'s file: no hole, no
        step back in time, and the file not yet at its length.
        """
        with self.changed:
            split, self._split_file = self._split_file, False
            return (
                not split
                and abs(start - segment.end) <= GAP_TOLERANCE
                and start - segment.start < self.file_seconds - self.segment_seconds * 0.25
            )

    def _new_piece(self, segment: Segment, start: float, index: IndexWriter | None) -> None:
        with self.changed:
            entry = PieceStart(start, segment.size)
            assert segment.starts is not None
            segment.starts.append(entry)
            segment.end = max(segment.end, start)
            self._sequence += 1
        if index is not None:
            index.append(entry)

    def _piece_closed(self, segment: Segment) -> None:
        with self.changed:
            if segment.starts:
                self._recent_pieces.append(segment.size - segment.starts[-1].offset)
            ends_file = segment.closed
        if not ends_file:
            # Space is watched per piece, not per file: a long file grows for minutes.
            self.prune()

    def _grew(self, segment: Segment, count: int) -> None:
        with self.changed:
            segment.size += count
            self._bytes += count
            self.changed.notify_all()

    def _extend(self, segment: Segment, end: float) -> None:
        with self.changed:
            segment.end = max(segment.end, end)

    def _close(self, segment: Segment) -> None:
        final = self.directory / closed_name(segment.start, segment.end, segment.size)
        with self.changed:
            # Renamed under the lock so a reader never sees the old name gone and the new one
            # not yet recorded.
            try:
                if segment.packets == 0:
                    self._segments.remove(segment)
                    self._bytes -= segment.size
                    self._unlink(segment)
                else:
                    os.replace(segment.path, final)
                    segment.name = final.name
            except (OSError, ValueError) as exc:
                log.warning("finalising a footage file failed: %s", exc)
            segment.closed = True
            # A closed file's index is read from disk when asked for, but the newest one stays
            # in memory: live playlists ask for its pieces on every reload.
            if self._newest_closed is not None:
                self._newest_closed.starts = None
            self._newest_closed = segment
            self.changed.notify_all()
        self.prune()

    # ---- start-up ------------------------------------------------------------------------

    def _load(self) -> None:
        self._segments = [
            Segment(
                start=found.start,
                end=found.end,
                folder=self.directory,
                name=found.name,
                size=found.size,
            )
            for found in scan(self.directory, DEMUX_OPTIONS)
        ]
        self._bytes = sum(segment.size for segment in self._segments)
        self.prune()


def _start_of(segment: Segment) -> float:
    return segment.start


def _end_of(segment: Segment) -> float:
    return segment.end


def _key_of(segment: Segment) -> int:
    return millis(segment.start)
