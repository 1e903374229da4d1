"""Proof that the RTSP test camera is a real camera: PyAV can open, authenticate and decode it."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path

import av
import av.container
import pytest

from tests.support.rtsp_camera import RtspCamera
from tests.support.waiting import wait_until
from vms_desktop.engine import framestamp

FRAME_MS = 1000 / 15


def open_stream(url: str) -> av.container.InputContainer:
    """Open ``url`` the way the application does: RTSP over TCP with bounded waits."""
    return av.open(url, options={"rtsp_transport": "tcp"}, timeout=(10, 10))


def decoded_stamps(url: str, count: int) -> list[tuple[int | None, float, int, int]]:
    """(stamp, wall-clock ms when PyAV returned the frame, width, height) of ``count`` frames."""
    result: list[tuple[int | None, float, int, int]] = []
    with open_stream(url) as container:
        for frame in container.decode(video=0):
            received = time.time() * 1000
            stamp = framestamp.read(frame.to_ndarray(format="gray"))
            result.append((stamp, received, frame.width, frame.height))
            if len(result) == count:
                break
    return result


def process_state(pid: int) -> str:
    """The one-letter scheduler state of a process ("T" when stopped)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    # The command name in parentheses may contain spaces; the state follows it.
    return stat.rsplit(")", 1)[1].split()[0]


def test_stream_is_live_h264_with_readable_stamps(rtsp_camera: RtspCamera) -> None:
    frames = decoded_stamps(rtsp_camera.url, 30)

    assert len(frames) == 30
    assert {(width, height) for _, _, width, height in frames} == {(640, 480)}
    stamps = [stamp for stamp, _, _, _ in frames]
    assert None not in stamps, stamps
    readable = [stamp for stamp in stamps if stamp is not None]
    # PyAV buffers the first frames while it probes the stream; by the last one it is live.
    last_stamp, last_received = readable[-1], frames[-1][1]
    assert abs(last_received - last_stamp) < 2000
    steps = [later - earlier for earlier, later in pairwise(readable)]
    assert all(step > 0 for step in steps), steps
    assert statistics.median(steps) == pytest.approx(FRAME_MS, abs=8)
    assert (readable[-1] - readable[0]) / len(steps) == pytest.approx(FRAME_MS, abs=8)


@pytest.mark.parametrize("credentials", ["wrong password", "none"])
def test_bad_credentials_are_refused_with_401(rtsp_camera: RtspCamera, credentials: str) -> None:
    if credentials == "none":
        url = rtsp_camera.url_without_credentials
    else:
        url = rtsp_camera.url_with_password("not" + rtsp_camera.password)

    with pytest.raises(av.error.FFmpegError) as caught:
        open_stream(url)

    error = caught.value
    assert "401" in str(error) or "unauthorized" in type(error).__name__.lower(), repr(error)


def test_audio_camera_has_an_aac_track(
    rtsp_camera_factory: Callable[..., RtspCamera],
) -> None:
    camera = rtsp_camera_factory(audio=True)

    with open_stream(camera.url) as container:
        codecs = {(stream.type, stream.codec_context.name) for stream in container.streams}
        frame = next(container.decode(video=0))

    assert ("video", "h264") in codecs
    assert ("audio", "aac") in codecs
    assert framestamp.read(frame.to_ndarray(format="gray")) is not None


def test_stop_then_start_serves_again_on_the_same_port(rtsp_camera: RtspCamera) -> None:
    port, url = rtsp_camera.port, rtsp_camera.url
    assert decoded_stamps(url, 1)[0][0] is not None

    rtsp_camera.stop()
    assert not rtsp_camera.running
    with pytest.raises(av.error.FFmpegError):
        open_stream(url)

    rtsp_camera.start()
    assert rtsp_camera.port == port
    assert rtsp_camera.url == url
    assert all(stamp is not None for stamp, _, _, _ in decoded_stamps(url, 5))


def test_clients_share_one_stream(rtsp_camera: RtspCamera) -> None:
    with open_stream(rtsp_camera.url) as first, open_stream(rtsp_camera.url) as second:
        first_stamps = {
            framestamp.read(frame.to_ndarray(format="gray"))
            for _, frame in zip(range(40), first.decode(video=0), strict=False)
        }
        second_stamps = {
            framestamp.read(frame.to_ndarray(format="gray"))
            for _, frame in zip(range(10), second.decode(video=0), strict=False)
        }

    # Frames are made once and sent to both, so the second client sees frames the first saw.
    assert (first_stamps & second_stamps) - {None}


def test_freeze_suspends_and_thaw_resumes(rtsp_camera: RtspCamera) -> None:
    pid = rtsp_camera.pid
    assert pid is not None

    rtsp_camera.freeze()
    wait_until(lambda: process_state(pid) == "T", 2, "the server to stop", poll=0.01)
    assert rtsp_camera.running

    rtsp_camera.thaw()
    assert all(stamp is not None for stamp, _, _, _ in decoded_stamps(rtsp_camera.url, 3))
