"""Independent checks of a finished clip: decode it, ask ffprobe, compare it with the footage."""

from __future__ import annotations

import itertools
import json
import math
import subprocess
from dataclasses import dataclass
from pathlib import Path

import av

from tests.support.media import stamp_of
from vms_desktop.engine.segment_buffer import GAP_TOLERANCE


@dataclass
class ProbedClip:
    """What decoding a clip found."""

    codec: str
    width: int
    height: int
    fps: float
    frames: list[av.VideoFrame]
    duration: float
    audio_codec: str | None
    audio_duration: float
    faststart: bool


def decode_clip(path: Path) -> ProbedClip:
    """Decode every picture of a clip with PyAV."""
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        audio = container.streams.audio[0] if container.streams.audio else None
        frames = list(container.decode(video))
        audio_duration = 0.0
        if audio is not None:
            container.seek(0)
            samples = sum(f.samples for f in container.decode(audio))
            audio_duration = samples / audio.codec_context.sample_rate
        fps = float(video.average_rate or 0)
        return ProbedClip(
            codec=video.codec_context.name,
            width=video.codec_context.width,
            height=video.codec_context.height,
            fps=fps,
            frames=frames,
            duration=len(frames) / fps if fps else 0.0,
            audio_codec=audio.codec_context.name if audio is not None else None,
            audio_duration=audio_duration,
            faststart=_moov_before_mdat(path),
        )


def ffprobe(path: Path) -> dict[str, object]:
    """ffprobe's view of a clip (raises if ffprobe rejects it)."""
    result = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-print_format",
            "json",
            "-show_format",
            "-show_streams",
            "-count_frames",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    if result.stderr.strip():
        raise AssertionError(f"ffprobe complained: {result.stderr.strip()}")
    data: dict[str, object] = json.loads(result.stdout)
    return data


def _moov_before_mdat(path: Path) -> bool:
    data = path.read_bytes()
    moov, mdat = data.find(b"moov"), data.find(b"mdat")
    return 0 <= moov < mdat


@dataclass(frozen=True)
class Recording:
    """Footage a test camera recorded: ``frames`` pictures at ``fps`` from UTC ``start``.

    The pictures are stamped from 0 ms (``tests.support.media.make_camera_file`` with
    ``start=0``), so picture ``k`` carries ``k / fps`` seconds.
    """

    start: float
    frames: int
    fps: int = 15

    @property
    def end(self) -> float:
        """When the last picture's time runs out."""
        return self.start + self.frames / self.fps

    def stamp_at(self, moment: float) -> int:
        """The stamp (ms) of the newest picture at or before ``moment`` (the last one after it)."""
        index = min(math.floor((moment - self.start) * self.fps + 1e-6), self.frames - 1)
        return round(index * 1000 / self.fps)


def expected_gaps(
    recordings: list[Recording], start: float, end: float, tolerance: float = GAP_TOLERANCE
) -> list[tuple[float, float]]:
    """The parts of ``[start, end]`` a clip must show black and name as gaps.

    A hole no longer than ``tolerance`` between two stretches (or before the window's end) is
    jitter: the last picture stays. A hole with no picture before it always counts.
    """
    holes: list[tuple[float, float]] = []
    cursor = -math.inf
    for recording in sorted(recordings, key=lambda r: r.start):
        if recording.start > cursor:
            holes.append((cursor, recording.start))
        cursor = max(cursor, recording.end)
    holes.append((cursor, math.inf))
    gaps = []
    for hole_start, hole_end in holes:
        if min(hole_end, end) - hole_start <= tolerance:
            continue
        low, high = max(hole_start, start), min(hole_end, end)
        if high - low > 1e-3:
            gaps.append((low, high))
    return gaps


def hole_lengths(recordings: list[Recording], end: float) -> list[float]:
    """Lengths of the holes between stretches (a hole still open at ``end`` counted up to it)."""
    ordered = sorted(recordings, key=lambda r: r.start)
    lengths = []
    for earlier, later in itertools.pairwise(ordered):
        lengths.append(min(later.start, end) - earlier.end)
    if ordered:
        lengths.append(end - ordered[-1].end)
    return lengths


def is_black(frame: av.VideoFrame) -> bool:
    """True when the picture is black (a gap), allowing for compression noise."""
    return int(frame.to_ndarray(format="gray").max()) <= 24


def check_timeline(
    frames: list[av.VideoFrame],
    gaps: list[tuple[float, float]],
    recordings: list[Recording],
    start: float,
    fps: int,
) -> None:
    """Every clip picture is black inside a gap, else shows the footage of its slot's time.

    Slot ``k`` stands for ``start + k / fps``; its picture's stamp must be the newest recorded
    picture at or before that moment, within one source frame.
    """
    for index, frame in enumerate(frames):
        moment = start + index / fps
        if any(abs(moment - edge) <= 1e-3 for gap in gaps for edge in gap):
            continue  # on a gap's edge either picture is right
        if any(low < moment < high for low, high in gaps):
            assert is_black(frame), f"slot {index} lies in a gap but is not black"
            continue
        source = max((r for r in recordings if r.start <= moment + 1e-3), key=lambda r: r.start)
        expected = source.stamp_at(moment)
        shown = stamp_of(frame)
        assert shown is not None, f"slot {index}: no readable stamp (expected {expected} ms)"
        assert abs(shown - expected) <= 1000 / source.fps + 1, (
            f"slot {index}: shows {shown} ms of the stretch from {source.start}, "
            f"expected {expected} ms"
        )
