"""An archive of several hours with holes and a restart: played, exported and pruned.

Real stamped H.264 is recorded at injected moments spread over five hours (a stretch, a
reconnect carrying straight on, hours of darkness between stretches) into files of many
pieces, the archive is reopened part-way as after a restart of the application, and then every
reader is pointed at it: the archive decoder, the clip builder, the playlist spans and pruning.
"""

from __future__ import annotations

import queue
from pathlib import Path

import pytest

from tests.engine.conftest import FILE_SECONDS
from tests.support.clipcheck import Recording, check_timeline, decode_clip
from tests.support.clocks import ManualClock
from tests.support.media import record_file, stamp_of
from vms_desktop.domain.recording import ArchiveGap, ArchivePicture
from vms_desktop.engine.archive import Archive
from vms_desktop.engine.archive_decoder import ArchiveDecoder
from vms_desktop.engine.clip_builder import ClipBuilder, ClipSpec
from vms_desktop.engine.segment_buffer import SegmentBuffer, archive_file_seconds

HOUR = 3600.0
FPS = 15
# A fixed moment (2026-03-14), so no verdict depends on today's date.
ORIGIN = 1_773_500_966.0
RETENTION = 5 * HOUR
# Five hours: a stretch and a reconnect straight after it, then one stretch an hour.
STRETCHES = (
    Recording(ORIGIN, round(FILE_SECONDS * FPS)),
    Recording(ORIGIN + FILE_SECONDS, round(FILE_SECONDS * FPS)),
    *(Recording(ORIGIN + k * HOUR, round(FILE_SECONDS * FPS)) for k in (1, 2, 3, 4)),
)
RESTART_BEFORE = 3  # the application restarts before the stretch of hour 3


def _buffer(
    root: Path, clock: ManualClock, protected: dict[str, tuple[float, float]] | None = None
) -> SegmentBuffer:
    return SegmentBuffer(
        root,
        "gate",
        retention_seconds=RETENTION,
        segment_seconds=2.0,
        file_seconds=archive_file_seconds(RETENTION, 2.0),
        clock=clock,
        protected=protected,
    )


@pytest.fixture
def archive(tmp_path: Path, camera_file: Path) -> tuple[SegmentBuffer, ManualClock]:
    clock = ManualClock(ORIGIN)
    buffer = _buffer(tmp_path, clock)
    # The first minutes of the morning are kept by a protected bookmark.
    buffer.protect("gate at dawn", ORIGIN + 10, ORIGIN + 14)
    for hour, stretch in enumerate(STRETCHES[1:], start=1):
        if hour == 1:
            record_file(buffer, camera_file, STRETCHES[0].start)
        if hour == RESTART_BEFORE + 1:
            buffer = _buffer(tmp_path, clock, buffer.protected_spans())
        clock.advance(max(0.0, stretch.start - clock.now()))
        record_file(buffer, camera_file, stretch.start)
    clock.advance(STRETCHES[-1].end + 5 - clock.now())
    return buffer, clock


def test_the_archive_lists_its_hours_with_the_holes_between(
    archive: tuple[SegmentBuffer, ManualClock],
) -> None:
    buffer, clock = archive
    coverage = Archive({"gate": buffer}).coverage("gate", ORIGIN, clock.now())
    # One range an hour, hours of holes between them. The reconnect of the first hour carried
    # straight on, and files found after a restart no longer say which connection wrote
    # them, so its two stretches read as one.
    assert [round(r.start - ORIGIN, 1) for r in coverage.ranges] == [
        round(s.start - ORIGIN, 1) for s in STRETCHES if s is not STRETCHES[1]
    ]
    assert coverage.ranges[0].end == pytest.approx(STRETCHES[1].end, abs=0.2)
    # Four holes between the hours, and the seconds since the camera went dark.
    assert len(coverage.gaps) == 5 and coverage.gaps[-1].end == clock.now()
    assert coverage.recorded_seconds == pytest.approx(len(STRETCHES) * FILE_SECONDS, abs=1.0)
    spans = Archive({"gate": buffer}).media_spans("gate", ORIGIN, clock.now())
    assert sum(span.discontinuity for span in spans) == len(coverage.ranges) - 1
    # Files hold many pieces: far fewer files than pieces.
    files = buffer.segments()
    assert len(files) < sum(len(buffer.pieces(f)) for f in files) / 4


def test_any_moment_of_any_hour_plays_and_holes_say_where_footage_resumes(
    archive: tuple[SegmentBuffer, ManualClock],
) -> None:
    buffer, _ = archive
    outcomes: queue.Queue[ArchivePicture | ArchiveGap | str] = queue.Queue()
    decoder = ArchiveDecoder(buffer, outcomes.put, outcomes.put, outcomes.put)
    decoder.start()
    try:
        for stretch in STRETCHES:
            for offset in (0.0, 11.37, FILE_SECONDS - 0.5):
                moment = stretch.start + offset
                decoder.show(moment)
                shown = outcomes.get(timeout=20)
                assert isinstance(shown, ArchivePicture), (moment - ORIGIN, shown)
                assert abs(shown.moment - moment) <= 1 / FPS + 1e-3
        # Half past the first hour: nothing until the stretch of hour two.
        decoder.show(ORIGIN + 1.5 * HOUR)
        gap = outcomes.get(timeout=20)
        assert isinstance(gap, ArchiveGap)
        assert gap.resume == pytest.approx(STRETCHES[3].start, abs=1e-3)
    finally:
        decoder.close()
        decoder.join(10)


def test_a_range_across_a_hole_is_exported_with_its_hole_black(
    archive: tuple[SegmentBuffer, ManualClock], tmp_path: Path
) -> None:
    buffer, _ = archive
    # Four seconds of darkness, then the first six seconds after the restart.
    event = STRETCHES[4].start + 2.0
    spec = ClipSpec(pre_seconds=6.0, post_seconds=4.0)
    result = ClipBuilder(buffer).build(event, spec, tmp_path / "range.mp4")
    assert [(round(g.start - ORIGIN, 3), round(g.end - ORIGIN, 3)) for g in result.gaps] == [
        (round(event - 6.0 - ORIGIN, 3), round(STRETCHES[4].start - ORIGIN, 3))
    ]
    clip = decode_clip(result.path)
    assert len(clip.frames) == spec.frame_count
    gaps = [(g.start, g.end) for g in result.gaps]
    check_timeline(clip.frames, gaps, list(STRETCHES), event - 6.0, result.fps)
    assert stamp_of(clip.frames[-1]) is not None


def test_pruning_removes_whole_hours_but_never_protected_footage(
    archive: tuple[SegmentBuffer, ManualClock],
) -> None:
    buffer, clock = archive
    kept_before = buffer.covering(ORIGIN + 10, ORIGIN + 14)
    assert kept_before
    # Retention is five hours: two hours on, the stretches of hours 0 and 1 are past it.
    clock.advance(2 * HOUR)
    buffer.prune()
    starts = sorted({round(f.start - ORIGIN) for f in buffer.segments()})
    assert buffer.covering(ORIGIN + 10, ORIGIN + 14) == kept_before  # the bookmark holds
    assert all(f.path.exists() for f in kept_before)
    assert not buffer.covering(ORIGIN + HOUR, ORIGIN + HOUR + FILE_SECONDS)
    assert not buffer.covering(ORIGIN + FILE_SECONDS + 1, ORIGIN + 2 * FILE_SECONDS)
    assert buffer.covering(ORIGIN + 2 * HOUR, ORIGIN + 4 * HOUR + FILE_SECONDS)
    assert starts[0] == round(kept_before[0].start - ORIGIN)
    # Released, the morning goes as well; the index files leave with their footage.
    buffer.release("gate at dawn")
    buffer.prune()
    assert not buffer.covering(ORIGIN, ORIGIN + HOUR + FILE_SECONDS)
    left = {path.name for path in buffer.directory.iterdir()}
    listed = {f.path.name for f in buffer.segments()}
    assert {name for name in left if name.endswith(".ts")} == listed
    assert len([name for name in left if name.endswith(".idx")]) <= len(listed)
