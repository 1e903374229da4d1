"""A camera archive's decoding thread for a player: the picture recorded at or before any moment.

A request names a UTC moment. Inside recorded footage the answer is the newest picture whose
time is at or before it; anywhere else it is a gap with the moment the footage resumes. The
decoder keeps one run of continuous footage open (one demuxer over a byte stream of its
segments, timestamps resolved against the run's own start), so playing forward decodes on from
where it stands, across file and piece boundaries; a moment behind, far ahead or in another run
opens the run again at the keyframe at or before it. Pictures before the moment are decoded and
dropped; only the one shown is converted to RGB, at the size the player asked for.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable, Generator
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import av
import numpy as np

from vms_desktop.domain.errors import PlaybackError, operator_text
from vms_desktop.domain.recording import ArchiveGap, ArchivePicture
from vms_desktop.engine.picture_size import fit_size
from vms_desktop.engine.segment_buffer import (
    DEMUX_OPTIONS,
    TS_HZ,
    RunTimeline,
    SegmentBuffer,
)
from vms_desktop.engine.segment_stream import SegmentStream, continues

log = logging.getLogger(__name__)

# A moment at most this far ahead of the picture shown is reached by decoding on (playing
# forward); farther, reopening at its keyframe is cheaper than decoding everything between.
FOLLOW_SECONDS = 3.0
# Segment names keep milliseconds: a run's first picture may lie this far after its listed
# start and still be the picture of a moment at that start.
_START_SLACK = 0.002
# Enough to find a 1080p keyframe's parameters; the bytes probed are demuxed, not read twice.
_OPEN_OPTIONS = {"probesize": "1000000", "analyzeduration": "500000", **DEMUX_OPTIONS}
_DEFAULT_INTERVAL = 1 / 15
# Playing just behind a recording camera, a read at the newest bytes waits this long for the
# next ones instead of ending the run (which would open it again, decoding from its keyframe,
# for every later picture). The demuxer and the decoder's frame threads hold back a few
# pictures: the one due is handed over once the next few have been recorded.
LIVE_WAIT = 0.5
# Epoch seconds in a double are exact to a quarter microsecond: a moment computed from a
# picture's (``moment - frame_seconds``, a frame step back) may land that far before another
# picture's time and must still show it. Far below the 90 kHz tick (11 us).
_SAME_MOMENT = 5e-6


@dataclass(frozen=True)
class _Decoded:
    """A decoded picture and the UTC moment it was seen."""

    frame: Any
    moment: float


class _RunReader:
    """One run of footage decoded forward from the keyframe at or before a moment."""

    def __init__(self, buffer: SegmentBuffer, moment: float, wait: float) -> None:
        # Reads at the newest bytes wait up to ``wait`` for more (the demuxer must not find
        # the end while it probes a live run); :meth:`advance` sets the wait anew each time.
        self.stream = SegmentStream(buffer, moment, buffer.clock.now() + wait)
        self.timeline = RunTimeline(self.stream.run_start)
        try:
            self.container: Any = av.open(self.stream, "r", format="mpegts", options=_OPEN_OPTIONS)
        except BaseException:
            self.stream.close()
            raise
        try:
            if not self.container.streams.video:
                raise PlaybackError("the recorded footage has no pictures")
            self.video = self.container.streams.video[0]
            # Frame threading decodes as fast as the ffmpeg CLI; the default slice threading
            # does not.
            self.video.codec_context.thread_type = "AUTO"
        except BaseException:
            self.close()
            raise
        rate = self.video.average_rate or self.video.guessed_rate
        self.interval = float(1 / rate) if rate else _DEFAULT_INTERVAL
        self._frames = self._decode()
        # The newest picture at or before the last moment served, and the one after it.
        self.held: _Decoded | None = None
        self.ahead: _Decoded | None = None
        # The run's bytes (as far as they were recorded at the open) are all decoded.
        self.exhausted = False

    def _decode(self) -> Generator[_Decoded]:
        # demux ends with an empty packet whose decode drains the decoder's last pictures.
        for packet in self.container.demux(self.video):
            for frame in packet.decode():
                if frame.pts is not None:
                    yield _Decoded(frame, self.timeline.resolve(frame.pts))

    def can_follow(self, buffer: SegmentBuffer, moment: float, follow_seconds: float) -> bool:
        """True when ``moment`` is reached by decoding on from the picture held."""
        held = self.held
        if held is None or moment + _SAME_MOMENT < held.moment:
            return False
        if moment - held.moment > follow_seconds:
            return False
        if self.exhausted and moment >= held.moment + 1.5 * self.interval:
            return False  # footage recorded since the open is only found by opening again
        # Up to the file holding the moment (one starting at it too): all one run?
        segments = buffer.covering(held.moment, moment + 1e-6)
        # A file's start is its first picture's time before the 90 kHz rounding.
        if not segments or segments[0].start > held.moment + _START_SLACK:
            return False
        return all(continues(a, b) for a, b in itertools.pairwise(segments))

    def advance(self, moment: float, stopping: Callable[[], bool], *, wait: float = 0.0) -> bool:
        """Decode on to the newest picture at or before ``moment``; False if stopped first.

        A read at the newest recorded bytes waits up to ``wait`` seconds for the next ones.
        """
        self.stream.deadline = self.stream.clock.now() + wait
        while not stopping():
            if self.ahead is None:
                self.ahead = next(self._frames, None)
                if self.ahead is None:
                    self.exhausted = True
                    return True
            if self.ahead.moment > moment + _SAME_MOMENT:
                if self.held is None and self.ahead.moment <= moment + _START_SLACK:
                    self.held, self.ahead = self.ahead, None
                    continue
                return True
            self.held, self.ahead = self.ahead, None
        return False

    def frame_seconds(self) -> float:
        """Seconds from the held picture to the next one."""
        if self.held is not None and self.ahead is not None:
            # Whole 90 kHz ticks, as recorded (the doubles' rounding removed).
            step = round((self.ahead.moment - self.held.moment) * TS_HZ) / TS_HZ
            if step > 0:
                return step
        return self.interval

    def pixel_aspect(self) -> Fraction | None:
        sar = self.video.codec_context.sample_aspect_ratio
        return Fraction(sar) if sar else None

    def close(self) -> None:
        self._frames.close()
        try:
            self.container.close()
        finally:
            self.stream.close()


class ArchiveDecoder(threading.Thread):
    """Decodes one camera's archive for a player (an
    :class:`~vms_desktop.engine.console_port.ArchivePlayback`).

    Only the newest request matters: a request not started yet is replaced by the next, so a
    slow decoder skips pictures instead of falling behind. Outcomes reach the callbacks on this
    thread: ``on_picture`` per picture, ``on_gap`` for a moment without footage, ``on_failed``
    with a sentence fit for the operator.
    """

    def __init__(
        self,
        buffer: SegmentBuffer,
        on_picture: Callable[[ArchivePicture], None],
        on_gap: Callable[[ArchiveGap], None],
        on_failed: Callable[[str], None],
        *,
        follow_seconds: float = FOLLOW_SECONDS,
    ) -> None:
        super().__init__(name=f"archive-decoder-{buffer.camera_id}", daemon=True)
        self.buffer = buffer
        self.camera_id = buffer.camera_id
        self.follow_seconds = follow_seconds
        self._on_picture = on_picture
        self._on_gap = on_gap
        self._on_failed = on_failed
        self._wake = threading.Condition()
        self._wanted: float | None = None
        self._box = (0, 0)
        self._stopping = False
        self._reader: _RunReader | None = None
        # The last picture given: re-asking for it (or a moment before the next) costs nothing.
        self._shown: tuple[_Decoded, tuple[int, int], ArchivePicture] | None = None
        # Runs opened so far (each open demuxes from a keyframe again).
        self.opened_runs = 0

    # ---- the player's side (any thread, returns at once) ---------------------------------

    def show(self, moment: float) -> None:
        """Decode the picture due at ``moment`` next (replacing a request not started yet)."""
        with self._wake:
            self._wanted = moment
            self._wake.notify()

    def fit(self, width: int, height: int) -> None:
        """Scale pictures to fit this box from now on (0, 0: full size)."""
        with self._wake:
            self._box = (max(0, width), max(0, height))

    def close(self) -> None:
        """Stop after the picture under way; the footage is released by this thread."""
        with self._wake:
            self._stopping = True
            self._wake.notify()
            if self._reader is not None:
                # A read under way returns at once: the demuxer sees the end of the footage.
                self._reader.stream.stop()

    def _is_stopping(self) -> bool:
        return self._stopping

    # ---- the decoding thread -------------------------------------------------------------

    def run(self) -> None:
        try:
            while True:
                with self._wake:
                    while self._wanted is None and not self._stopping:
                        self._wake.wait()
                    if self._stopping or self._wanted is None:
                        return
                    moment, box = self._wanted, self._box
                    self._wanted = None
                try:
                    self._serve(moment, box)
                except Exception as exc:  # the operator gets a sentence, the log the details
                    self._drop_reader()
                    self._fail(moment, exc)
        finally:
            self._drop_reader()

    def _serve(self, moment: float, box: tuple[int, int]) -> None:
        resume = self._gap_at(moment)
        if resume is not None:
            self._emit_gap(moment, resume[0])
            return
        shown = self._shown
        if shown is not None and shown[1] == box and self._reader is not None:
            held = self._reader.held
            ahead = self._reader.ahead
            if (
                held is shown[0]
                and held.moment <= moment + _SAME_MOMENT
                and ahead is not None
                and moment + _SAME_MOMENT < ahead.moment
            ):
                self._deliver(shown[2])
                return
        wait = self._live_wait(moment)
        reader = self._reader
        if reader is None or not reader.can_follow(self.buffer, moment, self.follow_seconds):
            self._drop_reader()
            reader = self._open(moment, wait)
            if reader is None:
                return
        if not reader.advance(moment, self._is_stopping, wait=wait):
            return
        held = reader.held
        if held is None:
            # Nothing at or before the moment was decodable (pruned, or a torn file).
            self._drop_reader()
            later = reader.ahead.moment if reader.ahead is not None else self._resume_after(moment)
            self._emit_gap(moment, later)
            return
        picture = self._picture(reader, held, box)
        self._shown = (held, box, picture)
        self._deliver(picture)

    def _live_wait(self, moment: float) -> float:
        """How long a read may wait for the camera: only just behind a recording one."""
        newest = self.buffer.newest
        if newest is None or newest - moment > self.follow_seconds:
            return 0.0
        return LIVE_WAIT if self.buffer.is_recording() else 0.0

    def _open(self, moment: float, wait: float) -> _RunReader | None:
        try:
            reader = _RunReader(self.buffer, moment, wait)
        except LookupError:
            self._emit_gap(moment, self._resume_after(moment))
            return None
        except av.FFmpegError as exc:
            raise PlaybackError(f"the recorded footage cannot be read ({_describe(exc)})") from None
        self.opened_runs += 1
        with self._wake:
            self._reader = reader
            if self._stopping:
                reader.stream.stop()
        return reader

    def _drop_reader(self) -> None:
        with self._wake:
            reader, self._reader = self._reader, None
        self._shown = None
        if reader is not None:
            try:
                reader.close()
            except Exception:  # closing must never stop the thread from ending
                log.exception("closing camera %s's archive footage failed", self.camera_id)

    def _gap_at(self, moment: float) -> tuple[float | None] | None:
        """None when ``moment`` lies in footage; else a 1-tuple with where footage resumes."""
        buffer = self.buffer
        segment = buffer.segment_at_or_before(moment)
        if segment is None:
            return (buffer.oldest,)
        if moment < segment.end:
            return None
        following = buffer.segment_after(segment)
        if following is not None and continues(segment, following):
            return None  # a jitter-sized hole inside a run: the last picture stays shown
        return (following.start if following is not None else None,)

    def _resume_after(self, moment: float) -> float | None:
        later = self.buffer.covering(moment, float("inf"))
        return next((segment.start for segment in later if segment.start > moment), None)

    def _picture(self, reader: _RunReader, held: _Decoded, box: tuple[int, int]) -> ArchivePicture:
        frame = held.frame
        width, height = frame.width, frame.height
        sar = reader.pixel_aspect()
        aspect = float(Fraction(width, height) * (sar or 1))
        if box[0] > 0 and box[1] > 0:
            width, height = fit_size(width, height, box[0], box[1], sar)
        rgb = frame.reformat(width=width, height=height, format="rgb24", threads=1).to_ndarray()
        return ArchivePicture(
            camera_id=self.camera_id,
            moment=held.moment,
            image=np.ascontiguousarray(rgb),
            display_aspect=aspect,
            frame_seconds=reader.frame_seconds(),
        )

    def _deliver(self, picture: ArchivePicture) -> None:
        if not self._stopping:
            self._on_picture(picture)

    def _emit_gap(self, moment: float, resume: float | None) -> None:
        if not self._stopping:
            self._on_gap(ArchiveGap(self.camera_id, moment, resume))

    def _fail(self, moment: float, exc: Exception) -> None:
        if isinstance(exc, av.FFmpegError):
            exc = PlaybackError(f"the recorded footage cannot be decoded ({_describe(exc)})")
        elif not isinstance(exc, PlaybackError):
            log.exception("decoding camera %s's archive at %.3f failed", self.camera_id, moment)
        if not self._stopping:
            self._on_failed(operator_text(exc))


def _describe(exc: BaseException) -> str:
    """An FFmpeg error's own words, without the file name."""
    if isinstance(exc, av.FFmpegError) and exc.strerror:
        return str(exc.strerror)
    return type(exc).__name__


__all__ = ["FOLLOW_SECONDS", "ArchiveDecoder"]
