"""Independent checks of a finished clip: decode it, and ask the ffprobe CLI about it."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import av


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
