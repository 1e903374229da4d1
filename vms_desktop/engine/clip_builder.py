"""Cuts an event's window out of a camera's buffer into the clip format: MP4, H.264, fixed fps/size.

For event time ``T`` the clip covers ``[T - pre, T + post]``. Decoding starts at the keyframe that
opens the segment holding ``T - pre``; every output slot ``k`` (at ``T - pre + k / fps``) shows the
newest source picture at or before that moment, so the picture seen at ``T`` sits at offset
``pre``. Pictures are scaled to fit and padded (never stretched). A window that reaches into the
future is encoded while its footage is recorded, so the clip is done moments after the window
closes. Each run of continuous footage is read by its own demuxer, its timestamps resolved against
that run alone, so a camera dark for seconds or days inside the window changes nothing but the
black slots where it was dark, which are reported as gaps. The file appears atomically.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
import os
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from vms_desktop.domain.errors import ClipCancelled, ClipError, NoFootageError
from vms_desktop.engine.clip_audio import AudioTrack
from vms_desktop.engine.clock import WallClock
from vms_desktop.engine.picture_size import fit_size
from vms_desktop.engine.segment_buffer import (
    DEMUX_OPTIONS,
    GAP_TOLERANCE,
    Gap,
    RunTimeline,
    SegmentBuffer,
)
from vms_desktop.engine.segment_stream import SegmentStream, WaitHook
from vms_desktop.storage.base import sha256_of

log = logging.getLogger(__name__)

ProgressCallback = Callable[[float], None]


@dataclass(frozen=True)
class ClipSpec:
    """What a clip looks like: its window around the event and its encoding."""

    pre_seconds: float = 10.0
    post_seconds: float = 20.0
    fps: int = 15
    width: int = 640
    height: int = 480
    preset: str = "veryfast"
    crf: int = 23

    @property
    def frame_count(self) -> int:
        """Pictures in a complete clip."""
        return round((self.pre_seconds + self.post_seconds) * self.fps)


@dataclass(frozen=True)
class ClipResult:
    """A finished clip file and what it holds."""

    path: Path
    camera_id: str
    event_time: float
    start: float
    end: float
    fps: int
    width: int
    height: int
    frames: int
    duration: float
    size: int
    sha256: str
    has_audio: bool
    source_width: int
    source_height: int
    gaps: tuple[Gap, ...] = field(default_factory=tuple)

    @property
    def complete(self) -> bool:
        """True when every moment of the window has footage."""
        return not self.gaps


class _Scaler:
    """Scales and pads decoded pictures to the clip size; rebuilt when the input changes."""

    def __init__(self, width: int, height: int) -> None:
        self.width = width
        self.height = height
        self._key: tuple[int, int, str, Fraction] | None = None
        self._graph: Any = None

    def convert(self, frame: Any, sar: Fraction | None) -> Any:
        if not sar or sar <= 0:
            sar = Fraction(1, 1)
        key = (frame.width, frame.height, frame.format.name, Fraction(sar))
        if key != self._key:
            self._graph = self._build(frame, Fraction(sar))
            self._key = key
        self._graph.push(frame)
        return self._graph.pull()

    def _build(self, frame: Any, sar: Fraction) -> Any:
        fitted_w, fitted_h = fit_size(
            frame.width, frame.height, self.width, self.height, sar, even=True
        )
        graph = av.filter.Graph()
        source = graph.add_buffer(
            width=frame.width,
            height=frame.height,
            format=frame.format.name,
            time_base=Fraction(1, 90000),
        )
        x, y = (self.width - fitted_w) // 2, (self.height - fitted_h) // 2
        chain = [
            source,
            graph.add("scale", f"{fitted_w}:{fitted_h}:flags=bicubic"),
            graph.add("pad", f"{self.width}:{self.height}:{x}:{y}:black"),
            graph.add("setsar", "1"),
            graph.add("format", "yuv420p"),
            graph.add("buffersink"),
        ]
        for upstream, downstream in itertools.pairwise(chain):
            upstream.link_to(downstream)
        graph.configure()
        return graph


class ClipBuilder:
    """Builds clips from one camera's :class:`SegmentBuffer`."""

    def __init__(
        self,
        buffer: SegmentBuffer,
        *,
        wait_grace: float = 10.0,
        clock: WallClock | None = None,
    ) -> None:
        self.buffer = buffer
        self.wait_grace = wait_grace
        # The buffer's clock unless told otherwise: footage and deadlines share one timeline.
        self.clock = clock or buffer.clock

    def build(
        self,
        event_time: float,
        spec: ClipSpec,
        destination: Path,
        *,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
        while_waiting: Callable[[], contextlib.AbstractContextManager[object]] | None = None,
    ) -> ClipResult:
        """Write the clip for ``event_time`` (UTC seconds) to ``destination``, atomically.

        Blocks until the window's footage has been recorded (or has failed to arrive for
        ``wait_grace`` seconds after the window closed). Every such wait for footage runs
        inside ``while_waiting()``, so a caller can lend its CPU share while the camera records.
        """
        start = event_time - spec.pre_seconds
        end = event_time + spec.post_seconds
        self._check_footage_possible(start, end)
        destination.parent.mkdir(parents=True, exist_ok=True)
        temp = _reserve_temp(destination)
        try:
            result = _Encode(
                self, spec, start, end, event_time, temp, progress, cancel, while_waiting
            ).run()
            _publish(temp, destination)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        return ClipResult(
            path=destination,
            camera_id=self.buffer.camera_id,
            event_time=event_time,
            start=start,
            end=end,
            fps=spec.fps,
            width=spec.width,
            height=spec.height,
            frames=result.frames,
            duration=result.frames / spec.fps,
            size=destination.stat().st_size,
            sha256=_sha256(destination),
            has_audio=result.has_audio,
            source_width=result.source_width,
            source_height=result.source_height,
            gaps=tuple(result.gaps),
        )

    def _check_footage_possible(self, start: float, end: float) -> None:
        newest = self.buffer.newest
        oldest = self.buffer.oldest
        now = self.clock.now()
        window = f"{_iso(start)} .. {_iso(end)}"
        if newest is None or oldest is None:
            if end <= now or not self.buffer.is_recording():
                raise NoFootageError(f"camera {self.buffer.camera_id} has no footage for {window}")
            return
        if end <= oldest:
            raise NoFootageError(
                f"camera {self.buffer.camera_id}: {window} is older than the buffer "
                f"(footage from {_iso(oldest)})"
            )
        if not self.buffer.covering(start, end) and end <= now - self.wait_grace:
            raise NoFootageError(f"camera {self.buffer.camera_id} has no footage for {window}")


@dataclass
class _Outcome:
    frames: int = 0
    has_audio: bool = False
    source_width: int = 0
    source_height: int = 0
    gaps: list[Gap] = field(default_factory=list)


class _Encode:
    """One clip build: demux the buffer stream, resample in time, scale, encode, mux."""

    def __init__(
        self,
        builder: ClipBuilder,
        spec: ClipSpec,
        start: float,
        end: float,
        event_time: float,
        temp: Path,
        progress: ProgressCallback | None,
        cancel: threading.Event | None,
        while_waiting: WaitHook | None,
    ) -> None:
        self.builder = builder
        self.while_waiting = while_waiting
        self.spec = spec
        self.start = start
        self.end = end
        self.event_time = event_time
        self.temp = temp
        self.progress = progress
        self.cancel = cancel or threading.Event()
        self.slots = spec.frame_count
        self.slot = 0  # next output slot to fill
        self.held: Any = None  # newest source picture not after the next slot
        self.held_time = -math.inf
        self.held_scaled: Any = None
        self.outcome = _Outcome()
        self.black: Any = None
        self.gap_start: float | None = None
        self.reported = -1.0
        # A picture older than this at a slot's time means the footage has a hole there.
        self.max_hold = GAP_TOLERANCE
        self.scaler = _Scaler(spec.width, spec.height)
        self.sar: Fraction | None = None
        self.source_interval = 1.0 / spec.fps
        self.encoder: Any = None
        self.track: AudioTrack | None = None
        self.run_started = False  # the next picture is the first of a run
        # Where the last run's footage stopped, once it has: the held picture is not shown
        # past it when the next footage (or the window end) is a real hole away.
        self.dark_from: float | None = None
        self.finished = False  # the window's end has been decoded

    def slot_time(self, index: int) -> float:
        return self.start + index / self.spec.fps

    def run(self) -> _Outcome:
        buffer = self.builder.buffer
        deadline = self.end + self.builder.wait_grace
        try:
            stream = SegmentStream(
                buffer,
                self.start,
                deadline,
                clock=self.builder.clock,
                while_waiting=self.while_waiting,
            )
        except LookupError:
            raise self._no_footage() from None
        done = threading.Event()
        watcher = threading.Thread(
            target=self._watch_cancel, args=(stream, done), name="clip-cancel", daemon=True
        )
        watcher.start()
        try:
            with stream:
                self._transcode(stream)
        finally:
            done.set()
            watcher.join()
        return self.outcome

    def _watch_cancel(self, stream: SegmentStream, done: threading.Event) -> None:
        """Wake a read that waits for live footage when the build is cancelled."""
        while not done.wait(0.2):
            if self.cancel.is_set():
                stream.stop()
                return

    def _transcode(self, stream: SegmentStream) -> None:
        output = av.open(str(self.temp), "w", format="mp4", options={"movflags": "+faststart"})
        try:
            # One demuxer per run of continuous footage: its timestamps are resolved against
            # that run alone, and the window's parts between runs become black gaps.
            while True:
                if stream.wait_for_data():
                    self._transcode_run(stream, output)
                if self.finished or not stream.next_run(before=self.end):
                    break
            self._check_cancel()
            if self.encoder is None:
                raise self._no_footage()
            self._finish_slots(self.encoder, output)
            if self.outcome.frames == 0 or self._all_gap():
                raise self._no_footage()
            for packet_out in self.encoder.encode(None):
                output.mux(packet_out)
            if self.track is not None:
                self.track.finish(output)
        finally:
            output.close()

    def _transcode_run(self, stream: SegmentStream, output: Any) -> None:
        """Demux, decode and place one run's pictures and sound, until it or the window ends."""
        timeline = RunTimeline(stream.run_start)
        try:
            source: Any = av.open(
                stream,
                "r",
                format="mpegts",
                options={"probesize": "2000000", "analyzeduration": "1000000", **DEMUX_OPTIONS},
            )
        except av.FFmpegError as exc:
            raise ClipError(f"the buffered footage could not be read ({exc})") from None
        try:
            if not source.streams.video:
                return  # a run without pictures leaves its part of the window black
            video = source.streams.video[0]
            video.codec_context.thread_type = "AUTO"
            self.sar = video.codec_context.sample_aspect_ratio
            audio_in = source.streams.audio[0] if source.streams.audio else None
            encoder = self._encoder(output, audio_in)
            track = self.track if audio_in is not None else None
            if track is not None:
                track.new_source()
            self.run_started = True
            selected = [video] + ([audio_in] if track is not None else [])
            after_end = 0
            for packet in source.demux(selected):
                self._check_cancel()
                if packet.pts is None:
                    continue
                moment = timeline.resolve(packet.pts)
                if packet.stream is video:
                    for frame in packet.decode():
                        if frame.pts is not None:
                            self._take(frame, timeline.resolve(frame.pts), encoder, output)
                    if moment >= self.end:
                        after_end += 1
                        # A couple of packets past the end settle decoder reordering.
                        if after_end >= 3 or self.slot >= self.slots:
                            self.finished = True
                            break
                elif track is not None and moment < self.end:
                    for frame in packet.decode():
                        if frame.pts is not None:
                            track.add(frame, timeline.resolve(frame.pts), output)
            with contextlib.suppress(av.FFmpegError):
                for frame in video.decode(None):
                    if frame.pts is not None:
                        self._take(frame, timeline.resolve(frame.pts), encoder, output)
            if self.held is not None:
                self.dark_from = self.held_time + self.source_interval
        finally:
            source.close()

    def _encoder(self, output: Any, audio_in: Any | None) -> Any:
        """The clip's video encoder (and audio track), made with the first run that has video."""
        if self.encoder is not None:
            return self.encoder
        encoder = output.add_stream("libx264", rate=self.spec.fps)
        encoder.width, encoder.height = self.spec.width, self.spec.height
        encoder.pix_fmt = "yuv420p"
        encoder.time_base = Fraction(1, self.spec.fps)
        encoder.codec_context.thread_type = "AUTO"
        encoder.options = {
            "preset": self.spec.preset,
            "crf": str(self.spec.crf),
            # A keyframe a second keeps seeking in players quick.
            "g": str(self.spec.fps),
        }
        if audio_in is not None:
            # The clip's streams are fixed before its first packet: sound comes from the runs
            # whose recording had it, silence elsewhere.
            self.track = AudioTrack(audio_in, output, self.start, self.slots / self.spec.fps)
        self.outcome.has_audio = self.track is not None
        self.encoder = encoder
        return encoder

    def _no_footage(self) -> NoFootageError:
        return NoFootageError(
            f"camera {self.builder.buffer.camera_id} has no footage for "
            f"{_iso(self.start)} .. {_iso(self.end)}"
        )

    def _take(self, frame: Any, moment: float, encoder: Any, output: Any) -> None:
        """Accept a decoded source picture shown from ``moment`` on."""
        if not self.outcome.source_width:
            self.outcome.source_width, self.outcome.source_height = frame.width, frame.height
        # Slots before this picture show the previous one (or black across a hole).
        self._hole_until(moment)
        while self.slot < self.slots and self.slot_time(self.slot) < moment - 1e-3:
            self._emit(encoder, output)
        self._close_gap(moment)
        self.dark_from = None
        if self.slot < self.slots:
            # The first picture of a run says nothing of the source's frame rate.
            if self.held is not None and not self.run_started and 0 < moment - self.held_time < 1:
                self.source_interval = moment - self.held_time
            self.run_started = False
            self.held, self.held_time, self.held_scaled = frame, moment, None

    def _check_cancel(self) -> None:
        if self.cancel.is_set():
            raise ClipCancelled("clip build cancelled")

    def _emit(self, encoder: Any, output: Any) -> None:
        when = self.slot_time(self.slot)
        shown = self.held is not None and when - self.held_time <= self.max_hold
        if shown and self.dark_from is not None and when > self.dark_from + 1e-3:
            shown = False  # the camera had stopped: the hole starts right after this picture
        if shown:
            if self.held_scaled is None:
                self.held_scaled = self.scaler.convert(self.held, self.sar)
            picture = self.held_scaled
        else:
            picture = self._black()
            if self.gap_start is None:
                # The hole starts where the last picture's time ran out.
                last = self.held_time + self.source_interval
                self.gap_start = max(self.start, last) if self.held is not None else when
        picture.pts = self.slot
        picture.time_base = Fraction(1, self.spec.fps)
        # Otherwise x264 copies the source's frame types and adds needless keyframes.
        picture.pict_type = av.video.frame.PictureType.NONE
        for packet in encoder.encode(picture):
            output.mux(packet)
        self.slot += 1
        self.outcome.frames += 1
        self._report()

    def _finish_slots(self, encoder: Any, output: Any) -> None:
        self._hole_until(self.end)
        while self.slot < self.slots:
            self._emit(encoder, output)
        self._close_gap(self.end)

    def _hole_until(self, when: float) -> None:
        """Next footage at ``when``: a hole shorter than the tolerance is jitter, not darkness."""
        if self.dark_from is not None and when - self.dark_from <= GAP_TOLERANCE:
            self.dark_from = None

    def _close_gap(self, when: float) -> None:
        if self.gap_start is not None:
            self.outcome.gaps.append(Gap(self.gap_start, min(when, self.end)))
            self.gap_start = None

    def _all_gap(self) -> bool:
        covered = self.end - self.start - sum(g.duration for g in self.outcome.gaps)
        return covered <= 1e-6

    def _black(self) -> Any:
        if self.black is None:
            shape = (self.spec.height * 3 // 2, self.spec.width)
            import numpy as np  # only windows with holes need a black picture

            planes = np.full(shape, 128, np.uint8)
            planes[: self.spec.height] = 16
            self.black = av.VideoFrame.from_ndarray(planes, format="yuv420p")
        return self.black

    def _report(self) -> None:
        if self.progress is None:
            return
        fraction = self.slot / self.slots
        if fraction - self.reported >= 0.02 or self.slot == self.slots:
            self.reported = fraction
            try:
                self.progress(fraction)
            except Exception:  # a progress listener's bug must not break the clip
                log.exception("clip progress callback failed")


def _reserve_temp(destination: Path) -> Path:
    """A new, unique temp file beside ``destination`` (so the final rename is atomic)."""
    while True:
        temp = destination.with_name(f".{destination.name}.{secrets.token_hex(6)}.tmp")
        try:
            os.close(os.open(temp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
            return temp
        except FileExistsError:
            continue


def _publish(temp: Path, destination: Path) -> None:
    """Make ``temp`` durable and move it to ``destination`` in one step."""
    fd = os.open(temp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temp, destination)
    directory = os.open(destination.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return sha256_of(handle)


def _iso(seconds: float) -> str:
    from vms_desktop.engine.clock import to_datetime

    return to_datetime(seconds).isoformat(timespec="milliseconds").replace("+00:00", "Z")
