"""A buffer on a small real file system: oldest footage goes first, recording never stops."""

from __future__ import annotations

import errno
import time
from pathlib import Path

import av
import pytest

from tests.engine.conftest import FILE_SECONDS
from tests.support.clipcheck import decode_clip
from tests.support.filesystems import SmallFilesystem, small_filesystem
from tests.support.media import record_file
from tests.support.waiting import wait_until
from vms_desktop.domain.camera import CameraConfig, CameraState
from vms_desktop.engine.clip_builder import ClipBuilder, ClipSpec
from vms_desktop.engine.free_space import is_disk_full
from vms_desktop.engine.recorder import Recorder, RecorderOptions
from vms_desktop.engine.sources import Timeouts
from vms_desktop.runtime import recorder_options
from vms_desktop.settings import SettingsError, load_settings

MB = 1024 * 1024
SPEC = ClipSpec(pre_seconds=2, post_seconds=2)


def make_recorder(
    fs: SmallFilesystem, cameras: dict[str, str], floor: int, retention: float = 1e9
) -> Recorder:
    """A recorder whose buffers are limited by nothing but the file system and its floor."""
    options = RecorderOptions(
        buffer_root=fs.path / "buffer",
        retention_seconds=retention,
        max_bytes_per_camera=1 << 40,
        min_free_bytes=floor,
        timeouts=Timeouts(connect=5, read=5),
        stall_timeout=5,
        reconnect_max=2,
        maintain_interval=1.0,
    )
    return Recorder([CameraConfig(c, url) for c, url in cameras.items()], options)


def sample_before_the_guard(recorder: Recorder, fs: SmallFilesystem) -> list[int]:
    """Free bytes measured as each segment closes, before the guard frees anything."""
    samples: list[int] = []
    guard = recorder.space_guard

    def check() -> None:
        samples.append(fs.free_bytes)
        guard.check()

    for buffer in recorder.buffers.values():
        buffer.space_check = check
    return samples


def test_buffers_filling_a_small_file_system_give_up_their_oldest_footage_first(
    camera_file: Path, tmp_path: Path
) -> None:
    floor = 2 * MB
    rounds = 8  # 8 x 34 s for each of two cameras: minutes of footage through 8 MB
    with small_filesystem(8) as fs:
        recorder = make_recorder(fs, {"cam01": "demo://", "cam02": "demo://"}, floor)
        samples = sample_before_the_guard(recorder, fs)
        seen: dict[Path, tuple[float, str, int]] = {}
        base = time.time() - rounds * FILE_SECONDS - 60
        for index in range(rounds):
            for camera_id, buffer in recorder.buffers.items():
                # Both cameras record the same minutes, as they would side by side.
                record_file(buffer, camera_file, base + index * FILE_SECONDS)
                for segment in buffer.segments():
                    seen[segment.path] = (segment.start, camera_id, segment.size)
                assert fs.free_bytes >= floor

        written = sum(size for _, _, size in seen.values())
        assert written > 2 * fs.size_bytes
        kept = {s.path for b in recorder.buffers.values() for s in b.segments()}
        evicted = [seen[path] for path in seen if path not in kept]
        assert {camera for _, camera, _ in evicted} == {"cam01", "cam02"}
        # Oldest first across cameras: nothing kept is older than anything evicted.
        assert max(start for start, _, _ in evicted) <= min(seen[p][0] for p in kept)
        assert min(samples) >= floor
        for path in kept:
            assert path.exists()
        for path in set(seen) - kept:
            assert not path.exists()
        status = {row.camera_id: row for row in recorder.buffer_status()}
        assert status["cam01"].evicted_for_space == len(evicted)
        assert status["cam01"].disk_floor_bytes == floor
        assert not status["cam01"].disk_low

        # The newest footage is whole: an event in it gets a complete clip.
        event = base + (rounds - 1) * FILE_SECONDS + 10
        result = ClipBuilder(recorder.buffers["cam02"]).build(event, SPEC, tmp_path / "e.mp4")
        assert not result.gaps
        assert len(decode_clip(result.path).frames) == SPEC.frame_count


def test_recording_cameras_keep_the_free_space_floor_of_a_small_file_system(
    camera_file: Path, tmp_path: Path
) -> None:
    floor = 2 * MB
    cameras = {f"cam0{k}": "demo://?width=640&height=360" for k in (1, 2)}
    with small_filesystem(8) as fs:
        recorder = make_recorder(fs, cameras, floor)
        old: list[Path] = []
        for buffer in recorder.buffers.values():  # footage of an earlier run, to be evicted
            record_file(buffer, camera_file, time.time() - 3600)
            old += [s.path for s in buffer.segments()]
        # Something else takes the disk down to just above the floor.
        fs.fill(leave_bytes=floor + MB // 2)
        samples = sample_before_the_guard(recorder, fs)
        polled: list[int] = []
        recorder.start()
        try:
            started = time.time()

            def recorded_on_the_floor() -> bool:
                polled.append(fs.free_bytes)
                live = [b.newest or 0 for b in recorder.buffers.values()]
                return (
                    recorder.space_guard.status().evicted_segments >= len(old)
                    and min(live) > started + 15
                )

            wait_until(recorded_on_the_floor, 90, "15 s of recording on the floor")
            for status in recorder.status():
                assert status.state is CameraState.RECORDING, status
            assert min(samples) >= floor
            assert min(polled) >= floor
            gone = [path for path in old if not path.exists()]
            assert gone == old
            # Oldest first: each camera's old segments went from the start, none out of order.
            for buffer in recorder.buffers.values():
                mine = sorted(p for p in old if p.parent == buffer.directory)
                missing = [p for p in mine if not p.exists()]
                assert missing == mine[: len(missing)]
                live = [s for s in buffer.segments() if s.start > started - 5]
                assert live and not buffer.gaps(live[0].start, live[-1].end)

            event = time.time() - SPEC.post_seconds - 0.5
            result = ClipBuilder(recorder.buffers["cam01"]).build(event, SPEC, tmp_path / "e.mp4")
            assert not result.gaps
            assert len(decode_clip(result.path).frames) == SPEC.frame_count
        finally:
            recorder.stop()


def test_a_camera_whose_write_finds_the_disk_full_frees_the_oldest_footage_and_records_on(
    camera_file: Path, tmp_path: Path
) -> None:
    with small_filesystem(8) as fs:
        # No floor: only the write failing with ENOSPC can make room.
        recorder = make_recorder(fs, {"cam01": "demo://?width=640&height=360"}, 0)
        buffer = recorder.buffers["cam01"]
        record_file(buffer, camera_file, time.time() - 3600)  # footage of an earlier run
        old = buffer.segments()
        recorder.start()
        try:
            wait_until(lambda: (buffer.newest or 0) > time.time() - 1, 20, "live footage")
            live_start = buffer.segments()[len(old)].start
            fs.fill(0)  # something else takes every free block

            full_at = time.time()
            wait_until(
                lambda: recorder.space_guard.status().evicted_segments > 0, 20, "an eviction"
            )
            wait_until(lambda: (buffer.newest or 0) > full_at + 6, 20, "recording to go on")
            status = recorder.status()[0]
            assert status.state is CameraState.RECORDING
            assert "disk was full" in status.reason
            segments = buffer.segments()
            # The oldest footage went first; the live recording has no hole longer than a
            # keyframe interval (recording resumed at the next keyframe, not after a reconnect).
            evicted = [s for s in old if not s.path.exists()]
            assert evicted and evicted == old[: len(evicted)]
            # Old footage first; of the live recording, at most the piece written when the
            # disk filled up went too (the file being written is closed early to give it).
            kept_live = [s for s in segments if s.start >= live_start - 1e-6]
            assert len(evicted) == len(old) or kept_live[0].start == live_start
            assert kept_live[0].start <= live_start + 3
            holes = buffer.gaps(live_start, segments[-1].end)
            assert all(hole.duration < 3 for hole in holes), holes
            row = recorder.buffer_status()[0]
            assert row.evicted_for_space > 0 and row.disk_free_bytes is not None

            event = time.time() - SPEC.post_seconds - 0.5
            result = ClipBuilder(buffer).build(event, SPEC, tmp_path / "e.mp4")
            assert len(decode_clip(result.path).frames) == SPEC.frame_count
        finally:
            recorder.stop()


def test_a_buffer_on_a_read_only_file_system_says_so_and_records_again_when_writable() -> None:
    with small_filesystem(16) as fs:
        # A short buffer (a new file every piece): the bind mount below fails new files only,
        # while a disk that really turns read-only fails writes to open files as well.
        recorder = make_recorder(fs, {"cam01": "demo://?width=640&height=360"}, 0, 40.0)
        buffer = recorder.buffers["cam01"]
        recorder.start()
        try:
            wait_until(lambda: (buffer.newest or 0) > time.time() - 1, 20, "live footage")
            with fs.read_only_for_new_writes():
                stuck = recorder.status()
                wait_until(
                    lambda: recorder.status()[0].state is not CameraState.RECORDING,
                    20,
                    "the camera to report the read-only buffer",
                )
                reason = recorder.status()[0].reason
                assert "read-only" in reason.lower(), (stuck, reason)
                newest = buffer.newest or 0.0
            # Writable again: recording resumes by itself, nothing restarted by hand.
            wait_until(lambda: (buffer.newest or 0) > newest + 4, 30, "recording again")
            wait_until(
                lambda: recorder.status()[0].state is CameraState.RECORDING, 10, "recording state"
            )
            assert not [s for s in buffer.segments() if not s.path.exists()]
        finally:
            recorder.stop()


def test_disk_full_is_recognised_through_pyav_and_chained_errors() -> None:
    assert is_disk_full(OSError(errno.ENOSPC, "No space left on device"))
    assert is_disk_full(OSError(errno.EDQUOT, "Disk quota exceeded"))
    try:
        av.error.err_check(-errno.ENOSPC)
    except av.FFmpegError as exc:
        assert is_disk_full(exc)
    try:
        try:
            raise OSError(errno.ENOSPC, "full")
        except OSError as inner:
            raise RuntimeError("writing failed") from inner
    except RuntimeError as outer:
        assert is_disk_full(outer)
    assert not is_disk_full(OSError(errno.EROFS, "Read-only file system"))
    assert not is_disk_full(ValueError("no"))


def test_the_free_space_floor_is_a_setting_with_clear_errors() -> None:
    def settings(**environ: str) -> object:
        return load_settings(env_files=[], environ=environ)

    default = load_settings(env_files=[], environ={})
    assert default.buffer_min_free_mb == 512
    assert recorder_options(default).min_free_bytes == 512 * MB
    chosen = load_settings(env_files=[], environ={"BUFFER_MIN_FREE_MB": "64"})
    assert recorder_options(chosen).min_free_bytes == 64 * MB
    assert load_settings(env_files=[], environ={"BUFFER_MIN_FREE_MB": "0"}).buffer_min_free_mb == 0
    for bad in ("-1", "1048577", "lots", "1.5"):
        with pytest.raises(SettingsError) as caught:
            settings(BUFFER_MIN_FREE_MB=bad)
        assert "BUFFER_MIN_FREE_MB" in str(caught.value)
    example = (Path(__file__).resolve().parents[2] / ".env.example").read_text()
    assert "\nBUFFER_MIN_FREE_MB=512\n" in example
