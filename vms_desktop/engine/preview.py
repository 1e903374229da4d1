"""Live preview of one camera: its packets decoded on demand into the newest small RGB picture."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from vms_desktop.domain.picture import DEFAULT_PREVIEW_FPS, PreviewPicture, RgbImage
from vms_desktop.engine.picture_size import fit_size

log = logging.getLogger(__name__)

# Packet times travel through the decoder as microseconds, so each picture keeps its UTC time.
_MICROSECONDS = Fraction(1, 1_000_000)
# The largest picture a viewer may ask for: a guard against a bogus size allocating gigabytes.
MAX_SIDE = 8192


class FrameSlot:
    """Holds only the newest picture (thread-safe): a reader gets the latest one, never a backlog.

    The arrays are made read-only when put, so readers on any thread can share them uncopied.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._picture: PreviewPicture | None = None
        self._sequence = 0

    def put(self, image: RgbImage, when: float) -> PreviewPicture:
        """Replace the held picture with ``image`` (height x width x 3 RGB) showing ``when``."""
        image.flags.writeable = False
        with self._lock:
            self._sequence += 1
            self._picture = PreviewPicture(image, when, self._sequence)
            return self._picture

    def latest(self) -> PreviewPicture | None:
        """The newest picture, or None if there is none."""
        with self._lock:
            return self._picture

    def clear(self) -> None:
        """Forget the held picture (the sequence keeps counting)."""
        with self._lock:
            self._picture = None

    @property
    def sequence(self) -> int:
        """How many pictures were ever put."""
        with self._lock:
            return self._sequence


@dataclass(frozen=True)
class VideoParameters:
    """What a decoder needs to know about a camera's video stream, copied off the demuxer."""

    codec: str
    width: int
    height: int
    extradata: bytes | None = None
    pixel_aspect: Fraction | None = None

    @classmethod
    def of(cls, stream: Any) -> VideoParameters:
        """The parameters of a PyAV video stream."""
        context = stream.codec_context
        aspect = context.sample_aspect_ratio
        return cls(
            codec=context.name,
            width=int(context.width or 0),
            height=int(context.height or 0),
            extradata=bytes(context.extradata) if context.extradata else None,
            pixel_aspect=Fraction(aspect) if aspect else None,
        )


@dataclass(frozen=True)
class _Packet:
    data: bytes
    when: float
    keyframe: bool


class PreviewLease:
    """One viewer's claim on a :class:`CameraPreview`: change its size and rate, or release it."""

    def __init__(self, preview: CameraPreview, width: int, height: int, fps: float) -> None:
        self.preview = preview
        self.width = width
        self.height = height
        self.fps = fps

    def update(self, width: int, height: int, fps: float | None = None) -> None:
        """Ask for pictures of another size (and rate) from now on."""
        self.preview._update(self, width, height, fps)

    def release(self) -> None:
        """Stop watching (decoding ends with the last viewer); releasing twice is harmless."""
        self.preview.release(self)

    @property
    def active(self) -> bool:
        """True until released."""
        return self.preview._holds(self)


class CameraPreview:
    """Decodes one camera's video for live tiles, on its own thread, only while someone watches.

    The camera worker hands over every video packet (:meth:`start_stream`, :meth:`feed`: cheap,
    never blocking). While nobody watches, only the packets since the last keyframe are kept, so
    a new viewer gets a current picture at once instead of waiting up to a GOP; no decoding
    happens. Each :meth:`acquire` asks for pictures of a size and rate; with several viewers the
    largest size and the highest rate win. Pictures are converted to RGB at that size (aspect
    ratio kept) and rate only, and land in :attr:`slot`, which holds just the newest one.

    The hand-off to the decoding thread is bounded: when the decoder falls behind (a slow
    machine, a burst after a network stall), the waiting packets are dropped up to the newest
    keyframe among them (or all of them, and decoding resumes at the next keyframe), so the
    preview stays live and memory stays flat.
    """

    def __init__(
        self,
        camera_id: str,
        *,
        decoder_threads: int = 2,
        max_pending: int = 250,
        max_pending_bytes: int = 16 << 20,
        catch_up_seconds: float = 1.0,
    ) -> None:
        self.camera_id = camera_id
        self.slot = FrameSlot()
        # Frame threading delays each picture by (threads - 1) frames: a small pool keeps the
        # preview live and the thread count sane with many cameras.
        self.decoder_threads = max(1, decoder_threads)
        self.max_pending = max(2, max_pending)
        self.max_pending_bytes = max_pending_bytes
        self.catch_up_seconds = catch_up_seconds
        self._cond = threading.Condition()
        self._params: VideoParameters | None = None
        self._epoch = 0  # bumped when the decoder must start afresh
        self._gop: list[_Packet] = []
        self._gop_bytes = 0
        self._pending: deque[_Packet] = deque()
        self._pending_bytes = 0
        self._await_keyframe = True
        self._dropped = 0
        self._leases: list[PreviewLease] = []
        self._thread: threading.Thread | None = None
        self._put_times: deque[float] = deque(maxlen=64)
        self._error = ""

    # ---- tap: called on the camera worker's thread -------------------------------------------

    def start_stream(self, video: Any) -> None:
        """A new session began: decode what follows with this PyAV stream's codec parameters."""
        try:
            params: VideoParameters | None = VideoParameters.of(video)
            error = ""
        except (AttributeError, TypeError, ValueError) as exc:
            # Recording must go on even if this stream cannot be previewed.
            params, error = None, f"unusable video parameters: {exc}"
        with self._cond:
            self._params = params
            self._epoch += 1
            self._gop.clear()
            self._gop_bytes = 0
            self._drop_pending()
            self._await_keyframe = True
            self._error = error
            self._cond.notify_all()

    def feed(self, data: bytes, when: float, keyframe: bool) -> None:
        """One video packet's bytes, its UTC presentation time and whether it is a keyframe."""
        packet = _Packet(data, when, keyframe)
        with self._cond:
            if self._params is None:
                return
            self._remember(packet)
            if not self._leases:
                return
            if keyframe and self._pending and when - self._pending[0].when > self.catch_up_seconds:
                # More than a moment behind: start over here rather than show stale pictures.
                self._drop_pending()
                self._await_keyframe = False
            if self._await_keyframe and not keyframe:
                self._dropped += 1
                return
            self._await_keyframe = False
            self._pending.append(packet)
            self._pending_bytes += len(data)
            if (
                len(self._pending) > self.max_pending
                or self._pending_bytes > self.max_pending_bytes
            ):
                self._skip_to_newest_keyframe()
            self._cond.notify()

    def _remember(self, packet: _Packet) -> None:
        """Keep the packets since the last keyframe, within the hand-off's bounds."""
        if packet.keyframe:
            self._gop.clear()
            self._gop_bytes = 0
        elif not self._gop:
            return  # the GOP's start was lost: nothing decodable until the next keyframe
        self._gop.append(packet)
        self._gop_bytes += len(packet.data)
        if len(self._gop) > self.max_pending or self._gop_bytes > self.max_pending_bytes:
            self._gop.clear()
            self._gop_bytes = 0

    def _skip_to_newest_keyframe(self) -> None:
        """Drop waiting packets up to the newest keyframe among them, or all if still too many."""
        later = [i for i, packet in enumerate(self._pending) if packet.keyframe and i > 0]
        if later:
            for _ in range(later[-1]):
                self._pending_bytes -= len(self._pending.popleft().data)
            self._dropped += later[-1]
            if (
                len(self._pending) <= self.max_pending
                and self._pending_bytes <= self.max_pending_bytes
            ):
                return
        self._drop_pending()
        self._await_keyframe = True

    def _drop_pending(self) -> None:
        self._dropped += len(self._pending)
        self._pending.clear()
        self._pending_bytes = 0

    # ---- viewers -----------------------------------------------------------------------------

    def acquire(self, width: int, height: int, fps: float = DEFAULT_PREVIEW_FPS) -> PreviewLease:
        """Start watching: pictures fitting ``width`` x ``height`` at up to ``fps`` per second."""
        lease = PreviewLease(self, *_checked(width, height, fps))
        with self._cond:
            fresh = not self._leases
            self._leases.append(lease)
            if fresh:
                # A picture from an earlier watch may be minutes old: never show it as live.
                self.slot.clear()
                self._put_times.clear()
                self._epoch += 1
                self._drop_pending()
                self._pending.extend(self._gop)
                self._pending_bytes = self._gop_bytes
                self._await_keyframe = not self._gop
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name=f"preview-{self.camera_id}", daemon=True
                )
                self._thread.start()
            self._cond.notify_all()
        return lease

    def release(self, lease: PreviewLease | None = None) -> None:
        """Stop watching: ``lease``, or the newest lease when none is given."""
        with self._cond:
            if lease is None:
                if self._leases:
                    self._leases.pop()
            elif lease in self._leases:
                self._leases.remove(lease)
            if not self._leases:
                self._drop_pending()
            self._cond.notify_all()

    def close(self, timeout: float = 5.0) -> None:
        """Drop every viewer and wait for decoding to end (at shutdown)."""
        with self._cond:
            self._leases.clear()
            self._drop_pending()
            thread = self._thread
            self._cond.notify_all()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _update(self, lease: PreviewLease, width: int, height: int, fps: float | None) -> None:
        width, height, rate = _checked(width, height, lease.fps if fps is None else fps)
        with self._cond:
            lease.width, lease.height, lease.fps = width, height, rate

    def _holds(self, lease: PreviewLease) -> bool:
        with self._cond:
            return lease in self._leases

    # ---- what the tile shows -----------------------------------------------------------------

    def latest(self) -> PreviewPicture | None:
        """The newest picture (see :attr:`slot`)."""
        return self.slot.latest()

    @property
    def fps(self) -> float:
        """Pictures delivered per second over the last two seconds."""
        now = time.monotonic()
        with self._cond:
            recent = [t for t in self._put_times if t >= now - 2.0]
        if len(recent) < 2 or now - recent[-1] > 1.0:
            return 0.0
        return (len(recent) - 1) / (recent[-1] - recent[0])

    @property
    def watched(self) -> bool:
        """True while at least one viewer holds a lease."""
        with self._cond:
            return bool(self._leases)

    @property
    def decoding(self) -> bool:
        """True while the decoding thread runs."""
        with self._cond:
            return self._thread is not None

    @property
    def pending(self) -> int:
        """Packets handed over and not yet decoded."""
        with self._cond:
            return len(self._pending)

    @property
    def dropped(self) -> int:
        """Packets handed over while watched but never decoded (behind, or awaiting a keyframe)."""
        with self._cond:
            return self._dropped

    @property
    def stream(self) -> VideoParameters | None:
        """The current stream's codec parameters, once the camera has sent video."""
        with self._cond:
            return self._params

    @property
    def error(self) -> str:
        """Why the current stream cannot be previewed, or an empty string."""
        with self._cond:
            return self._error

    # ---- decoding thread ---------------------------------------------------------------------

    def _run(self) -> None:
        decoder: _Decoder | None = None
        epoch = -1
        while True:
            with self._cond:
                while self._leases and not self._pending:
                    self._cond.wait()
                if not self._leases:
                    self._thread = None
                    return
                packet = self._pending.popleft()
                self._pending_bytes -= len(packet.data)
                newer_waiting = bool(self._pending)
                if epoch != self._epoch:
                    epoch, params = self._epoch, self._params
                    decoder = None
                    if params is not None:
                        decoder = self._open_decoder(params)
                box = (
                    max(lease.width for lease in self._leases),
                    max(lease.height for lease in self._leases),
                )
                fps = max(lease.fps for lease in self._leases)
            if decoder is None:
                continue
            try:
                decoder.decode(packet, box, fps, newer_waiting)
            except Exception as exc:
                # A preview bug must not kill the thread (the tile would freeze for good): give
                # up on this session; the next stream or viewer tries again.
                log.exception("camera %s preview failed", self.camera_id)
                with self._cond:
                    self._error = f"preview failed: {type(exc).__name__}"
                decoder = None

    def _open_decoder(self, params: VideoParameters) -> _Decoder | None:
        try:
            return _Decoder(self, params)
        except (av.FFmpegError, ValueError) as exc:
            self._error = f"cannot decode {params.codec}: {exc}"
            log.warning("camera %s preview: %s", self.camera_id, self._error)
            return None

    def _deliver(self, image: RgbImage, when: float) -> None:
        self.slot.put(image, when)
        with self._cond:
            self._put_times.append(time.monotonic())


class _Decoder:
    """A decoder for one stream session, with the rate limiter and the RGB converter."""

    def __init__(self, preview: CameraPreview, params: VideoParameters) -> None:
        self._preview = preview
        self._params = params
        context: Any = av.CodecContext.create(params.codec, "r")
        if params.extradata:
            context.extradata = params.extradata
        if params.width and params.height:
            context.width, context.height = params.width, params.height
        context.thread_type = "AUTO"
        context.thread_count = preview.decoder_threads
        context.open()
        self._context = context
        self._reformatter = VideoReformatter()
        self._next_due = float("-inf")
        self._last_put = time.monotonic()
        self._awaiting_keyframe = False

    def decode(
        self, packet: _Packet, box: tuple[int, int], fps: float, newer_waiting: bool
    ) -> None:
        """Decode one packet; convert what it yields when due."""
        if self._awaiting_keyframe and not packet.keyframe:
            return
        self._awaiting_keyframe = False
        # Copied into a buffer FFmpeg owns: a packet wrapping Python bytes is freed through a
        # callback that takes the GIL, and frame-threaded decoding frees packets on its own
        # threads, so closing the decoder (which joins them, holding the GIL) would deadlock.
        source = av.Packet(len(packet.data))
        source.update(packet.data)
        source.pts = round(packet.when * 1_000_000)
        source.time_base = _MICROSECONDS
        try:
            frames = self._context.decode(source)
        except av.FFmpegError as exc:
            # A damaged packet: pictures until the next keyframe would be smeared.
            log.debug("camera %s preview: %s", self._preview.camera_id, exc)
            self._awaiting_keyframe = True
            return
        for frame in frames:
            when = float(frame.pts) * 1e-6 if frame.pts is not None else packet.when
            if self._due(when, fps, newer_waiting):
                self._convert(frame, when, box)

    def _due(self, when: float, fps: float, newer_waiting: bool) -> bool:
        period = 1.0 / fps
        # Pictures come at the camera's rate; accept one a quarter period early so a 15 fps
        # camera previewed at 10 fps alternates 1 and 2 frame gaps instead of always skipping 1.
        if when < self._next_due - period / 4:
            return False
        if newer_waiting and time.monotonic() - self._last_put < 2 * period:
            return False  # catching up: a newer picture is on its way
        self._next_due += period
        if self._next_due <= when:
            self._next_due = when + period  # the first picture, or after a gap: no burst
        return True

    def _convert(self, frame: Any, when: float, box: tuple[int, int]) -> None:
        width, height = fit_size(
            frame.width, frame.height, box[0], box[1], self._params.pixel_aspect
        )
        rgb = self._reformatter.reformat(
            frame, width=width, height=height, format="rgb24", threads=1
        )
        # Rows are padded to an alignment; painters want them packed.
        image: RgbImage = np.ascontiguousarray(rgb.to_ndarray())
        self._last_put = time.monotonic()
        self._preview._deliver(image, when)


def _checked(width: int, height: int, fps: float) -> tuple[int, int, float]:
    if fps <= 0:
        raise ValueError("fps must be positive")
    return max(2, min(MAX_SIDE, int(width))), max(2, min(MAX_SIDE, int(height))), float(fps)
