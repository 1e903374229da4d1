"""Retention per camera and one disk budget across cameras, on real recorded buffers."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any

from tests.engine.conftest import FILE_SECONDS, MOMENT
from tests.support.clipcheck import decode_clip
from tests.support.clocks import ManualClock
from tests.support.filesystems import small_filesystem
from tests.support.media import record_file
from tests.support.waiting import wait_until
from vms_desktop.domain.camera import CameraConfig, CameraState
from vms_desktop.engine.clip_builder import ClipBuilder, ClipSpec
from vms_desktop.engine.recorder import Recorder, RecorderOptions
from vms_desktop.engine.segment_buffer import Segment
from vms_desktop.engine.sources import Timeouts

HOUR = 3600.0
MB = 1024 * 1024
SPEC = ClipSpec(pre_seconds=2, post_seconds=2)


def recorder_at(
    root: Path, clock: ManualClock, cameras: tuple[str, ...], **options: Any
) -> Recorder:
    """A recorder over real buffers whose clock the test moves; nothing recording live."""
    chosen = RecorderOptions(buffer_root=root, min_free_bytes=0, **options)
    return Recorder([CameraConfig(c, "demo://") for c in cameras], chosen, clock)


def prune_all(recorder: Recorder) -> None:
    """One pass of what the recorder's maintainer does."""
    for buffer in recorder.buffers.values():
        buffer.prune()


def starts(segments: list[Segment]) -> set[float]:
    return {segment.start for segment in segments}


def test_each_camera_keeps_its_own_hours_as_the_clock_moves_on(
    tmp_path: Path, camera_file: Path
) -> None:
    clock = ManualClock(MOMENT)
    recorder = recorder_at(
        tmp_path / "archive",
        clock,
        ("cam01", "cam02"),
        retention_seconds=4 * HOUR,
        retention_by_camera={"cam01": 1 * HOUR},
    )
    assert recorder.retention_for("cam01") == HOUR
    assert recorder.retention_for("cam02") == 4 * HOUR
    recorded: dict[str, list[list[Segment]]] = {"cam01": [], "cam02": []}
    for offset in (0.0, 1.5 * HOUR, 3 * HOUR):  # three recordings an hour and a half apart
        for camera_id, buffer in recorder.buffers.items():
            before = starts(buffer.segments())
            record_file(buffer, camera_file, MOMENT + offset)
            recorded[camera_id].append([s for s in buffer.segments() if s.start not in before])
    assert all(len(buffer.segments()) > 0 for buffer in recorder.buffers.values())

    def on_disk(camera_id: str, recording: int) -> list[bool]:
        return [segment.path.exists() for segment in recorded[camera_id][recording]]

    # Past the newest recording's end by 100 s: one hour back reaches none of the older two.
    clock.advance(3 * HOUR + FILE_SECONDS + 100)
    prune_all(recorder)
    assert not any(on_disk("cam01", 0)) and not any(on_disk("cam01", 1))
    assert all(on_disk("cam01", 2))
    assert all(on_disk("cam02", 0)) and all(on_disk("cam02", 1)) and all(on_disk("cam02", 2))
    rows = {row.camera_id: row for row in recorder.buffer_status()}
    assert rows["cam01"].retention_seconds == HOUR
    assert rows["cam02"].retention_seconds == 4 * HOUR
    assert rows["cam01"].oldest == recorded["cam01"][2][0].start
    assert rows["cam02"].oldest == MOMENT

    # An hour and a half on: the one-hour camera is empty, the other lost its oldest recording.
    clock.advance(1.5 * HOUR)
    prune_all(recorder)
    assert recorder.buffers["cam01"].segments() == []
    assert not any(on_disk("cam02", 0))
    assert all(on_disk("cam02", 1)) and all(on_disk("cam02", 2))
    assert recorder.buffer_status()[1].oldest == recorded["cam02"][1][0].start


def test_the_budget_gives_up_the_oldest_footage_of_any_camera_first(
    tmp_path: Path, camera_file: Path
) -> None:
    probe = recorder_at(tmp_path / "probe", ManualClock(MOMENT), ("probe",))
    record_file(probe.buffers["probe"], camera_file, MOMENT)
    one_recording = probe.buffers["probe"].size_bytes
    budget = round(3.5 * one_recording)
    clock = ManualClock(MOMENT)
    recorder = recorder_at(tmp_path / "archive", clock, ("cam01", "cam02"), max_total_bytes=budget)
    seen: dict[Path, tuple[float, str]] = {}
    # The two cameras take turns, so the oldest footage alternates between them.
    for index in range(8):
        camera_id = ("cam01", "cam02")[index % 2]
        buffer = recorder.buffers[camera_id]
        record_file(buffer, camera_file, MOMENT + index * (FILE_SECONDS + 10))
        seen.update({s.path: (s.start, camera_id) for s in buffer.segments()})
        held = sum(b.size_bytes for b in recorder.buffers.values())
        assert held <= budget

    kept = {s.path for b in recorder.buffers.values() for s in b.segments()}
    evicted = [seen[path] for path in seen if path not in kept]
    assert {camera for _, camera in evicted} == {"cam01", "cam02"}
    assert max(start for start, _ in evicted) <= min(seen[path][0] for path in kept)
    assert all(path.exists() for path in kept)
    assert not any(path.exists() for path in set(seen) - kept)
    # What is kept is most of the budget: the newest recordings of both cameras.
    held = sum(b.size_bytes for b in recorder.buffers.values())
    assert held > budget - 2 * one_recording
    row = recorder.buffer_status()[0]
    assert row.budget_bytes == budget and row.archive_bytes == held
    assert row.evicted_for_budget == len(evicted)
    assert not row.over_budget


def test_live_cameras_on_a_small_file_system_stay_within_the_budget_oldest_first(
    camera_file: Path, tmp_path: Path
) -> None:
    budget = 3 * MB
    cameras = ("cam01", "cam02")
    with small_filesystem(16) as fs:
        options = RecorderOptions(
            buffer_root=fs.path / "archive",
            retention_seconds=1e9,
            max_total_bytes=budget,
            min_free_bytes=MB,
            timeouts=Timeouts(connect=5, read=5),
            stall_timeout=5,
            reconnect_max=2,
            maintain_interval=1.0,
        )
        recorder = Recorder(
            [CameraConfig(c, "demo://?width=640&height=360") for c in cameras], options
        )
        old: list[Path] = []
        for buffer in recorder.buffers.values():  # footage of an earlier run, to be evicted
            record_file(buffer, camera_file, time.time() - 3600)
            old += [s.path for s in buffer.segments()]
        # What the archive takes on the disk, sampled as each segment closes (before the
        # budget is enforced for it) and while the cameras record.
        samples: list[int] = []
        guard = recorder.space_guard

        def check() -> None:
            samples.append(archive_bytes(options.buffer_root))
            guard.check()

        for buffer in recorder.buffers.values():
            buffer.space_check = check
        recorder.start()
        try:
            started = time.time()

            def recorded_within_the_budget() -> bool:
                samples.append(archive_bytes(options.buffer_root))
                live = [b.newest or 0 for b in recorder.buffers.values()]
                # The earlier run is one file per camera (a long archive's files hold many
                # pieces): both must go for the live footage to fit.
                return guard.status().evicted_for_budget >= len(old) and min(live) > started + 15

            wait_until(recorded_within_the_budget, 90, "15 s of recording within the budget")
            for status in recorder.status():
                assert status.state is CameraState.RECORDING, status
            # Room is kept for the segments being written, so the archive stays within.
            assert max(samples) <= budget, (max(samples), budget)
            # The earlier run's footage went first, the oldest of either camera before the rest.
            gone = [path for path in old if not path.exists()]
            assert gone == old
            kept_starts = [s.start for b in recorder.buffers.values() for s in b.segments()]
            assert max(start_of(path) for path in gone) <= min(kept_starts)
            # The newest footage of each camera is whole, and every byte of it is counted.
            for buffer in recorder.buffers.values():
                live = [s for s in buffer.segments() if s.start > started - 5]
                assert live and not buffer.gaps(live[0].start, live[-1].end)
            row = recorder.buffer_status()[0]
            assert row.budget_bytes == budget and not row.over_budget
            assert row.evicted_for_budget >= len(old) and row.evicted_for_space == 0
            assert fs.free_bytes > fs.size_bytes - budget - MB
            event = time.time() - SPEC.post_seconds - 0.5
            result = ClipBuilder(recorder.buffers["cam02"]).build(event, SPEC, tmp_path / "e.mp4")
            assert not result.gaps
            assert len(decode_clip(result.path).frames) == SPEC.frame_count
        finally:
            recorder.stop()


def start_of(path: Path) -> float:
    """UTC start of a closed segment file, from its name."""
    return int(path.name.split("_")[0]) / 1000


def archive_bytes(root: Path) -> int:
    """Bytes of every file under ``root``, as the file system lists them now."""
    total = 0
    for path in root.rglob("*"):
        with contextlib.suppress(FileNotFoundError):
            if path.is_file():
                total += path.stat().st_size
    return total
