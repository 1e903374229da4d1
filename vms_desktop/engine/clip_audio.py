"""An event clip's sound: decoded camera audio placed on the clip's timeline, silence elsewhere."""

from __future__ import annotations

from fractions import Fraction
from typing import TYPE_CHECKING, Any

import av

if TYPE_CHECKING:
    import numpy as np

# AAC sample rates; audio at another rate is resampled to 48 kHz.
_AAC_RATES = {96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000}


class AudioTrack:
    """Places decoded audio on the clip's timeline, with silence where the camera sent none."""

    def __init__(self, stream: Any, output: Any, window_start: float, duration: float) -> None:
        context = stream.codec_context
        rate = context.sample_rate or 48000
        self.rate = rate if rate in _AAC_RATES else 48000
        channels = getattr(context.layout, "nb_channels", 1) or 1
        self.layout = "stereo" if channels >= 2 else "mono"
        self.channels = 2 if channels >= 2 else 1
        self.encoder = output.add_stream("aac", rate=self.rate, layout=self.layout)
        self.encoder.bit_rate = 64000 * self.channels
        self.resampler = av.AudioResampler(format="fltp", layout=self.layout, rate=self.rate)
        self.window_start = window_start
        self.total = round(duration * self.rate)
        self.cursor = 0  # samples written so far

    def new_source(self) -> None:
        """Expect frames from a new demuxer, whose format may differ from the last one's."""
        self.resampler = av.AudioResampler(format="fltp", layout=self.layout, rate=self.rate)

    def add(self, frame: Any, frame_time: float, output: Any) -> None:
        """Place a decoded frame whose first sample was heard at ``frame_time`` (UTC seconds)."""
        for converted in self.resampler.resample(frame):
            samples = converted.to_ndarray()
            position = round((frame_time - self.window_start) * self.rate)
            frame_time += converted.samples / self.rate
            self._place(samples, position, output)

    def _place(self, samples: np.ndarray, position: int, output: Any) -> None:
        import numpy as np  # only clips with audio need it; a video-only build never loads it

        if position > self.cursor:
            self._write(np.zeros((self.channels, position - self.cursor), np.float32), output)
        skip = self.cursor - position
        if skip > 0:
            samples = samples[:, skip:]
        samples = samples[:, : max(0, self.total - self.cursor)]
        if samples.shape[1]:
            self._write(samples, output)

    def _write(self, samples: np.ndarray, output: Any) -> None:
        import numpy as np

        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(samples, dtype=np.float32), format="fltp", layout=self.layout
        )
        frame.sample_rate = self.rate
        frame.pts = self.cursor
        frame.time_base = Fraction(1, self.rate)
        self.cursor += samples.shape[1]
        for packet in self.encoder.encode(frame):
            output.mux(packet)

    def finish(self, output: Any) -> None:
        """Pad the rest of the window with silence and flush the encoder."""
        import numpy as np

        if self.cursor < self.total:
            self._write(np.zeros((self.channels, self.total - self.cursor), np.float32), output)
        for packet in self.encoder.encode(None):
            output.mux(packet)
