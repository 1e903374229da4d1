"""Live preview: decoded on demand at the asked size and rate, live, bounded, across reconnects."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from tests.support.media import make_camera_file
from tests.support.waiting import wait_until
from vms_desktop.domain.camera import CameraConfig
from vms_desktop.domain.picture import PreviewPicture
from vms_desktop.engine import framestamp
from vms_desktop.engine.camera_worker import CameraWorker
from vms_desktop.engine.picture_size import fit_size
from vms_desktop.engine.preview import CameraPreview, FrameSlot
from vms_desktop.engine.segment_buffer import SegmentBuffer

DEMO_URL = "demo://?width=640&height=360&fps=15"


def stamp_ms(picture: PreviewPicture) -> int | None:
    """The demo stamp on an RGB preview picture (its luma, as the reader expects)."""
    luma = picture.image.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    return framestamp.read(luma)


def preview_threads(camera_id: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == f"preview-{camera_id}"]


def feed_file(
    preview: CameraPreview, path: Path, start: float, pace: float = 0.0, limit: int | None = None
) -> int:
    """Hand a file's video packets to ``preview`` as a camera worker does; returns the count."""
    count = 0
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        preview.start_stream(video)
        for packet in container.demux(video):
            if packet.pts is None:
                continue
            when = start + float(packet.pts * packet.time_base)
            preview.feed(bytes(packet), when, packet.is_keyframe)
            count += 1
            if pace:
                time.sleep(pace)
            if limit is not None and count >= limit:
                break
    return count


@pytest.fixture
def demo_camera(tmp_path: Path) -> Iterator[tuple[CameraWorker, CameraPreview]]:
    preview = CameraPreview("cam01")
    worker = CameraWorker(
        CameraConfig("cam01", DEMO_URL),
        SegmentBuffer(tmp_path / "buffer", "cam01"),
        preview_tap=preview,
    )
    worker.start()
    try:
        yield worker, preview
    finally:
        preview.close()
        worker.stop(15)


def test_frame_slot_holds_only_the_newest_picture() -> None:
    slot = FrameSlot()
    assert slot.latest() is None
    for value in range(5):
        slot.put(np.full((2, 3, 3), value, np.uint8), when=100.0 + value)
    picture = slot.latest()
    assert picture is not None
    assert (picture.sequence, picture.when, int(picture.image[0, 0, 0])) == (5, 104.0, 4)
    assert not picture.image.flags.writeable  # shared with painters on other threads
    slot.clear()
    assert slot.latest() is None
    assert slot.sequence == 5


def test_fit_size_keeps_the_aspect_ratio() -> None:
    assert fit_size(640, 360, 320, 320) == (320, 180)
    assert fit_size(640, 480, 400, 400) == (400, 300)
    assert fit_size(1920, 1080, 3840, 2160) == (3840, 2160)
    # Anamorphic pixels (a 480x576 PAL picture shown 4:3).
    assert fit_size(480, 576, 768, 576, Fraction(8, 5)) == (768, 576)


def test_unwatched_camera_is_not_decoded(demo_camera: tuple[CameraWorker, CameraPreview]) -> None:
    worker, preview = demo_camera
    wait_until(lambda: worker.status.fps > 0, 15, "the demo camera to record")
    time.sleep(1.0)
    assert preview.latest() is None
    assert not preview.decoding and not preview_threads("cam01")
    assert preview.pending == 0


def test_preview_is_live_at_the_asked_rate_and_size(
    demo_camera: tuple[CameraWorker, CameraPreview],
) -> None:
    worker, preview = demo_camera
    wait_until(lambda: worker.status.fps > 0, 15, "the demo camera to record")

    lease = preview.acquire(400, 400, fps=10)
    # The packets since the last keyframe are kept, so the first picture needs no keyframe wait.
    wait_until(lambda: preview.latest() is not None, 1.0, "the first picture")
    picture = preview.latest()
    assert picture is not None
    assert picture.image.shape == (225, 400, 3)  # 16:9 inside the 400x400 box
    assert picture.image.dtype == np.uint8

    # At full size the burned-in stamp is readable: the picture shows the camera's "now".
    lease.update(640, 360)
    wait_until(
        lambda: (p := preview.latest()) is not None and p.image.shape == (360, 640, 3),
        2,
        "full-size pictures",
    )
    first = preview.slot.sequence
    started = time.monotonic()
    ages: list[float] = []
    most_pending = 0
    while time.monotonic() - started < 3.0:
        most_pending = max(most_pending, preview.pending)
        picture = preview.latest()
        assert picture is not None
        stamp = stamp_ms(picture)
        assert stamp is not None, "the stamp must survive decoding and conversion"
        ages.append(time.time() - stamp / 1000)
        assert abs(picture.when - stamp / 1000) < 0.15  # the picture's time is the camera's
        time.sleep(0.05)
    rate = (preview.slot.sequence - first) / (time.monotonic() - started)

    assert 8.0 <= rate <= 11.5, f"{rate:.1f} pictures/s for 10 asked from a 15 fps camera"
    assert 8.0 <= preview.fps <= 11.5
    assert max(ages) < 0.5, f"preview lags {max(ages):.3f} s behind the camera"
    assert most_pending <= 3, "a decoder keeping up never has a backlog"

    lease.release()
    wait_until(lambda: not preview.decoding, 2, "decoding to stop")
    assert not preview_threads("cam01")
    stopped_at = preview.slot.sequence
    time.sleep(1.0)
    assert preview.slot.sequence == stopped_at
    assert preview.pending == 0
    assert worker.status.fps > 0  # recording goes on


def test_several_viewers_share_one_decoder(
    demo_camera: tuple[CameraWorker, CameraPreview],
) -> None:
    worker, preview = demo_camera
    wait_until(lambda: worker.status.fps > 0, 15, "the demo camera to record")
    small = preview.acquire(160, 90, fps=5)
    big = preview.acquire(320, 180, fps=10)
    wait_until(
        lambda: (p := preview.latest()) is not None and p.image.shape == (180, 320, 3),
        2,
        "pictures for the biggest viewer",
    )
    assert len(preview_threads("cam01")) == 1
    big.release()
    wait_until(
        lambda: (p := preview.latest()) is not None and p.image.shape == (90, 160, 3),
        2,
        "pictures for the remaining viewer",
    )
    assert preview.decoding and small.active and not big.active
    preview.release()  # without a lease: the newest one
    wait_until(lambda: not preview.decoding, 2, "decoding to stop")


def test_hand_off_stays_bounded_when_the_decoder_falls_behind(camera_file: Path) -> None:
    preview = CameraPreview("cam09", max_pending=45)
    preview.acquire(320, 240, fps=10)
    try:
        # All of 34 s of video at once: far faster than the decoder can follow.
        most_pending = 0
        count = 0
        start = 1_700_000_000.0
        with av.open(str(camera_file)) as container:
            video = container.streams.video[0]
            preview.start_stream(video)
            for packet in container.demux(video):
                if packet.pts is None:
                    continue
                when = start + float(packet.pts * packet.time_base)
                preview.feed(bytes(packet), when, packet.is_keyframe)
                most_pending = max(most_pending, preview.pending)
                count += 1
        assert count == 34 * 15
        assert most_pending <= 45
        assert preview.dropped > 0, "falling behind must drop packets, not queue them"
        wait_until(lambda: preview.pending == 0, 5, "the decoder to drain")
        time.sleep(0.3)
        picture = preview.latest()
        assert picture is not None
        # It ended on the newest pictures (the last GOP), not somewhere in the backlog.
        assert picture.when > start + 31.0
        assert stamp_ms(picture) is not None
    finally:
        preview.close()
    assert not preview.decoding


def test_unwatched_hand_off_keeps_at_most_one_gop(camera_file: Path) -> None:
    preview = CameraPreview("cam09")
    feed_file(preview, camera_file, start=1_700_000_000.0)
    assert preview.pending == 0 and not preview.decoding
    # A viewer gets the newest GOP at once, without waiting for the camera's next keyframe.
    preview.acquire(320, 240, fps=10)
    try:
        wait_until(lambda: preview.latest() is not None, 2, "a picture from the kept GOP")
        picture = preview.latest()
        assert picture is not None and picture.when > 1_700_000_000.0 + 31.9
    finally:
        preview.close()


def mpeg4_file(path: Path, width: int, height: int, seconds: float = 2.0, fps: int = 15) -> Path:
    with av.open(str(path), "w", format="mpegts") as out:
        stream = out.add_stream("mpeg4", rate=fps, options={"g": str(fps)})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for index in range(round(seconds * fps)):
            luma = np.full((height, width), (index * 8) % 200 + 20, np.uint8)
            planes = np.concatenate(
                [luma, np.full((height // 2, width), 128, np.uint8)]
            )  # yuv420p as one array
            frame = av.VideoFrame.from_ndarray(planes, format="yuv420p")
            frame.pts = index
            frame.time_base = Fraction(1, fps)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def test_codec_and_size_change_after_a_reconnect(tmp_path: Path, camera_file: Path) -> None:
    wide = make_camera_file(tmp_path / "wide.ts", seconds=3, start=0.0, width=1280, height=720)
    other_codec = mpeg4_file(tmp_path / "mpeg4.ts", 320, 240)
    preview = CameraPreview("cam09")
    preview.acquire(480, 480, fps=15)
    try:
        feed_file(preview, camera_file, start=1000.0, pace=0.005, limit=45)
        wait_until(lambda: (p := preview.latest()) is not None and p.when > 1002.0, 3, "4:3")
        picture = preview.latest()
        assert picture is not None and picture.image.shape == (360, 480, 3)

        feed_file(preview, wide, start=2000.0, pace=0.005)  # the camera came back at 720p
        wait_until(lambda: (p := preview.latest()) is not None and p.when > 2002.0, 3, "16:9")
        picture = preview.latest()
        assert picture is not None and picture.image.shape == (270, 480, 3)
        assert stamp_ms(picture) is not None

        feed_file(preview, other_codec, start=3000.0, pace=0.005)  # ... and with another codec
        wait_until(lambda: (p := preview.latest()) is not None and p.when > 3001.5, 3, "MPEG-4")
        picture = preview.latest()
        assert picture is not None and picture.image.shape == (360, 480, 3)
        assert preview.stream is not None and preview.stream.codec == "mpeg4"
        assert preview.error == ""
    finally:
        preview.close()


CHURN = """
import sys, threading, time
import av
from vms_desktop.engine.preview import CameraPreview

with av.open(sys.argv[1]) as container:
    stream = container.streams.video[0]
    packets = [
        (bytes(p), float(p.pts * p.time_base), p.is_keyframe)
        for p in container.demux(stream) if p.pts is not None
    ][:60]
    previews = [CameraPreview(f"cam{i}") for i in range(4)]
    for preview in previews:
        preview.start_stream(stream)

def churn(preview):
    for round_ in range(25):
        lease = preview.acquire(160, 120, fps=30)
        for data, when, key in packets[: 5 + round_ % 20]:
            preview.feed(data, 100.0 * round_ + when, key)
        time.sleep(0.002)
        lease.release()  # the decoding thread ends and frees its frame-threaded decoder
    preview.close()

threads = [threading.Thread(target=churn, args=(p,)) for p in previews]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print("done")
"""


def test_decoders_are_torn_down_without_deadlock(camera_file: Path) -> None:
    # Run apart: a deadlock involving the GIL would hang this process beyond any timeout.
    result = subprocess.run(
        [sys.executable, "-c", CHURN, str(camera_file)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "done"
