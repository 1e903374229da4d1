"""Opening camera sources with PyAV: RTSP and HTTP URLs, looped video files, the demo camera.

Every source opens into an :class:`OpenedSource`: its video (and optional audio) stream and an
iterator of packets that arrive in real time. Network sources are bounded by timeouts so a dead
or silent camera raises instead of hanging; error texts are redacted because FFmpeg puts the full
URL, credentials included, into its messages.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import av

from vms_desktop.domain.errors import AuthError, SourceError
from vms_desktop.domain.redaction import redact_text
from vms_desktop.engine.clock import SYSTEM_CLOCK, WallClock
from vms_desktop.engine.demo_camera import DemoCameraStream


@dataclass
class OpenedSource:
    """An open camera stream."""

    container: Any
    video: Any
    audio: Any | None
    packets: Iterator[Any]
    description: str

    def close(self) -> None:
        """Release the connection or file."""
        with contextlib.suppress(av.FFmpegError, OSError):
            self.container.close()


@dataclass(frozen=True)
class Timeouts:
    """Bounds on how long opening a source and waiting for its next packet may take."""

    connect: float = 10.0
    read: float = 10.0


DEFAULT_TIMEOUTS = Timeouts()


def secrets_of(url: str) -> tuple[str, ...]:
    """The credentials inside a URL, for redaction."""
    parts = urlsplit(url)
    return tuple(s for s in (parts.password, parts.username) if s)


def describe_error(exc: BaseException, url: str) -> str:
    """A short, credential-free description of an FFmpeg or OS error."""
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return redact_text(str(text), secrets_of(url))


def is_auth_error(exc: BaseException) -> bool:
    """True when an FFmpeg error means the camera rejected our credentials."""
    if isinstance(exc, av.error.HTTPUnauthorizedError | av.error.HTTPForbiddenError):
        return True
    text = str(exc).lower()
    return "401" in text or "unauthorized" in text or "403" in text


def open_source(
    url: str, timeouts: Timeouts = DEFAULT_TIMEOUTS, clock: WallClock = SYSTEM_CLOCK
) -> OpenedSource:
    """Open a camera source; raises :class:`AuthError` or :class:`SourceError`."""
    scheme = urlsplit(url).scheme.lower()
    try:
        if scheme == "demo":
            return _open_demo(url, clock)
        if scheme in ("rtsp", "rtsps", "http", "https"):
            return _open_network(url, timeouts)
        return _open_file(Path(url), clock)
    except SourceError:
        raise
    except (av.FFmpegError, OSError) as exc:
        message = describe_error(exc, url)
        if is_auth_error(exc):
            raise AuthError(f"camera refused the credentials ({message})") from None
        raise SourceError(message) from None


def _streams(container: Any) -> tuple[Any, Any | None]:
    if not container.streams.video:
        raise SourceError("the source has no video stream")
    video = container.streams.video[0]
    audio = container.streams.audio[0] if container.streams.audio else None
    return video, audio


def _open_network(url: str, timeouts: Timeouts) -> OpenedSource:
    options = {
        # Interleaved over the RTSP connection: survives NAT and firewalls, no UDP loss.
        "rtsp_transport": "tcp",
        "timeout": str(int(timeouts.read * 1_000_000)),
        # Pictures read while probing arrive later in one burst; probe briefly (the SDP already
        # describes the streams).
        "analyzeduration": "500000",
        "probesize": "500000",
    }
    if not url.lower().startswith("rtsp"):
        options.pop("rtsp_transport")
    container = av.open(url, options=options, timeout=(timeouts.connect, timeouts.read))
    try:
        video, audio = _streams(container)
    except SourceError:
        container.close()
        raise
    selected = [video] + ([audio] if audio is not None else [])
    scheme = urlsplit(url).scheme.upper()
    return OpenedSource(
        container, video, audio, container.demux(selected), f"{scheme} {video.codec_context.name}"
    )


def _open_demo(url: str, clock: WallClock) -> OpenedSource:
    query = parse_qs(urlsplit(url).query)

    def number(name: str, default: int) -> int:
        try:
            return int(query.get(name, [default])[0])
        except ValueError:
            raise SourceError(f"demo camera option {name!r} must be a whole number") from None

    width, height, fps = number("width", 1280), number("height", 720), number("fps", 15)
    label = query.get("label", ["DEMO"])[0][:24]
    stream = DemoCameraStream(width, height, fps, label=label, clock=clock)
    container: Any = av.open(
        stream, "r", format="nut", options={"probesize": "32", "analyzeduration": "0"}
    )
    video, _ = _streams(container)
    return OpenedSource(
        container, video, None, container.demux(video), f"demo {width}x{height} {fps} fps"
    )


def _open_file(path: Path, clock: WallClock) -> OpenedSource:
    if not path.is_file():
        raise SourceError(f"video file not found: {path.name}")
    container = av.open(str(path))
    try:
        video, audio = _streams(container)
    except SourceError:
        container.close()
        raise
    packets = _looped_in_real_time(container, video, audio, clock)
    return OpenedSource(container, video, audio, packets, f"file {path.name} (looped)")


def _looped_in_real_time(
    container: Any, video: Any, audio: Any | None, clock: WallClock
) -> Iterator[Any]:
    """Packets of a file, paced like a live camera, starting over at the end without a jump.

    Each loop's timestamps continue where the previous one ended, so the file reads as one
    endless stream.
    """
    selected = [video] + ([audio] if audio is not None else [])
    started = clock.now()
    offset = 0.0  # seconds added to this loop's timestamps
    loop_end = 0.0
    first: float | None = None
    while True:
        count = 0
        for packet in container.demux(selected):
            if packet.dts is None or packet.pts is None:
                continue  # the demuxer's end-of-stream marker
            seconds = float(packet.pts * packet.time_base)
            if first is None:
                first = seconds
            position = seconds - first + offset
            duration = float((packet.duration or 0) * packet.time_base)
            loop_end = max(loop_end, position + duration)
            clock.sleep_until(started + position)
            shift = round(offset / packet.time_base)
            packet.pts += shift
            packet.dts += shift
            count += 1
            yield packet
        if count == 0:
            raise SourceError("the video file holds no packets")
        offset = loop_end
        container.seek(0)
