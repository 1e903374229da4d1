"""Clips cut from a buffer: format, timing of the event frame, padding, audio, gaps, atomicity."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import pytest

from tests.engine.conftest import MOMENT, BufferFactory
from tests.support.clipcheck import decode_clip, ffprobe, is_black
from tests.support.media import FileCamera, record_file, stamp_of
from tests.support.waiting import wait_until
from vms_desktop.domain.camera import CameraConfig
from vms_desktop.domain.errors import ClipCancelled, NoFootageError
from vms_desktop.engine.clip_builder import ClipBuilder, ClipResult, ClipSpec
from vms_desktop.engine.clock import WallClock
from vms_desktop.engine.picture_size import fit_size
from vms_desktop.engine.recorder import Recorder, RecorderOptions
from vms_desktop.engine.segment_buffer import SegmentBuffer

SHORT = ClipSpec(pre_seconds=3, post_seconds=4)


def _no_temp_files(directory: Path) -> bool:
    return not [p for p in directory.iterdir() if p.name.endswith(".tmp")]


def test_a_default_clip_has_the_seed_format_and_the_event_at_offset_pre(
    recorded: tuple[SegmentBuffer, float], tmp_path: Path
) -> None:
    buffer, start = recorded
    spec = ClipSpec()  # the seed's defaults: 10 s before, 20 s after, 15 fps, 640x480
    event = start + 11.03  # between two source frames: the earlier one is shown at T
    result = ClipBuilder(buffer).build(event, spec, tmp_path / "clips" / "event.mp4")

    clip = decode_clip(result.path)
    assert (clip.codec, clip.width, clip.height) == ("h264", 640, 480)
    assert clip.fps == pytest.approx(15)
    assert len(clip.frames) == 450
    assert clip.duration == pytest.approx(30.0, abs=1 / 15)
    assert clip.faststart
    assert clip.audio_codec is None
    at_event = stamp_of(clip.frames[150])
    assert at_event == 11_000  # the source frame shown at T (source frames every 66.7 ms)
    assert stamp_of(clip.frames[0]) == 1_000
    assert stamp_of(clip.frames[-1]) == pytest.approx(30_933, abs=67)

    probe = ffprobe(result.path)
    stream = probe["streams"][0]  # type: ignore[index]
    assert stream["codec_name"] == "h264" and stream["width"] == 640  # type: ignore[index]
    assert int(stream["nb_read_frames"]) == 450  # type: ignore[index]
    assert float(probe["format"]["duration"]) == pytest.approx(30.0, abs=1 / 15)  # type: ignore[index]

    assert result.frames == 450 and result.complete and not result.gaps
    assert result.size == result.path.stat().st_size and len(result.sha256) == 64
    assert (result.source_width, result.source_height) == (640, 480)
    assert _no_temp_files(result.path.parent)


@pytest.mark.parametrize("offset", [3.0, 3.04, 9.5, 26.0])
def test_the_frame_at_offset_pre_is_the_event_moment(
    recorded: tuple[SegmentBuffer, float], tmp_path: Path, offset: float
) -> None:
    buffer, start = recorded
    result = ClipBuilder(buffer).build(start + offset, SHORT, tmp_path / "c.mp4")
    frames = decode_clip(result.path).frames
    assert len(frames) == 105
    shown = stamp_of(frames[round(SHORT.pre_seconds * SHORT.fps)])
    assert shown is not None
    assert 0 <= offset * 1000 - shown < 1000 / 15  # newest source frame at or before T


def test_a_wide_picture_is_padded_not_stretched_and_audio_is_kept(
    buffer_at: BufferFactory, tmp_path: Path, wide_camera_file: Path
) -> None:
    start = MOMENT
    buffer = buffer_at(start + 60, "cam02")
    record_file(buffer, wide_camera_file, start)
    result = ClipBuilder(buffer).build(start + 8, SHORT, tmp_path / "wide.mp4")
    clip = decode_clip(result.path)
    assert (clip.width, clip.height) == (640, 480)
    luma = clip.frames[45].to_ndarray(format="gray")
    # 16:9 in 4:3: a 640x360 picture between two 60-pixel black bars.
    assert luma[:56].max() <= 24 and luma[-56:].max() <= 24
    assert stamp_of(clip.frames[45], content=(0, 60, 640, 360)) == 8000
    assert result.has_audio and clip.audio_codec == "aac"
    assert clip.audio_duration == pytest.approx(7.0, abs=0.05)
    ffprobe(result.path)


def test_fit_size_keeps_the_aspect_ratio() -> None:
    from fractions import Fraction

    assert fit_size(1920, 1080, 640, 480, Fraction(1), even=True) == (640, 360)
    assert fit_size(640, 480, 640, 480, Fraction(1), even=True) == (640, 480)
    assert fit_size(480, 640, 640, 480, Fraction(1), even=True) == (360, 480)
    assert fit_size(720, 576, 640, 480, Fraction(16, 11), even=True) == (640, 352)  # 16:11 pixels


def test_missing_footage_is_black_and_named_as_a_gap(
    buffer_at: BufferFactory, tmp_path: Path, camera_file: Path
) -> None:
    start = MOMENT
    buffer = buffer_at(start + 200)
    record_file(buffer, camera_file, start)
    record_file(buffer, camera_file, start + 40)  # nothing between +34 and +40
    result = ClipBuilder(buffer).build(start + 37, SHORT, tmp_path / "gap.mp4")
    assert len(result.gaps) == 1
    gap = result.gaps[0]
    assert gap.start == pytest.approx(start + 34, abs=0.1)
    assert gap.end == pytest.approx(start + 40, abs=0.1)
    frames = decode_clip(result.path).frames
    assert len(frames) == 105
    assert frames[45].to_ndarray(format="gray").max() <= 24  # inside the hole: black
    assert stamp_of(frames[0]) == 33_933  # the last picture before the hole
    assert stamp_of(frames[-1]) == 933  # the second recording (its stamps restart at 0)


def test_no_footage_at_all_is_a_clear_error(
    recorded: tuple[SegmentBuffer, float], tmp_path: Path
) -> None:
    buffer, start = recorded
    destination = tmp_path / "none.mp4"
    with pytest.raises(NoFootageError, match="cam01"):
        ClipBuilder(buffer).build(start - 100, SHORT, destination)
    assert not destination.exists() and _no_temp_files(tmp_path)
    empty = SegmentBuffer(tmp_path / "empty", "cam09", clock=WallClock(MOMENT))
    with pytest.raises(NoFootageError, match="no footage"):
        ClipBuilder(empty).build(MOMENT - 30, SHORT, destination)


def test_progress_is_reported_up_to_done(
    recorded: tuple[SegmentBuffer, float], tmp_path: Path
) -> None:
    buffer, start = recorded
    seen: list[float] = []
    ClipBuilder(buffer).build(start + 5, SHORT, tmp_path / "p.mp4", progress=seen.append)
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) >= 10


def test_a_cancelled_build_leaves_nothing(
    recorded: tuple[SegmentBuffer, float], tmp_path: Path
) -> None:
    buffer, start = recorded
    cancel = threading.Event()
    cancel.set()
    destination = tmp_path / "cancelled.mp4"
    with pytest.raises(ClipCancelled):
        ClipBuilder(buffer).build(start + 5, SHORT, destination, cancel=cancel)
    assert not destination.exists() and _no_temp_files(tmp_path)


def test_an_existing_clip_is_replaced_whole(
    recorded: tuple[SegmentBuffer, float], tmp_path: Path
) -> None:
    buffer, start = recorded
    destination = tmp_path / "same.mp4"
    destination.write_bytes(b"old")
    result = ClipBuilder(buffer).build(start + 5, SHORT, destination)
    assert destination.read_bytes()[:3] != b"old"
    assert np.isfinite(result.duration)


def test_sound_is_kept_on_both_sides_of_a_gap_with_silence_between(
    buffer_at: BufferFactory, tmp_path: Path, wide_camera_file: Path
) -> None:
    start = MOMENT
    buffer = buffer_at(start + 60, "cam02")
    record_file(buffer, wide_camera_file, start, seconds=6)
    record_file(buffer, wide_camera_file, start + 9, seconds=6)  # dark from +6 to +9
    result = ClipBuilder(buffer).build(start + 7, SHORT, tmp_path / "sound.mp4")
    assert [(round(g.start - start, 2), round(g.end - start, 2)) for g in result.gaps] == [
        (6.0, 9.0)
    ]
    assert result.has_audio
    clip = decode_clip(result.path)
    assert clip.audio_duration == pytest.approx(7.0, abs=0.05)
    with av.open(str(result.path)) as container:
        samples = np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(audio=0)])
    rate = 48000
    # The clip runs from +4: the tone until +6, silence until +9, the tone again after.
    assert np.abs(samples[int(0.5 * rate) : int(1.5 * rate)]).max() > 0.1
    assert np.abs(samples[int(2.5 * rate) : int(4.5 * rate)]).max() < 0.01
    assert np.abs(samples[int(5.5 * rate) : int(6.5 * rate)]).max() > 0.1
    frames = clip.frames
    assert is_black(frames[45]) and not is_black(frames[15]) and not is_black(frames[90])


def test_a_build_at_the_live_tail_waits_inside_while_waiting(
    tmp_path: Path, camera_file: Path
) -> None:
    clock = WallClock(MOMENT + 2.5)
    recorder = Recorder(
        [CameraConfig("cam01", str(camera_file))],
        RecorderOptions(buffer_root=tmp_path / "buffer", min_free_bytes=0),
        clock=clock,
    )  # not started: the test is the camera
    camera = FileCamera(recorder.buffer("cam01"), camera_file, MOMENT)
    camera.record_until(2.5)
    events: list[str] = []

    @contextlib.contextmanager
    def while_waiting() -> Iterator[None]:
        events.append("enter")
        try:
            yield
        finally:
            events.append("exit")

    spec = ClipSpec(pre_seconds=1, post_seconds=1)
    outcome: list[object] = []

    def build() -> None:
        try:
            outcome.append(
                recorder.build_clip(
                    "cam01", MOMENT + 2, spec, tmp_path / "live.mp4", while_waiting=while_waiting
                )
            )
        except BaseException as exc:  # handed to the test thread
            outcome.append(exc)

    worker = threading.Thread(target=build)
    worker.start()
    try:
        wait_until(lambda: events == ["enter"], what="the build waiting at the live tail")
        assert not outcome
        camera.record_until(2.6)  # one more picture
        wait_until(lambda: "exit" in events, what="the wait ending as footage arrives")
        camera.record_until(4.0)
    finally:
        camera.finish()
        worker.join(60)
    assert not worker.is_alive()
    result = outcome[0]
    assert isinstance(result, ClipResult), result
    assert result.frames == 30 and not result.gaps
    assert events[:2] == ["enter", "exit"]
    assert events.count("enter") == events.count("exit")
    assert stamp_of(decode_clip(result.path).frames[-1]) == 2_933
