"""The built-in demo camera: a generated moving picture with a burned-in clock, as live H.264.

It lets a fresh installation show and record something real with no camera attached. Frames are
made in real time (frame ``k`` at ``t0 + k / fps``), carry the UTC time they stand for both as text
and as a machine-readable :mod:`~vms_desktop.engine.framestamp`, and are encoded in process; the
result is read like any other camera stream, through a file-like object PyAV demuxes.
"""

from __future__ import annotations

import contextlib
import io
from datetime import UTC, datetime
from typing import Any

import av
import numpy as np

from vms_desktop.engine import framestamp
from vms_desktop.engine.clock import SYSTEM_CLOCK, WallClock

# 5x7 glyphs, one string of five 0/1 columns per row: just what a clock line needs.
_GLYPHS: dict[str, tuple[str, ...]] = {
    "0": ("01110", "10001", "10011", "10101", "11001", "10001", "01110"),
    "1": ("00100", "01100", "00100", "00100", "00100", "00100", "01110"),
    "2": ("01110", "10001", "00001", "00010", "00100", "01000", "11111"),
    "3": ("11110", "00001", "00001", "01110", "00001", "00001", "11110"),
    "4": ("00010", "00110", "01010", "10010", "11111", "00010", "00010"),
    "5": ("11111", "10000", "11110", "00001", "00001", "10001", "01110"),
    "6": ("00110", "01000", "10000", "11110", "10001", "10001", "01110"),
    "7": ("11111", "00001", "00010", "00100", "01000", "01000", "01000"),
    "8": ("01110", "10001", "10001", "01110", "10001", "10001", "01110"),
    "9": ("01110", "10001", "10001", "01111", "00001", "00010", "01100"),
    ":": ("00000", "01100", "01100", "00000", "01100", "01100", "00000"),
    "-": ("00000", "00000", "00000", "11111", "00000", "00000", "00000"),
    ".": ("00000", "00000", "00000", "00000", "00000", "01100", "01100"),
    " ": ("00000",) * 7,
    "C": ("01110", "10001", "10000", "10000", "10000", "10001", "01110"),
    "D": ("11110", "10001", "10001", "10001", "10001", "10001", "11110"),
    "E": ("11111", "10000", "10000", "11110", "10000", "10000", "11111"),
    "M": ("10001", "11011", "10101", "10101", "10001", "10001", "10001"),
    "O": ("01110", "10001", "10001", "10001", "10001", "10001", "01110"),
    "T": ("11111", "00100", "00100", "00100", "00100", "00100", "00100"),
    "U": ("10001", "10001", "10001", "10001", "10001", "10001", "01110"),
}
_GLYPH_MASKS = {
    char: np.array([[c == "1" for c in row] for row in rows], dtype=bool)
    for char, rows in _GLYPHS.items()
}


def draw_text(plane: np.ndarray, text: str, x: int, y: int, scale: int, value: int) -> None:
    """Draw ``text`` into a luma plane with the built-in 5x7 font, ``scale`` pixels per dot."""
    for index, char in enumerate(text):
        mask = _GLYPH_MASKS.get(char.upper(), _GLYPH_MASKS[" "])
        big = np.kron(mask, np.ones((scale, scale), dtype=bool))
        left = x + index * 6 * scale
        region = plane[y : y + big.shape[0], left : left + big.shape[1]]
        if region.shape != big.shape:
            return  # off the edge of the picture
        region[big] = value


class DemoPicture:
    """Makes the demo camera's YUV 4:2:0 pictures: gradient, moving bar, clock and stamp."""

    def __init__(self, width: int, height: int, label: str = "DEMO") -> None:
        self.width = width
        self.height = height
        self.label = label.upper()
        ramp = np.linspace(40, 160, width, dtype=np.float32)
        self._background = np.tile(ramp.astype(np.uint8), (height, 1))
        self._u = np.full((height // 2, width // 2), 110, dtype=np.uint8)
        self._v = np.full((height // 2, width // 2), 140, dtype=np.uint8)
        # The clock line (27 glyphs of 6 dots) must fit the width at any size.
        self._scale = max(1, min(height // 120, width // (27 * 6 + 6)))

    def make(self, index: int, moment: float) -> np.ndarray:
        """The picture for frame ``index``, standing for UTC time ``moment`` (a yuv420p array)."""
        luma = self._background.copy()
        bar = self.width // 12
        x = (index * max(2, self.width // 120)) % (self.width + bar) - bar
        luma[:, max(0, x) : max(0, x + bar)] = 225
        box = self.height // 6
        y = int((self.height - box) * (0.5 + 0.45 * np.sin(index / 20)))
        luma[y : y + box, self.width // 2 - box // 2 : self.width // 2 + box // 2] = 30
        stamp = datetime.fromtimestamp(moment, tz=UTC)
        clock = stamp.strftime("%Y-%m-%d %H:%M:%S.") + f"{stamp.microsecond // 1000:03d} UTC"
        scale = self._scale
        top = framestamp.strip_height(self.height) + scale * 3
        draw_text(luma, clock, scale * 3, top, scale, 250)
        draw_text(luma, self.label, scale * 3, top + scale * 10, scale, 250)
        row = bytearray(luma[: framestamp.strip_height(self.height)].tobytes())
        framestamp.burn(row, self.width, self.height, round(moment * 1000))
        luma[: framestamp.strip_height(self.height)] = np.frombuffer(row, np.uint8).reshape(
            -1, self.width
        )
        return np.concatenate(
            [luma, self._u.reshape(-1, self.width), self._v.reshape(-1, self.width)]
        )


class _ByteSink(io.RawIOBase):
    """Collects what the muxer writes."""

    def __init__(self, target: bytearray) -> None:
        super().__init__()
        self._target = target

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self._target.extend(data)
        return len(data)


class DemoCameraStream(io.RawIOBase):
    """A live NUT byte stream of the demo picture, produced in real time as it is read.

    Reading blocks until the next frame is due, like a network camera's socket.
    """

    def __init__(
        self,
        width: int = 1280,
        height: int = 720,
        fps: int = 15,
        gop_seconds: float = 2.0,
        label: str = "DEMO",
        clock: WallClock = SYSTEM_CLOCK,
    ) -> None:
        super().__init__()
        self.fps = fps
        self._clock = clock
        self._picture = DemoPicture(width, height, label)
        self._pending = bytearray()
        # NUT frames carry their size, so the reading demuxer hands each picture on as soon as
        # it arrives (MPEG-TS would hold it until the next one starts, a frame of latency).
        self._muxer = av.open(_ByteSink(self._pending), "w", format="nut")
        stream = self._muxer.add_stream(
            "libx264",
            rate=fps,
            options={
                "preset": "ultrafast",
                "tune": "zerolatency",
                "g": str(max(1, round(fps * gop_seconds))),
                "bf": "0",
            },
        )
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        self._encoder = stream
        self._index = 0
        self._start = clock.now()
        self._closed_for_reading = False

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        while not self._pending:
            if self._closed_for_reading:
                return 0
            self._produce_frame()
        count = min(len(target), len(self._pending))
        target[:count] = self._pending[:count]
        del self._pending[:count]
        return count

    def _produce_frame(self) -> None:
        due = self._start + self._index / self.fps
        now = self._clock.now()
        if due < now - 1.0:
            # The reader fell far behind (e.g. the machine was suspended): skip ahead instead
            # of producing a burst of stale pictures.
            self._start = now - self._index / self.fps
            due = now
        self._clock.sleep_until(due)
        frame = av.VideoFrame.from_ndarray(self._picture.make(self._index, due), format="yuv420p")
        frame.pts = self._index
        self._index += 1
        for packet in self._encoder.encode(frame):
            self._muxer.mux(packet)

    def close(self) -> None:
        if not self.closed:
            self._closed_for_reading = True
            with contextlib.suppress(av.FFmpegError):
                self._muxer.close()
        super().close()
