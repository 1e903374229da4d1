"""Protected bookmarks keep their footage in a real buffer, through retention, a free-space
squeeze, a full file system and a restart, until they are deleted.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.engine.conftest import FILE_SECONDS, MOMENT, BufferFactory
from tests.engine.test_free_space import MB, make_recorder
from tests.support.filesystems import small_filesystem
from tests.support.media import record_file
from vms_desktop.domain.bookmark import BookmarkQuery
from vms_desktop.domain.errors import BookmarkNotFoundError, UnknownCameraError
from vms_desktop.engine.bookmarks import BookmarkService, stored_protection
from vms_desktop.engine.free_space import FreeSpaceGuard
from vms_desktop.engine.segment_buffer import SegmentBuffer
from vms_desktop.storage.bookmark_store import BookmarkStore

BEFORE = AFTER = 2.0
MOMENT_MARKED = MOMENT + 16  # the middle of a 34 s recording


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def spans(buffer: SegmentBuffer) -> list[tuple[float, float]]:
    return [(s.start, s.end) for s in buffer.segments()]


def kept_around(buffer: SegmentBuffer, start: float, end: float) -> bool:
    """Whether the buffer still holds every second of ``[start, end]``."""
    return not buffer.gaps(start, end, until=end)


@pytest.fixture
def recorded(buffer_at: BufferFactory, camera_file: Path) -> SegmentBuffer:
    buffer = buffer_at(MOMENT + 1000, retention_seconds=3600)
    record_file(buffer, camera_file, MOMENT)
    return buffer


def service_over(buffer: SegmentBuffer, path: Path) -> BookmarkService:
    return BookmarkService(
        BookmarkStore(path), {buffer.camera_id: buffer}, before=BEFORE, after=AFTER
    )


def test_protected_footage_outlives_retention_and_a_squeeze_then_goes_once_deleted(
    recorded: SegmentBuffer, tmp_path: Path
) -> None:
    buffer = recorded
    service = service_over(buffer, tmp_path / "bookmarks.sqlite3")
    plain = service.add("cam01", at(MOMENT + 4), note="not protected")
    kept = service.add("cam01", at(MOMENT_MARKED), note="van at the gate", protect=True)
    before = spans(buffer)

    buffer.retention_seconds = 10  # every second recorded is long past retention
    removed = buffer.prune()
    assert removed, "footage outside the protected span ages out as before"
    assert kept_around(buffer, MOMENT_MARKED - BEFORE, MOMENT_MARKED + AFTER)
    assert not kept_around(buffer, MOMENT + 3, MOMENT + 5)  # the plain bookmark's moment
    # Newer footage went around the span, yet a clip of the span's moment still counts as whole.
    assert buffer.evicted_until > MOMENT_MARKED + AFTER
    assert buffer.keeps(MOMENT_MARKED - BEFORE, MOMENT_MARKED + AFTER)
    assert all(
        s.end > MOMENT_MARKED - BEFORE and s.start <= MOMENT_MARKED + AFTER
        for s in buffer.segments()
    )

    squeeze = FreeSpaceGuard(tmp_path, [buffer], min_free_bytes=1 << 40, free_bytes=lambda _: 0)
    squeeze.check()
    assert squeeze.status().low, "nothing else left to evict"
    assert kept_around(buffer, MOMENT_MARKED - BEFORE, MOMENT_MARKED + AFTER)
    assert len(list(buffer.directory.iterdir())) == len(buffer.segments())

    service.delete(kept.id)
    assert not buffer.keeps(MOMENT_MARKED - BEFORE, MOMENT_MARKED + AFTER)
    assert buffer.prune()
    assert buffer.segments() == []
    assert len(before) > 0 and plain.protect is False
    service.store.close()


def test_protection_comes_back_from_the_store_at_start(
    recorded: SegmentBuffer, buffer_at: BufferFactory, tmp_path: Path
) -> None:
    path = tmp_path / "bookmarks.sqlite3"
    first = service_over(recorded, path)
    end = at(MOMENT_MARKED + 6)
    kept = first.add("cam01", at(MOMENT_MARKED), end=end, protect=True)
    first.store.close()

    # A restart: the bookmarks are read from their file, and the buffer, made knowing what
    # they protect, reads its folder and prunes it at once.
    store = BookmarkStore(path)
    protected = stored_protection(store, before=BEFORE, after=AFTER)
    store.close()
    assert list(protected) == ["cam01"]
    buffer = buffer_at(MOMENT + 1000, retention_seconds=10, protected=protected["cam01"])
    again = service_over(buffer, path)
    assert kept_around(buffer, MOMENT_MARKED - BEFORE, MOMENT_MARKED + 6 + AFTER)
    assert buffer.oldest is not None and buffer.oldest > MOMENT

    again.delete(kept.id)
    assert buffer.protected_spans() == {}
    buffer.prune()
    assert buffer.segments() == []
    again.store.close()


def test_unknown_cameras_and_ids_are_refused(recorded: SegmentBuffer, tmp_path: Path) -> None:
    service = service_over(recorded, tmp_path / "bookmarks.sqlite3")
    with pytest.raises(UnknownCameraError):
        service.add("cam99", at(MOMENT), protect=True)
    with pytest.raises(BookmarkNotFoundError):
        service.delete("no-such-bookmark")
    assert service.bookmarks(BookmarkQuery()).total == 0
    assert recorded.protected_spans() == {}
    service.store.close()


def test_protected_footage_outlasts_a_full_file_system_until_deleted(
    camera_file: Path, tmp_path: Path
) -> None:
    rounds = 8  # 8 x 34 s for each of two cameras: more than twice what 8 MB holds
    floor = 2 * MB
    with small_filesystem(8) as fs:
        recorder = make_recorder(fs, {"cam01": "demo://", "cam02": "demo://"}, floor)
        service = BookmarkService(
            BookmarkStore(tmp_path / "bookmarks.sqlite3"),
            recorder.buffers,
            before=BEFORE,
            after=AFTER,
        )
        cam01 = recorder.buffers["cam01"]
        base = time.time() - rounds * FILE_SECONDS - 60
        marked = base + 16
        for buffer in recorder.buffers.values():
            record_file(buffer, camera_file, base)
        kept = service.add("cam01", at(marked), note="keep", protect=True)
        held = [s.path for s in cam01.covering(marked - BEFORE, marked + AFTER)]
        for index in range(1, rounds):
            for buffer in recorder.buffers.values():
                record_file(buffer, camera_file, base + index * FILE_SECONDS)
            assert fs.free_bytes >= floor

        assert recorder.space_guard.status().evicted_segments > 0
        assert all(path.exists() for path in held)
        assert kept_around(cam01, marked - BEFORE, marked + AFTER)
        # Around it (past the files it keeps whole), the same first minute went to make room,
        # on both cameras.
        held_until = max(s.end for s in cam01.covering(marked - BEFORE, marked + AFTER))
        assert not kept_around(cam01, held_until + 0.5, held_until + FILE_SECONDS - 0.5)
        assert not kept_around(recorder.buffers["cam02"], marked - BEFORE, marked + AFTER)

        service.delete(kept.id)
        for buffer in recorder.buffers.values():
            record_file(buffer, camera_file, base + rounds * FILE_SECONDS)
        assert fs.free_bytes >= floor
        assert not any(path.exists() for path in held), "the oldest footage goes first again"
        service.store.close()
