"""Reading a camera's buffer as byte streams a demuxer can open, one run of continuous footage each.

A run is a stretch of segments of one recording session, each starting where the previous one
ended. One demuxer over a run saves the open per segment (~45 ms at 1080p), and its 33-bit
timestamps resolve exactly against the run's known UTC start. Across a hole or a reconnect neither
holds: the wrap that is nearest to the run's reference can be the wrong one for footage recorded
after a gap of hours or days, and FFmpeg's own wrap correction would act on both sides at once.
So a stream reports end-of-stream at the end of a run, and the reader opens a fresh demuxer on
the next one (:meth:`SegmentStream.next_run`).
"""

from __future__ import annotations

import contextlib
import enum
import io
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vms_desktop.engine.clock import WallClock
from vms_desktop.engine.segment_buffer import GAP_TOLERANCE, Segment, SegmentBuffer

WaitHook = Callable[[], contextlib.AbstractContextManager[object]]
"""Made and entered around every wait for footage not recorded yet, left when the wait ends."""


def continues(earlier: Segment, later: Segment) -> bool:
    """True when ``later`` carries on ``earlier``'s footage: same session, no hole between."""
    return later.session == earlier.session and abs(later.start - earlier.end) <= GAP_TOLERANCE


class _Step(enum.Enum):
    READY = "bytes can be read at the position"
    AGAIN = "the position moved or a wait ended: look again"
    END = "the run (or the stream) has ended"


@dataclass
class _ReadPosition:
    segment: Segment
    # Bytes of the segment to leave unread (all of it when the segment is not needed).
    offset: int = 0
    handle: Any = None


class SegmentStream(io.RawIOBase):
    """A read-only byte stream over a buffer from ``start`` on, one run at a time, live at its tail.

    It begins at the piece holding ``start`` (or the first footage after it), so its first
    bytes are a keyframe's.

    Reading past the newest data waits for the writer (or for the next segment after a
    reconnect) until the stream is stopped or ``deadline`` (UTC seconds) passes, so a clip
    builder can demux footage as it is recorded; every such wait runs inside
    ``while_waiting()``. When the next segment does not continue the run, reads return
    end-of-stream and :attr:`following` names it. Pins the segments it still needs.
    """

    def __init__(
        self,
        buffer: SegmentBuffer,
        start: float,
        deadline: float,
        *,
        clock: WallClock | None = None,
        while_waiting: WaitHook | None = None,
    ) -> None:
        super().__init__()
        first = buffer.segment_at_or_before(start)
        if first is None:
            covering = buffer.covering(start, deadline)
            if not covering:
                raise LookupError("no footage buffered from that time")
            first = covering[0]
        self.buffer = buffer
        self.deadline = deadline
        self.clock = clock or buffer.clock
        # Set at the end of a run when a later segment exists that does not continue it.
        self.following: Segment | None = None
        if first.closed and first.end < start - GAP_TOLERANCE:
            # Footage that ended before the window is of no use: start at its end, so the run
            # is empty and the next one is the first with pictures for the window.
            self.run_start = first.end
            self._position = _ReadPosition(first, offset=first.size)
        else:
            # A long file is entered at the piece holding ``start`` (a keyframe, fresh tables).
            entry = buffer.seek_point(first, start)
            self.run_start = entry.time
            self._position = _ReadPosition(first, offset=entry.offset)
        self._pin = buffer.pin(first.start)
        self._stopped = threading.Event()
        self._while_waiting = while_waiting
        self._waiting: contextlib.AbstractContextManager[object] | None = None

    def readable(self) -> bool:
        return True

    def stop(self) -> None:
        """Make any waiting or future read return end-of-stream."""
        self._stopped.set()
        with self.buffer.changed:
            self.buffer.changed.notify_all()

    def wait_for_data(self) -> bool:
        """Block until the current run has bytes to read; False if it ends without any."""
        try:
            while not self._stopped.is_set():
                if not self._open_position():
                    return False
                step = self._advance_or_wait()
                if step is _Step.READY:
                    return True
                if step is _Step.END:
                    return False
            return False
        finally:
            self._stop_waiting()

    def next_run(self, before: float) -> bool:
        """Move on to :attr:`following` if it starts before ``before``; False if there is none.

        Call it once the current run's demuxer is done with the stream.
        """
        following = self.following
        if following is None or following.start >= before or self._stopped.is_set():
            return False
        if self._position.handle is not None:
            self._position.handle.close()
        self._position = _ReadPosition(following)
        self.following = None
        self.run_start = following.start
        self.buffer.move_pin(self._pin, following.start)
        return True

    def readinto(self, target: Any) -> int:
        try:
            return self._read_into(memoryview(target))
        finally:
            self._stop_waiting()

    def _read_into(self, view: memoryview) -> int:
        while not self._stopped.is_set():
            if not self._open_position():
                return 0
            count = self._position.handle.readinto(view)
            if count:
                return int(count)
            if self._advance_or_wait() is _Step.END:
                return 0
        return 0

    def _open_position(self) -> bool:
        """Open the current segment's file if needed; False if it is gone (pruned)."""
        position = self._position
        while position.handle is None:
            path = position.segment.path
            try:
                handle = open(path, "rb", buffering=0)  # noqa: SIM115
            except FileNotFoundError:
                with self.buffer.changed:
                    renamed = position.segment.path != path
                if renamed:
                    continue  # closed and renamed between the lookup and the open
                return False
            if position.offset:
                handle.seek(position.offset)
            position.handle = handle
        return True

    def _advance_or_wait(self) -> _Step:
        """At the end of the data read so far: move on, wait for more, or report the end."""
        buffer = self.buffer
        position = self._position
        with buffer.changed:
            segment = position.segment
            read = position.handle.tell()
            if read < segment.size and not (
                # A closed file shorter than recorded (cut by a failing disk, overwritten):
                # what is missing will never come, so the run goes on without it.
                segment.closed and read >= os.fstat(position.handle.fileno()).st_size
            ):
                return _Step.READY
            if segment.closed:
                following = buffer.segment_after(segment)
                if following is not None:
                    if not continues(segment, following):
                        self.following = following
                        return _Step.END
                    position.handle.close()
                    self._position = _ReadPosition(following)
                    buffer.move_pin(self._pin, following.start)
                    return _Step.AGAIN
            if self._stopped.is_set() or self.clock.now() >= self.deadline:
                return _Step.END
            if self._while_waiting is None or self._waiting is not None:
                buffer.changed.wait(timeout=0.2)
                return _Step.AGAIN
        # Entered outside the lock: the hook may block, and the writer must never wait for it.
        self._start_waiting()
        return _Step.AGAIN

    def _start_waiting(self) -> None:
        if self._while_waiting is not None and self._waiting is None:
            waiting = self._while_waiting()
            waiting.__enter__()
            self._waiting = waiting

    def _stop_waiting(self) -> None:
        waiting, self._waiting = self._waiting, None
        if waiting is not None:
            waiting.__exit__(None, None, None)

    def close(self) -> None:
        if not self.closed:
            if self._position.handle is not None:
                self._position.handle.close()
            self.buffer.unpin(self._pin)
        super().close()
