"""Frame-exact random access to a stored clip's pictures, decoded to RGB arrays with PyAV."""

from __future__ import annotations

import bisect
import threading
from collections import OrderedDict
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import av
import numpy as np
import numpy.typing as npt

from vms_desktop.domain.errors import PlaybackError

# Enough for a 2 s GOP of 640x480 (or ten 1080p frames): stepping backward through one GOP
# decodes it once instead of once per step.
DEFAULT_CACHE_BYTES = 64 * 1024 * 1024
# Past this many frames ahead, a seek is assumed cheaper than decoding forward (even without
# knowing where the next keyframe is).
_FORWARD_SECONDS = 4.0
_SEEK_ATTEMPTS = 6


@dataclass(frozen=True)
class DecodedFrame:
    """One picture of a clip: its index, its time from the first picture, and its RGB pixels."""

    index: int
    pts_seconds: float
    rgb: npt.NDArray[np.uint8]


def _describe(exc: BaseException) -> str:
    """An FFmpeg error without the file name or URL (a presigned URL carries a signature)."""
    if isinstance(exc, av.FFmpegError) and exc.strerror:
        return str(exc.strerror)
    return type(exc).__name__


def _open_container(source: str, timeout: float) -> Any:
    scheme = urlsplit(source).scheme.lower()
    if scheme in ("http", "https"):
        options = {"protocol_whitelist": "http,https,tcp,tls"}
        where = urlsplit(source).hostname or "the server"
        try:
            return av.open(source, options=options, timeout=(timeout, timeout))
        except av.FFmpegError as exc:
            raise PlaybackError(f"cannot open the clip from {where}: {_describe(exc)}") from None
    # A one-letter scheme is a Windows drive, not a protocol.
    if len(scheme) > 1:
        raise PlaybackError(f"unsupported clip source ({scheme}:): use a file or an http(s) URL")
    path = Path(source)
    if not path.is_file():
        raise PlaybackError(f"clip not found: {path.name}")
    try:
        # "file:" stops FFmpeg from reading protocol prefixes ("concat:", "subfile:") in a name.
        return av.open(
            "file:" + str(path.resolve()), options={"protocol_whitelist": "file"}, timeout=timeout
        )
    except av.FFmpegError as exc:
        raise PlaybackError(f"cannot open {path.name}: {_describe(exc)}") from None


class ClipReader:
    """Decodes any picture of a clip by index, cheaply when moving forward or stepping back.

    Frame ``k`` is the picture presented ``k / fps`` seconds after the first one. The reader
    remembers where its decoder stands: moving forward decodes onward from there; anything else
    seeks to the keyframe at or before the wanted picture and decodes forward, dropping pictures
    by time. Keyframe positions are learned (from a packet scan of local files, and from
    decoding), so later seeks go straight to the right keyframe. Recently converted pictures are
    kept, so stepping backward decodes each GOP once.

    Meant for one worker thread; the methods hold a lock, so ``close`` may come from another.
    """

    def __init__(
        self,
        source: str,
        *,
        target_size: tuple[int, int] | None = None,
        timeout: float = 10.0,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
    ) -> None:
        self._lock = threading.RLock()
        self._target_size = target_size
        self._cache: OrderedDict[int, DecodedFrame] = OrderedDict()
        self._cache_bytes = cache_bytes
        self._cached_bytes = 0
        self._last_returned = -1
        self._closed = False
        self._container = _open_container(source, timeout)
        try:
            first = self._setup(source, timeout)
            self._cache_frame(self._convert(first, 0))
        except av.FFmpegError as exc:
            self._container.close()
            raise PlaybackError(f"the clip cannot be decoded: {_describe(exc)}") from None
        except BaseException:
            self._container.close()
            raise

    def _setup(self, source: str, timeout: float) -> av.VideoFrame:
        """Read the stream's parameters and decode the first picture (returned)."""
        container = self._container
        if not container.streams.video:
            raise PlaybackError("the clip has no video")
        stream = container.streams.video[0]
        # Frame threading decodes as fast as the ffmpeg CLI; the default slice threading does not.
        stream.codec_context.thread_type = "AUTO"
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        if not rate or stream.time_base is None:
            raise PlaybackError("the clip has no frame rate")
        self._stream = stream
        self._rate = Fraction(rate)
        self._time_base = Fraction(stream.time_base)
        width, height = stream.codec_context.width, stream.codec_context.height
        if width <= 0 or height <= 0:
            raise PlaybackError("the clip's picture size is unknown")
        self._size = (width, height)
        sar = stream.codec_context.sample_aspect_ratio
        self._display_aspect = float(width / height) * (float(sar) if sar else 1.0)
        self._keyframes: list[int] = []
        self._gop = max(1, round(self._rate * 2))

        self._frames: Any = container.decode(stream)
        self._lookahead: Any = None
        self._current: tuple[Any, int] | None = None
        first: av.VideoFrame | None = next(self._frames, None)
        if first is None:
            raise PlaybackError("the clip holds no decodable picture")
        self._origin = first.pts if first.pts is not None else 0
        self._current = (first, 0)
        self._learn_keyframe(first, 0)

        # A local file is cheap to read through once, and an MPEG-TS stream does not know its
        # length; an MP4 served over HTTP does, and is not downloaded a second time.
        local = urlsplit(source).scheme.lower() not in ("http", "https")
        last_index = self._scan(source, timeout) if local or stream.frames <= 0 else -1
        if last_index >= 0:
            self._frame_count = last_index + 1
        elif stream.frames > 0:
            self._frame_count = int(stream.frames)
        else:
            seconds = (
                float(stream.duration * self._time_base)
                if stream.duration
                else (container.duration or 0) / av.time_base
            )
            self._frame_count = max(1, round(seconds * self._rate))
        return first

    def _scan(self, source: str, timeout: float) -> int:
        """Learn the keyframes and the last picture's index from the packets; -1 on failure."""
        last = -1
        try:
            with _open_container(source, timeout) as scan:
                for packet in scan.demux(scan.streams.video[0]):
                    if packet.pts is None:
                        continue
                    index = self._index_of_pts(packet.pts)
                    last = max(last, index)
                    if packet.is_keyframe and index >= 0:
                        self._add_keyframe(index)
        except (av.FFmpegError, PlaybackError):
            # Decoding already worked: a failed scan costs only the count's exactness.
            return -1
        return last

    # -- public API ----------------------------------------------------------------------

    @property
    def fps(self) -> float:
        """Pictures per second."""
        return float(self._rate)

    @property
    def frame_count(self) -> int:
        """Number of pictures (exact for local files and MP4; estimated for other streams)."""
        return self._frame_count

    @property
    def duration(self) -> float:
        """Seconds covered by the pictures (``frame_count / fps``)."""
        return float(self._frame_count / self._rate)

    @property
    def size(self) -> tuple[int, int]:
        """The coded picture size, ``(width, height)``."""
        return self._size

    @property
    def display_aspect(self) -> float:
        """Width over height as the picture should be shown (sample aspect ratio applied)."""
        return self._display_aspect

    @property
    def target_size(self) -> tuple[int, int] | None:
        """The size RGB arrays are scaled to, or None for the coded size."""
        return self._target_size

    @target_size.setter
    def target_size(self, size: tuple[int, int] | None) -> None:
        with self._lock:
            if size != self._target_size:
                self._target_size = size
                self._cache.clear()
                self._cached_bytes = 0

    def frame_at(self, index: int) -> DecodedFrame:
        """Picture ``index`` (0-based); where the clip has a hole, the picture shown at that time.

        Raises ``IndexError`` outside ``[0, frame_count)`` and ``PlaybackError`` if decoding fails.
        """
        with self._lock:
            self._check_open()
            if not 0 <= index < self._frame_count:
                raise IndexError(f"frame {index} is outside 0..{self._frame_count - 1}")
            try:
                frame = self._frame_at(index)
            except av.FFmpegError as exc:
                # The decoder's state is unknown now: the next request starts with a seek.
                self._current = self._lookahead = None
                raise PlaybackError(f"decoding failed: {_describe(exc)}") from None
            self._last_returned = frame.index
            return frame

    def next_frame(self) -> DecodedFrame | None:
        """The picture after the one last returned (the first one at the start), None at the end."""
        with self._lock:
            following = self._last_returned + 1
            if following >= self._frame_count:
                return None
            return self.frame_at(following)

    def close(self) -> None:
        """Release the file or connection; later calls raise ``PlaybackError``."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._frames = None
                self._lookahead = self._current = None
                self._cache.clear()
                self._container.close()

    def __enter__(self) -> ClipReader:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- decoding ------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise PlaybackError("the clip is closed")

    def _frame_at(self, index: int) -> DecodedFrame:
        cached = self._cache.get(index)
        if cached is not None:
            self._cache.move_to_end(index)
            return cached
        stepping_back = index == self._last_returned - 1
        if self._current is not None and self._current[1] == index:
            return self._cache_frame(self._convert(*self._current))
        if self._must_seek(index):
            self._seek(index)
        # A step back is usually followed by more: keep what leads up to the target on the way.
        keep_from = index - self._cache_capacity() // 2 + 1 if stepping_back else index
        return self._decode_until(index, keep_from)

    def _must_seek(self, index: int) -> bool:
        if self._current is None:
            return True
        position = self._current[1]
        if index <= position:
            return True
        ahead = index - position
        if ahead > self._rate * _FORWARD_SECONDS:
            return True
        # A keyframe between here and there means a seek skips decoding that stretch.
        later = bisect.bisect_right(self._keyframes, position)
        return ahead > 2 and later < len(self._keyframes) and self._keyframes[later] <= index

    def _seek(self, index: int) -> None:
        """Position the decoder so that its next picture is at or before ``index``."""
        target = index
        for attempt in range(_SEEK_ATTEMPTS):
            known = bisect.bisect_right(self._keyframes, target) - 1
            if known >= 0:
                target = self._keyframes[known]
            if attempt == _SEEK_ATTEMPTS - 1:
                target = 0
            self._container.seek(self._pts_of(target), stream=self._stream, backward=True)
            self._frames = self._container.decode(self._stream)
            self._current = None
            self._lookahead = next(self._frames, None)
            if self._lookahead is not None:
                landed = self._index_of(self._lookahead)
                if landed <= index:
                    return
            else:
                landed = index
            # Some demuxers (MPEG-TS) land on the first keyframe at or after the target.
            target = max(0, min(target, landed) - self._gop * (attempt + 1))
        raise PlaybackError(f"cannot seek to frame {index}")

    def _decode_until(self, index: int, keep_from: int) -> DecodedFrame:
        while True:
            frame = self._lookahead if self._lookahead is not None else next(self._frames, None)
            self._lookahead = None
            if frame is None:
                break  # the end: show the last picture there is
            position = self._index_of(frame)
            if position > index:
                self._lookahead = frame
                break
            self._current = (frame, position)
            self._learn_keyframe(frame, position)
            if keep_from <= position < index:
                self._cache_frame(self._convert(frame, position))
            if position == index:
                break
        if self._current is None:
            raise PlaybackError(f"frame {index} cannot be decoded")
        if self._lookahead is None and self._current[1] < index:
            # The clip ended early (the frame count was an estimate).
            self._frame_count = self._current[1] + 1
        return self._cache_frame(self._convert(*self._current))

    def _convert(self, frame: Any, index: int) -> DecodedFrame:
        width, height = self._target_size or self._size
        rgb = frame.reformat(width=width, height=height, format="rgb24", threads=1).to_ndarray()
        pts = frame.pts if frame.pts is not None else self._pts_of(index)
        return DecodedFrame(
            index=index,
            pts_seconds=float((pts - self._origin) * self._time_base),
            rgb=np.ascontiguousarray(rgb),
        )

    def _cache_capacity(self) -> int:
        width, height = self._target_size or self._size
        return max(1, self._cache_bytes // (width * height * 3))

    def _cache_frame(self, frame: DecodedFrame) -> DecodedFrame:
        if frame.index not in self._cache:
            self._cache[frame.index] = frame
            self._cached_bytes += frame.rgb.nbytes
        self._cache.move_to_end(frame.index)
        while self._cached_bytes > self._cache_bytes and len(self._cache) > 1:
            _, dropped = self._cache.popitem(last=False)
            self._cached_bytes -= dropped.rgb.nbytes
        return frame

    # -- time and keyframes --------------------------------------------------------------

    def _index_of_pts(self, pts: int) -> int:
        return round((pts - self._origin) * self._time_base * self._rate)

    def _index_of(self, frame: Any) -> int:
        if frame.pts is None:
            return self._current[1] + 1 if self._current is not None else 0
        return self._index_of_pts(frame.pts)

    def _pts_of(self, index: int) -> int:
        return self._origin + round(Fraction(index) / self._rate / self._time_base)

    def _learn_keyframe(self, frame: Any, index: int) -> None:
        if frame.key_frame:
            self._add_keyframe(index)

    def _add_keyframe(self, index: int) -> None:
        spot = bisect.bisect_left(self._keyframes, index)
        if spot == len(self._keyframes) or self._keyframes[spot] != index:
            self._keyframes.insert(spot, index)
            if spot > 0:
                self._gop = max(self._gop, index - self._keyframes[spot - 1])
