"""Live playlists keep their numbering from one reload to the next, over a real archive."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.api.archive_support import RUN_A, RUN_B, RUN_SECONDS, camera_files, playlist_lines
from tests.support.media import record_file
from vms_desktop.api.routes.archive_playlist import LiveNumbering, live_playlist
from vms_desktop.engine.archive import Archive
from vms_desktop.engine.clock import WallClock
from vms_desktop.engine.segment_buffer import SegmentBuffer

# A third run, after the second with no hole: a reconnect, so still a discontinuity.
RUN_C = RUN_B + RUN_SECONDS


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return camera_files(tmp_path_factory.mktemp("live-media"))


@pytest.fixture
def buffer(tmp_path: Path) -> SegmentBuffer:
    return SegmentBuffer(tmp_path / "buffer", "cam01", clock=WallClock(RUN_C + RUN_SECONDS + 60))


def _tags(text: str) -> dict[str, str]:
    return {line.partition(":")[0]: line.partition(":")[2] for line in playlist_lines(text)}


def test_the_discontinuity_sequence_grows_as_breaks_slide_off(
    buffer: SegmentBuffer, files: tuple[Path, Path]
) -> None:
    archive = Archive({"cam01": buffer})
    reloaded = LiveNumbering(archive)  # a player reloading all along
    late = LiveNumbering(archive)  # one that comes back after a while
    assert reloaded.edge("cam01") is None

    record_file(buffer, files[0], RUN_A)
    edge = reloaded.edge("cam01")
    assert edge is not None and late.edge("cam01") is not None
    assert edge.discontinuity_sequence == 0 and len(edge.spans) == 6
    assert edge.target == 2

    # Two pieces of a second run: the playlist holds the break.
    record_file(buffer, files[1], RUN_B, seconds=4)
    edge = reloaded.edge("cam01")
    assert edge is not None and edge.discontinuity_sequence == 0
    text = live_playlist(edge, lambda span: f"media/{span.sequence}.ts")
    lines = playlist_lines(text)
    assert lines.count("#EXT-X-DISCONTINUITY") == 1
    tags = _tags(text)
    assert tags["#EXT-X-MEDIA-SEQUENCE"] == str(edge.spans[0].sequence)
    assert tags["#EXT-X-DISCONTINUITY-SEQUENCE"] == "0" and tags["#EXT-X-TARGETDURATION"] == "2"
    assert "#EXT-X-ENDLIST" not in lines
    # Each run's first piece carries its wall-clock moment.
    dates = [line for line in lines if line.startswith("#EXT-X-PROGRAM-DATE-TIME:")]
    assert len(dates) == 2
    first_b = lines.index("#EXT-X-DISCONTINUITY")
    assert lines[first_b + 1].startswith("#EXT-X-PROGRAM-DATE-TIME:2026-03-14T15:09:46.000Z")

    # A third run pushes both breaks off the head: two discontinuities have gone by.
    record_file(buffer, files[0], RUN_C)
    edge = reloaded.edge("cam01")
    assert edge is not None
    assert edge.discontinuity_sequence == 2
    assert [span.sequence for span in edge.spans] == [
        span.sequence for span in archive.live_spans("cam01", 6)
    ]
    assert not any(span.discontinuity for span in edge.spans[1:])
    # The player that last saw the first run finds the same numbers.
    again = late.edge("cam01")
    assert again is not None and again.discontinuity_sequence == 2
    assert [span.sequence for span in again.spans] == [span.sequence for span in edge.spans]
    # Reloading with nothing new changes nothing.
    same = reloaded.edge("cam01")
    assert same is not None and same.discontinuity_sequence == 2


def test_numbers_never_go_back_when_the_pieces_seen_are_gone(
    buffer: SegmentBuffer, files: tuple[Path, Path]
) -> None:
    archive = Archive({"cam01": buffer})
    numbering = LiveNumbering(archive)
    record_file(buffer, files[0], RUN_A)
    assert numbering.edge("cam01") is not None
    record_file(buffer, files[1], RUN_B)
    record_file(buffer, files[0], RUN_C)
    # Everything but the last run ages out before the player reloads.
    buffer.retention_seconds = buffer.clock.now() - RUN_C
    buffer.prune()
    assert buffer.oldest == pytest.approx(RUN_C, abs=0.01)
    edge = numbering.edge("cam01")
    assert edge is not None and edge.discontinuity_sequence >= 1
