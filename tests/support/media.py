"""Synthetic camera media for tests: stamped H.264 (optionally with AAC) made with PyAV."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from vms_desktop.engine import framestamp
from vms_desktop.engine.demo_camera import DemoPicture
from vms_desktop.engine.segment_buffer import SegmentBuffer
from vms_desktop.engine.segment_writer import SegmentWriter


def make_camera_file(
    path: Path,
    *,
    seconds: float,
    start: float,
    width: int = 640,
    height: int = 480,
    fps: int = 15,
    gop_seconds: float = 2.0,
    audio: bool = False,
) -> Path:
    """Write a camera-like clip whose frame ``k`` is stamped with UTC ``start + k / fps``."""
    picture = DemoPicture(width, height, "TEST")
    with av.open(str(path), "w", format="mpegts") as out:
        video = out.add_stream(
            "libx264",
            rate=fps,
            options={"preset": "ultrafast", "g": str(round(fps * gop_seconds)), "bf": "0"},
        )
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        sound = None
        if audio:
            sound = out.add_stream("aac", rate=48000, layout="mono")
        frames = round(seconds * fps)
        samples_per_frame = 48000 // fps
        phase = np.arange(samples_per_frame)
        for index in range(frames):
            frame = av.VideoFrame.from_ndarray(
                picture.make(index, start + index / fps), format="yuv420p"
            )
            frame.pts = index
            frame.time_base = Fraction(1, fps)
            for packet in video.encode(frame):
                out.mux(packet)
            if sound is not None:
                # Interleaved with the pictures, as a camera sends it.
                offset = index * samples_per_frame
                tone = 0.2 * np.sin(2 * np.pi * 440 * (offset + phase) / 48000)
                chunk = av.AudioFrame.from_ndarray(
                    tone.astype(np.float32).reshape(1, -1), format="fltp", layout="mono"
                )
                chunk.sample_rate = 48000
                chunk.pts = offset
                chunk.time_base = Fraction(1, 48000)
                for packet in sound.encode(chunk):
                    out.mux(packet)
        for packet in video.encode(None):
            out.mux(packet)
        if sound is not None:
            for packet in sound.encode(None):
                out.mux(packet)
    return path


class FileCamera:
    """One recording session fed from a file: its packets written into a buffer at UTC times.

    The file's first picture is stamped as arriving at ``start``; every later packet keeps its
    distance from it, whatever moment ``start`` is (any date, any phase of the timestamp
    cycle). :meth:`record_until` writes on up to a point of the file, so a test can pause the
    "camera" mid-segment (the segment stays open) and :meth:`finish` ends the session, as a
    camera going dark does.
    """

    def __init__(self, buffer: SegmentBuffer, path: Path, start: float) -> None:
        self.start = start
        self._writer = SegmentWriter(buffer)
        self._source = av.open(str(path))
        video = self._source.streams.video[0]
        audio = self._source.streams.audio[0] if self._source.streams.audio else None
        self._writer.start(video, audio)
        selected = [video] + ([audio] if audio is not None else [])
        # The first picture's time is the reference for every stream.
        self._first = float(video.start_time * video.time_base)
        self._packets = self._source.demux(selected)
        self._pending: av.Packet | None = None

    def record_until(self, seconds: float | None = None) -> None:
        """Write the file's pictures before ``seconds`` into the buffer (all of them when None)."""
        while True:
            packet = self._pending or next(self._packets, None)
            self._pending = None
            if packet is None:
                return
            if packet.pts is None or packet.dts is None:
                continue
            pts = float(packet.pts * packet.time_base) - self._first
            # Paused at a picture: sound interleaved before it is written with what precedes.
            if seconds is not None and packet.stream.type == "video" and pts >= seconds - 1e-6:
                self._pending = packet
                return
            dts = float(packet.dts * packet.time_base) - self._first
            self._writer.write(packet, self.start + pts, self.start + dts)

    def finish(self) -> None:
        """End the session: the open segment is closed, the camera is dark."""
        self._writer.finish()
        self._source.close()


def record_file(
    buffer: SegmentBuffer, path: Path, start: float, *, seconds: float | None = None
) -> None:
    """Record a file (or its first ``seconds``) as if its first packet arrived at UTC ``start``."""
    camera = FileCamera(buffer, path, start)
    try:
        camera.record_until(seconds)
    finally:
        camera.finish()


def stamp_of(frame: av.VideoFrame, content: tuple[int, int, int, int] | None = None) -> int | None:
    """The stamp (ms) on a decoded frame; ``content`` = (x, y, w, h) crops padding first."""
    luma = frame.to_ndarray(format="gray")
    if content is not None:
        x, y, w, h = content
        luma = luma[y : y + h, x : x + w]
    return framestamp.read(luma)
