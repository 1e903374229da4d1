"""Retention per camera and one disk budget across cameras, on real recorded buffers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.engine.conftest import FILE_SECONDS, MOMENT
from tests.support.clocks import ManualClock
from tests.support.media import record_file
from vms_desktop.domain.camera import CameraConfig
from vms_desktop.engine.recorder import Recorder, RecorderOptions
from vms_desktop.engine.segment_buffer import Segment

HOUR = 3600.0


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
