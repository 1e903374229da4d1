"""Recording real cameras: RTSP with Basic auth and the demo camera, through drops and failures."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import av
import pytest

from tests.support.clipcheck import decode_clip, ffprobe
from tests.support.media import stamp_of
from tests.support.ports import free_port
from tests.support.rtsp_camera import RtspCamera
from tests.support.waiting import wait_until
from vms_desktop.domain.camera import CameraConfig, CameraState
from vms_desktop.engine.camera_worker import (
    AttemptLog,
    CameraWorker,
    StreamTimeline,
    backoff_delay,
)
from vms_desktop.engine.clip_builder import ClipBuilder, ClipSpec
from vms_desktop.engine.clock import WallClock
from vms_desktop.engine.segment_buffer import SegmentBuffer, from_ts
from vms_desktop.engine.sources import Timeouts

SPEC = ClipSpec(pre_seconds=2, post_seconds=2)
FRAME_MS = 1000 / 15
# Capture-to-buffer delay allowed on loopback: FFmpeg's RTSP client holds a picture until the next
# one starts (one frame at 15 fps) plus encoding and scheduling.
TRANSPORT_MS = 150


@pytest.fixture
def make_worker(tmp_path: Path) -> Iterator[Callable[..., CameraWorker]]:
    workers: list[CameraWorker] = []

    def make(url: str, **options: float) -> CameraWorker:
        buffer = SegmentBuffer(tmp_path / "buffer", f"cam{len(workers):02d}")
        worker = CameraWorker(
            CameraConfig(buffer.camera_id, url),
            buffer,
            timeouts=Timeouts(connect=5, read=float(options.pop("read_timeout", 3))),
            stall_timeout=3,
            reconnect_max=float(options.pop("reconnect_max", 2)),
            auth_retry=float(options.pop("auth_retry", 60)),
        )
        workers.append(worker)
        worker.start()
        return worker

    yield make
    for worker in workers:
        worker.stop(15)


def buffered_seconds(worker: CameraWorker) -> float:
    segments = worker.buffer.segments()
    return segments[-1].end - segments[0].start if segments else 0.0


def stamp_in_buffer_at(buffer: SegmentBuffer, moment: float) -> int | None:
    """The stamp on the newest recorded picture at or before ``moment``, read straight off disk."""
    best: tuple[float, int | None] | None = None
    for segment in buffer.covering(moment - 3, moment + 0.001):
        with av.open(str(segment.path)) as container:
            for frame in container.decode(video=0):
                if frame.pts is None:
                    continue
                when = from_ts(frame.pts, segment.start)
                if when <= moment + 1e-3 and (best is None or when > best[0]):
                    best = (when, stamp_of(frame))
    return best[1] if best else None


def check_clip(path: Path, spec: ClipSpec) -> list[av.VideoFrame]:
    clip = decode_clip(path)
    assert (clip.codec, clip.width, clip.height) == ("h264", spec.width, spec.height)
    assert clip.fps == pytest.approx(spec.fps)
    assert clip.duration == pytest.approx(spec.pre_seconds + spec.post_seconds, abs=1 / spec.fps)
    ffprobe(path)
    return clip.frames


def test_rtsp_camera_is_recorded_and_clips_come_out_for_past_and_future_events(
    rtsp_camera: RtspCamera, make_worker: Callable[..., CameraWorker], tmp_path: Path
) -> None:
    worker = make_worker(rtsp_camera.url)
    wait_until(lambda: worker.status.state is CameraState.RECORDING, 20, "recording")
    wait_until(lambda: buffered_seconds(worker) > 6.5, 20, "6 s of footage")
    status = worker.status
    assert (status.width, status.height, status.codec) == (640, 480, "h264")
    assert rtsp_camera.password not in repr(status)
    assert all(s.duration < 3.5 for s in worker.buffer.segments()[:-1])

    builder = ClipBuilder(worker.buffer)
    clock = WallClock()
    index = round(SPEC.pre_seconds * SPEC.fps)

    past = clock.now() - SPEC.post_seconds - 0.5
    result = builder.build(past, SPEC, tmp_path / "past.mp4")
    frames = check_clip(result.path, SPEC)
    shown = stamp_of(frames[index])
    assert shown is not None
    assert shown == stamp_in_buffer_at(worker.buffer, past)
    assert -(FRAME_MS + TRANSPORT_MS) <= shown - past * 1000 <= 1
    assert not result.gaps

    future = clock.now() + 1.0
    result = builder.build(future, SPEC, tmp_path / "future.mp4")
    late = clock.now() - (future + SPEC.post_seconds)
    assert late < 1.0  # encoded while recorded: done within a second of the window closing
    frames = check_clip(result.path, SPEC)
    shown = stamp_of(frames[index])
    assert shown is not None
    assert shown == stamp_in_buffer_at(worker.buffer, future)
    assert -(FRAME_MS + TRANSPORT_MS) <= shown - future * 1000 <= 1
    assert not result.gaps


def test_a_dropped_camera_is_recorded_again_and_the_gap_is_reported(
    rtsp_camera: RtspCamera,
    make_worker: Callable[..., CameraWorker],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="vms_desktop.engine.camera_worker")
    worker = make_worker(rtsp_camera.url)
    wait_until(lambda: buffered_seconds(worker) > 3, 20, "footage")
    rtsp_camera.stop()
    down_at = time.time()
    wait_until(
        lambda: worker.status.state in (CameraState.RECONNECTING, CameraState.OFFLINE),
        15,
        "the drop to be noticed",
    )
    time.sleep(3)
    rtsp_camera.start()
    up_at = time.time()
    wait_until(lambda: worker.status.state is CameraState.RECORDING, 20, "recording again")
    assert time.time() - up_at < 10  # resumes within seconds
    assert worker.status.reconnects == 1
    messages = [record.getMessage() for record in caplog.records]
    assert any(m.startswith("camera cam00: recording stopped: ") for m in messages)
    failed = [m for m in messages if m.startswith("camera cam00: attempt ")]
    assert failed and all("next attempt in" in m for m in failed)
    assert f"camera cam00: recording again after {len(failed)} failed attempt(s)" in messages
    assert rtsp_camera.password not in caplog.text
    recorded_again = worker.buffer.newest
    wait_until(lambda: (worker.buffer.newest or 0) > (recorded_again or 0) + 3, 20, "new footage")

    segments = worker.buffer.segments()
    holes = worker.buffer.gaps(segments[0].start, segments[-1].end)
    assert len(holes) == 1
    assert holes[0].start == pytest.approx(down_at, abs=1.0)
    assert holes[0].duration >= 3

    event = holes[0].start + 0.5
    spec = ClipSpec(pre_seconds=2, post_seconds=holes[0].duration + 1.0)
    result = ClipBuilder(worker.buffer).build(event, spec, tmp_path / "across.mp4")
    assert len(result.gaps) == 1
    assert result.gaps[0].start == pytest.approx(holes[0].start, abs=0.2)
    assert result.gaps[0].end == pytest.approx(holes[0].end, abs=0.2)
    check_clip(result.path, spec)


def test_a_wrong_password_is_auth_failed_and_never_shown(
    rtsp_camera: RtspCamera,
    make_worker: Callable[..., CameraWorker],
    caplog: pytest.LogCaptureFixture,
) -> None:
    from vms_desktop.engine.av_logging import route_ffmpeg_logs

    wrong = "Wr0ngPassw0rdXYZ"
    url = rtsp_camera.url_with_password(wrong)
    caplog.set_level(logging.DEBUG)
    with route_ffmpeg_logs("DEBUG", secrets=lambda: [wrong]):
        worker = make_worker(url)
        wait_until(lambda: worker.status.state is CameraState.AUTH_FAILED, 20, "auth_failed")
        time.sleep(0.5)
    status = worker.status
    assert "401" in status.reason or "credentials" in status.reason
    shown = repr(status) + status.reason + caplog.text
    for secret in (wrong, quote(wrong, safe=""), rtsp_camera.password):
        assert secret not in shown


def test_a_frozen_stream_is_detected_and_recording_resumes(
    rtsp_camera: RtspCamera, make_worker: Callable[..., CameraWorker]
) -> None:
    worker = make_worker(rtsp_camera.url, read_timeout=2)
    wait_until(lambda: buffered_seconds(worker) > 2, 20, "footage")
    rtsp_camera.freeze()  # TCP stays open, no data flows
    try:
        wait_until(lambda: worker.status.state is not CameraState.RECORDING, 15, "the stall")
        assert "no data" in worker.status.reason or worker.status.reason
    finally:
        rtsp_camera.thaw()
    wait_until(lambda: worker.status.state is CameraState.RECORDING, 30, "recording again")


def test_a_camera_down_at_start_up_is_offline_with_a_reason(
    make_worker: Callable[..., CameraWorker], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="vms_desktop.engine.camera_worker")
    worker = make_worker(f"rtsp://admin:pw%2F12345@127.0.0.1:{free_port()}/stream")
    wait_until(lambda: worker.status.state is CameraState.OFFLINE, 15, "offline")
    assert worker.status.reason and "12345" not in worker.status.reason
    assert not worker.buffer.segments()
    wait_until(lambda: worker.attempts.failures >= 6, 30, "six failed attempts")
    # Each of the first attempts is logged with its reason; then the log holds back.
    failed = [r.getMessage() for r in caplog.records if ": attempt " in r.getMessage()]
    assert len(failed) == 3
    for number, message in enumerate(failed, start=1):
        assert message.startswith(f"camera cam00: attempt {number} failed: ")
        assert message.endswith(" s") and "next attempt in" in message
    assert "12345" not in caplog.text  # the password, plain or percent-encoded


def test_failed_attempts_are_logged_each_at_first_then_once_a_minute(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="vms_desktop.engine.camera_worker")
    now = [0.0]
    attempts = AttemptLog("cam01", monotonic=lambda: now[0])
    for _ in range(20):  # an attempt every 10 s for 200 s
        attempts.failed("Connection refused", 10.0)
        now[0] += 10.0
    messages = [record.getMessage() for record in caplog.records]
    assert messages[:3] == [
        f"camera cam01: attempt {k} failed: Connection refused; next attempt in 10 s"
        for k in (1, 2, 3)
    ]
    assert messages[3:] == [
        "camera cam01: still failing, 6 attempt(s) since the last report (9 in all), the last: "
        "Connection refused; next attempt in 10 s",
        "camera cam01: still failing, 6 attempt(s) since the last report (15 in all), the last: "
        "Connection refused; next attempt in 10 s",
    ]
    caplog.clear()
    attempts.recovered()
    attempts.failed("Connection reset by peer", 1.0)
    assert [record.getMessage() for record in caplog.records] == [
        "camera cam01: recording again after 20 failed attempt(s)",
        "camera cam01: attempt 1 failed: Connection reset by peer; next attempt in 1 s",
    ]


def test_the_demo_camera_records_and_clips_show_the_event_moment(
    make_worker: Callable[..., CameraWorker], tmp_path: Path
) -> None:
    worker = make_worker("demo://?width=640&height=360&fps=15")
    wait_until(lambda: buffered_seconds(worker) > 3, 20, "demo footage")
    future = time.time() + 0.5
    result = ClipBuilder(worker.buffer).build(future, SPEC, tmp_path / "demo.mp4")
    assert time.time() - (future + SPEC.post_seconds) < 1.0
    frames = check_clip(result.path, SPEC)
    shown = stamp_of(frames[round(SPEC.pre_seconds * SPEC.fps)], content=(0, 60, 640, 360))
    assert shown is not None
    assert -(FRAME_MS + 30) <= shown - future * 1000 <= 1


def test_timeline_keeps_the_spacing_of_a_late_burst_and_converges() -> None:
    class FakeClock(WallClock):
        def __init__(self) -> None:
            self.value = 1000.0

        def now(self) -> float:
            return self.value

    clock = FakeClock()
    timeline = StreamTimeline(clock)
    clock.value = 1000.5  # the first three pictures arrive together, 0.3 s late
    placed = [timeline.place(k / 15, k / 15)[0] for k in range(3)]
    assert placed == pytest.approx([1000.5, 1000.5 + 1 / 15, 1000.5 + 2 / 15])
    # Then pictures arrive on time: 1000.2 + t. Labels converge there, always in order.
    for index in range(3, 90):
        source = index / 15
        clock.value = 1000.2 + source
        label = timeline.place(source, source)[0]
        assert label - placed[-1] >= 0.499 / 15
        placed.append(label)
    assert placed[-1] == pytest.approx(clock.value, abs=1e-3)
    clock.value = 1100.0  # source timestamps jumped back: start over from arrival
    assert timeline.place(0.0, 0.0)[0] == pytest.approx(1100.0)


def test_backoff_grows_to_the_cap_with_jitter() -> None:
    delays = [backoff_delay(attempt, cap=30) for attempt in range(1, 12)]
    assert all(0.5 <= d <= 30 for d in delays)
    assert delays[-1] >= 15
    assert len({round(backoff_delay(8, cap=30), 6) for _ in range(20)}) > 1
