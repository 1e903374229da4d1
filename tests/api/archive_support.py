"""Archive tests' shared parts: footage recorded at fixed moments, and ffprobe/ffmpeg readers."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from tests.api.conftest import Running, ServiceFactory
from tests.support.media import make_camera_file, record_file
from tests.support.ports import free_port
from vms_desktop.engine import framestamp
from vms_desktop.engine.clock import WallClock
from vms_desktop.engine.segment_buffer import TS_HZ, TS_WRAP

# Two recording runs with a hole between: fixed moments, so no verdict depends on today's date.
RUN_A = datetime(2026, 3, 14, 15, 9, 26, tzinfo=UTC).timestamp()
RUN_SECONDS = 12.0
HOLE_SECONDS = 8.0
RUN_B = RUN_A + RUN_SECONDS + HOLE_SECONDS
WIDTH, HEIGHT, FPS = 320, 240, 15
TOKEN = "archive-test-token-0123456789"
RAW_GRAY = ("-f", "rawvideo", "-pix_fmt", "gray", "-")
# Seconds the 33-bit 90 kHz timestamps take to come round again.
CYCLE = TS_WRAP / TS_HZ


def iso(seconds: float) -> str:
    """ISO 8601 UTC text of a moment, as the API writes them."""
    moment = datetime.fromtimestamp(seconds, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def camera_files(folder: Path) -> tuple[Path, Path]:
    """The two runs' footage, each picture stamped with the UTC moment it is recorded at."""
    return (
        make_camera_file(
            folder / "run-a.ts", seconds=RUN_SECONDS, start=RUN_A, width=WIDTH, height=HEIGHT
        ),
        make_camera_file(
            folder / "run-b.ts", seconds=RUN_SECONDS, start=RUN_B, width=WIDTH, height=HEIGHT
        ),
    )


def archived_service(
    make_service: ServiceFactory, files: tuple[Path, Path], *, token: str | None = TOKEN
) -> Running:
    """A service whose cam01 archive holds both runs (its camera itself never answers), and a
    cam02 with nothing recorded; its clock reads a minute after the second run.
    """
    nowhere = f"rtsp://127.0.0.1:{free_port()}/nothing"
    running = make_service(
        {
            "CAMERA_CAM01_URL": nowhere,
            "CAMERA_CAM02_URL": nowhere,
            "BUFFER_RETENTION_SECONDS": "100000",
        },
        token=token,
        clock=WallClock(RUN_B + RUN_SECONDS + 60),
    )
    buffer = running.runtime.recorder.buffer("cam01")
    record_file(buffer, files[0], RUN_A)
    record_file(buffer, files[1], RUN_B)
    return running


def window(start: float, end: float) -> dict[str, str]:
    """Query parameters of a window."""
    return {"start": iso(start), "end": iso(end)}


def ffprobe(url: str, *args: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """ffprobe's JSON answer about ``url``."""
    command = ["ffprobe", "-v", "error", "-of", "json"]
    if headers:
        command += ["-headers", "".join(f"{k}: {v}\r\n" for k, v in headers.items())]
    done = subprocess.run(
        [*command, *args, url], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


def first_packet_time(url: str, *options: str, headers: dict[str, str] | None = None) -> float:
    """The presentation time (s) of the first video packet ffprobe reads from ``url``."""
    answer = ffprobe(
        url,
        *options,
        "-select_streams",
        "v:0",
        "-show_entries",
        "packet=pts_time",
        "-read_intervals",
        "%+#1",
        headers=headers,
    )
    return float(answer["packets"][0]["pts_time"])


def same_in_cycle(pts_time: float, moment: float) -> bool:
    """Whether a 33-bit 90 kHz timestamp (as seconds) names ``moment`` (UTC), to a ms."""
    offset = (pts_time - moment) % CYCLE
    return min(offset, CYCLE - offset) < 0.002


def decoded_stamps(url: str, *, width: int = WIDTH, height: int = HEIGHT) -> list[int | None]:
    """The time stamped on every picture ffmpeg decodes from ``url`` (ms), in order.

    Pictures are passed through as decoded: none is repeated to fill a hole.
    """
    done = subprocess.run(
        [*("ffmpeg", "-v", "error", "-i", url, "-fps_mode", "passthrough"), *RAW_GRAY],
        capture_output=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    frames = np.frombuffer(done.stdout, dtype=np.uint8).reshape(-1, height, width)
    return [framestamp.read(frame) for frame in frames]


def playlist_lines(text: str) -> list[str]:
    """A playlist's lines, each checked to be a tag or a relative URI."""
    lines = text.splitlines()
    for line in lines:
        assert line.startswith("#") or not line.startswith(("/", "http:", "https:")), line
    return lines
