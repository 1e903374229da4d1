"""FFmpeg's messages reach Python logging, redacted, and logging can never freeze a decoder."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import av.logging
import pytest

from vms_desktop.engine.av_logging import parse_line

# Runs in a child process: descriptor 2 and FFmpeg's global log state are per process, and a
# deadlock must cost the child, not the test run.
_CHILD_PRELUDE = textwrap.dedent(
    """
    import faulthandler, logging, os, sys, time
    from fractions import Fraction
    import av
    from vms_desktop.app import configure_logging
    from vms_desktop.settings import load_settings

    base = sys.argv[1]
    settings = load_settings(env_files=[], environ={
        "LOCAL_STORAGE_PATH": base + "/clips", "BUFFER_PATH": base + "/buffer",
        "STATE_PATH": base + "/state", "DEMO_CAMERA": "off", "LOG_LEVEL": "INFO",
    })
    relay = configure_logging(settings)  # exactly what `python -m vms_desktop` does
    if len(sys.argv) > 4:
        av.logging.set_libav_level(int(sys.argv[4]))  # make decoder threads write many lines
    # A deadlock must end the child with every stack on stderr, not hang the suite.
    faulthandler.dump_traceback_later(float(sys.argv[2]), exit=True)
    seen = []

    class Count(logging.Handler):
        def emit(self, record):
            if record.name.startswith("libav"):
                seen.append(record.getMessage())

    logging.getLogger().addHandler(Count())
    """
)

_STRESS = _CHILD_PRELUDE + textwrap.dedent(
    """
    clip = base + "/clip.mp4"
    with av.open(clip, "w") as out:
        video = out.add_stream("libx264", rate=15, options={"g": "15", "preset": "ultrafast"})
        video.width, video.height, video.pix_fmt = 640, 360, "yuv420p"
        for i in range(150):
            frame = av.VideoFrame(640, 360, "yuv420p")
            for plane in frame.planes:
                plane.update(bytes([(i * 7) % 256]) * plane.buffer_size)
            frame.pts, frame.time_base = i, Fraction(1, 15)
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in video.encode(None):
            out.mux(packet)

    from vms_desktop.domain.clip import ClipMeta, Event
    from vms_desktop.engine.playback import ClipReader
    from vms_desktop.engine.thumbnails import ThumbnailMaker
    from datetime import datetime, timedelta, timezone

    # The pattern that froze the console: keyframes only, frame threads, a seek, one picture,
    # close while the decoder threads are busy.
    started = time.monotonic()
    for i in range(int(sys.argv[3])):
        container = av.open(clip)
        stream = container.streams.video[0]
        stream.codec_context.skip_frame = "NONKEY"
        stream.codec_context.thread_type = "AUTO"
        container.seek(int((i % 9) / stream.time_base), stream=stream, backward=True)
        for _ in container.decode(stream):
            break
        container.close()
    # The same through the app's thumbnail maker and player decoder.
    moment = datetime(2030, 1, 1, tzinfo=timezone.utc)
    meta = ClipMeta(Event("stress", "cam01", "motion", moment), moment - timedelta(seconds=4),
                    moment + timedelta(seconds=6), 15, 640, 360, 10.0, 1, "0" * 64, moment)
    maker = ThumbnailMaker(base + "/thumbs")
    for i in range(40):
        maker.extract(meta, clip)
        reader = ClipReader(clip)
        reader.frame_at((i * 37) % reader.frame_count)
        reader.close()
    faulthandler.cancel_dump_traceback_later()
    relay.stop()
    print(f"ok {time.monotonic() - started:.1f} s, {relay.lines_relayed} FFmpeg lines relayed")
    """
)


def _run_child(script: str, tmp_path: Path, *args: str, timeout: float) -> str:
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, f"child failed ({result.returncode}):\n{result.stderr[-6000:]}"
    return result.stdout + result.stderr


def test_closing_frame_threaded_decoders_mid_stream_never_freezes(tmp_path: Path) -> None:
    # With PyAV's Python log callback installed, the first iterations of this loop froze the
    # whole process. Here FFmpeg logs at debug level, so its decoder threads write thousands
    # of lines into the relay while they are being closed.
    output = _run_child(_STRESS, tmp_path, "90", "400", str(av.logging.DEBUG), timeout=180)
    relayed = re.search(r"ok [0-9.]+ s, (\d+) FFmpeg lines relayed", output)
    assert relayed is not None, output[-3000:]
    assert int(relayed[1]) > 1000


_MESSAGES = _CHILD_PRELUDE + textwrap.dedent(
    """
    try:
        av.open("rtsp://admin:Sup3rS3cretPw@127.0.0.1:1/stream", timeout=3)
    except av.FFmpegError:
        pass
    time.sleep(0.5)
    relay.stop()
    print("relayed:", seen)
    """
)


def test_ffmpeg_messages_are_logged_with_their_component_and_without_credentials(
    tmp_path: Path,
) -> None:
    output = _run_child(_MESSAGES, tmp_path, "60", timeout=90)
    assert "libav.tcp" in output and "Connection refused" in output
    assert "ERROR" in output  # the level FFmpeg printed, not a guess
    assert "Sup3rS3cretPw" not in output


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "[rtsp @ 0x55d1c0a3e2c0] [error] method DESCRIBE failed: 401 Unauthorized",
            ("rtsp", logging.ERROR, "method DESCRIBE failed: 401 Unauthorized"),
        ),
        (
            "[in#0/rtsp @ 0x1] [h264 @ 0x7f00aa] [warning] concealing 12 DC errors",
            ("h264", logging.WARNING, "concealing 12 DC errors"),
        ),
        ("[fatal] out of memory", ("generic", logging.CRITICAL, "out of memory")),
        ("Last message repeated 3 times", ("generic", None, "Last message repeated 3 times")),
        ("[tcp @ 0xdeadbeef] no level here", ("tcp", None, "no level here")),
    ],
)
def test_lines_are_parsed_into_component_level_and_message(
    line: str, expected: tuple[str, int | None, str]
) -> None:
    assert parse_line(line) == expected
