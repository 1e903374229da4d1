"""The SQLite clip catalogue: filters, pages, text search, sync, damaged files and scale."""

from __future__ import annotations

import hashlib
import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.support.factories import WHEN, clip_record
from vms_desktop.domain.clip import ClipMeta
from vms_desktop.domain.clip_query import CatalogueChange, ClipQuery
from vms_desktop.domain.errors import CatalogueError, StoreError
from vms_desktop.storage.clip_index import SCHEMA_VERSION, ClipIndex, SyncResult

# Every clip_record defaults to this moment.
T0 = WHEN


@pytest.fixture
def index(tmp_path: Path) -> Iterator[ClipIndex]:
    with ClipIndex(tmp_path / "catalogue.sqlite3") as opened:
        yield opened


@pytest.fixture
def sample(index: ClipIndex) -> list[ClipMeta]:
    """Ten clips a minute apart on two cameras and two event types."""
    metas = [
        clip_record(
            f"ev-{i}",
            camera_id="cam01" if i % 2 == 0 else "cam02",
            event_type="person" if i < 5 else "vehicle",
            at=T0 + timedelta(minutes=i),
        )
        for i in range(10)
    ]
    assert index.upsert_many(metas) == 10
    return metas


def ids(page_items: list[ClipMeta]) -> list[str]:
    return [meta.event_id for meta in page_items]


def test_round_trip(index: ClipIndex) -> None:
    meta = clip_record("ev-1")
    index.upsert(meta)
    assert index.get("ev-1") == meta
    assert index.get("ev-2") is None
    assert index.count() == 1
    assert index.event_ids() == {"ev-1"}
    changed = clip_record("ev-1", size=2000)
    index.upsert(changed)
    assert index.get("ev-1") == changed and index.count() == 1
    assert index.delete("ev-1") is True
    assert index.delete("ev-1") is False
    assert index.count() == 0


def test_a_new_file_is_created_with_the_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "catalogue.sqlite3"
    with ClipIndex(path) as index:
        assert index.rebuilt  # new and empty: the caller fills it from the store
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_data_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "catalogue.sqlite3"
    with ClipIndex(path) as index:
        index.upsert(clip_record("ev-1"))
    with ClipIndex(path) as index:
        assert not index.rebuilt
        assert index.event_ids() == {"ev-1"}


def test_newest_first_by_event_time(index: ClipIndex, sample: list[ClipMeta]) -> None:
    page = index.list()
    assert ids(page.items) == [f"ev-{i}" for i in reversed(range(10))]
    assert (page.total, page.limit, page.offset) == (10, 50, 0)
    page = index.list(ClipQuery(newest_first=False))
    assert ids(page.items) == [f"ev-{i}" for i in range(10)]
    assert page.items == sample


def test_ties_are_ordered_by_event_id(index: ClipIndex) -> None:
    index.upsert_many([clip_record(f"ev-{c}") for c in "cab"])
    assert ids(index.list().items) == ["ev-c", "ev-b", "ev-a"]
    assert ids(index.list(ClipQuery(newest_first=False)).items) == ["ev-a", "ev-b", "ev-c"]


def test_pagination(index: ClipIndex, sample: list[ClipMeta]) -> None:
    seen: list[str] = []
    for offset in range(0, 10, 3):
        page = index.list(ClipQuery(limit=3, offset=offset))
        assert page.total == 10 and (page.limit, page.offset) == (3, offset)
        seen += ids(page.items)
    assert seen == [f"ev-{i}" for i in reversed(range(10))]
    assert index.list(ClipQuery(limit=3, offset=100)).items == []
    empty = index.list(ClipQuery(limit=0))
    assert empty.items == [] and empty.total == 10
    for bad in ({"limit": -1}, {"offset": -1}, {"offset": 1 << 63}):
        with pytest.raises(ValueError):
            index.list(ClipQuery(**bad))  # type: ignore[arg-type]


def test_filters(index: ClipIndex, sample: list[ClipMeta]) -> None:
    assert ids(index.list(ClipQuery(camera_id="cam01", newest_first=False)).items) == [
        "ev-0",
        "ev-2",
        "ev-4",
        "ev-6",
        "ev-8",
    ]
    assert index.list(ClipQuery(camera_id="CAM01")).total == 5  # camera ids are case-insensitive
    assert index.list(ClipQuery(camera_id="cam03")).total == 0
    assert index.list(ClipQuery(camera_id="../../etc")).total == 0
    assert index.list(ClipQuery(event_type="vehicle")).total == 5
    assert index.list(ClipQuery(event_type="Vehicle")).total == 0
    page = index.list(ClipQuery(camera_id="cam02", event_type="person", newest_first=False))
    assert ids(page.items) == ["ev-1", "ev-3"] and page.total == 2


def test_time_range_is_inclusive_start_exclusive_end(
    index: ClipIndex, sample: list[ClipMeta]
) -> None:
    page = index.list(ClipQuery(start=T0 + timedelta(minutes=2), end=T0 + timedelta(minutes=5)))
    assert ids(page.items) == ["ev-4", "ev-3", "ev-2"] and page.total == 3
    assert index.list(ClipQuery(start=T0 + timedelta(minutes=9))).total == 1
    assert index.list(ClipQuery(end=T0)).total == 0
    assert index.list(ClipQuery(end=T0 + timedelta(milliseconds=1))).total == 1
    # Another zone, the same instants.
    paris = timezone(timedelta(hours=2))
    page = index.list(ClipQuery(start=(T0 + timedelta(minutes=2)).astimezone(paris)))
    assert page.total == 8
    with pytest.raises(ValueError):
        index.list(ClipQuery(start=datetime(2025, 5, 31, 10, 0)))


def test_filters_use_the_event_time_not_the_creation_time(index: ClipIndex) -> None:
    index.upsert(clip_record("old-event", at=T0, created_at=T0 + timedelta(days=3)))
    assert index.list(ClipQuery(start=T0, end=T0 + timedelta(hours=1))).total == 1
    assert index.list(ClipQuery(start=T0 + timedelta(days=2))).total == 0


def test_text_search(index: ClipIndex) -> None:
    index.upsert_many(
        [
            clip_record("front-door-1", camera_id="cam01", event_type="person"),
            clip_record("yard-2", camera_id="cam02", event_type="vehicle"),
            clip_record("a_b", camera_id="cam03", event_type="motion"),
            clip_record("axb", camera_id="cam03", event_type="motion"),
            clip_record("a-b", camera_id="cam03", event_type="motion"),
            clip_record("load-505", camera_id="cam04", event_type="load 50.5"),
        ]
    )

    def found(text: str) -> set[str]:
        page = index.list(ClipQuery(text=text))
        assert page.total == len(page.items)
        return set(ids(page.items))

    assert found("door") == {"front-door-1"}
    assert found("DOOR") == {"front-door-1"}  # ASCII case-insensitive
    assert found("cam02") == {"yard-2"}
    assert found("vehic") == {"yard-2"}
    assert found("_") == {"a_b"}  # a literal underscore, not "any character"
    assert found("a_b") == {"a_b"}
    # No id or event type can hold "%": taken literally, it matches nothing, not everything.
    assert found("%") == set()
    assert found("a%b") == set()
    assert found("50%5") == set()
    assert found("50.5") == {"load-505"}
    assert found("\\") == set()
    assert found("\\%") == set()
    assert found("1\ncam01") == set()  # never matches across two fields
    assert found("' OR 1=1 --") == set()
    assert found("\x00") == set()
    assert found("x" * 100_000) == set()
    assert len(found("")) == 6
    assert index.list(ClipQuery(text="cam03", camera_id="cam03", event_type="motion")).total == 3
    assert index.count() == 6  # the table survived every one of those


def test_ids_older_than_uses_creation_time(index: ClipIndex) -> None:
    index.upsert_many(
        [
            clip_record("new-event-old-clip", at=T0 + timedelta(days=9), created_at=T0),
            clip_record("b", created_at=T0 + timedelta(days=1)),
            clip_record("a", created_at=T0 + timedelta(days=1)),
            clip_record("recent", created_at=T0 + timedelta(days=5)),
        ]
    )
    cutoff = T0 + timedelta(days=2)
    assert index.ids_older_than(cutoff, 10) == ["new-event-old-clip", "a", "b"]
    assert index.ids_older_than(cutoff, 2) == ["new-event-old-clip", "a"]
    assert index.ids_older_than(T0, 10) == []  # strictly older
    with pytest.raises(ValueError):
        index.ids_older_than(datetime(2025, 1, 1), 10)


def test_sync_adds_updates_and_removes(index: ClipIndex, sample: list[ClipMeta]) -> None:
    store = [*sample[:8], clip_record("ev-5", size=5), clip_record("new-1"), clip_record("new-2")]
    # ev-5 appears twice: the later copy wins, as in a store listing that changed meanwhile.
    result = index.sync(iter(store))
    assert result == SyncResult(added=2, updated=1, removed=2)
    assert index.event_ids() == {meta.event_id for meta in store}
    stored_ev5 = index.get("ev-5")
    assert stored_ev5 is not None and stored_ev5.size == 5
    assert index.sync(store) == SyncResult(0, 0, 0)
    everything = len(index.event_ids())
    assert index.sync([]) == SyncResult(0, 0, everything)
    assert index.count() == 0


def test_sync_keeps_changes_made_while_the_store_is_listed(
    index: ClipIndex, sample: list[ClipMeta]
) -> None:
    fresh = clip_record("stored-during-sync")

    def listing() -> Iterator[ClipMeta]:
        yield from sample[:5]

        # Meanwhile, in another thread: a clip is stored and one that was listed is deleted.
        def meanwhile() -> None:
            index.upsert(fresh)
            index.delete("ev-0")

        worker = threading.Thread(target=meanwhile)
        worker.start()
        worker.join()
        yield from sample[5:]

    result = index.sync(listing())
    assert result == SyncResult(0, 0, 0)
    assert index.get("stored-during-sync") == fresh
    assert index.get("ev-0") is None
    assert index.count() == 10
    # The next sync makes the catalogue equal to the store again.
    assert index.sync(sample) == SyncResult(added=1, updated=0, removed=1)


def test_a_file_that_is_not_a_database_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "catalogue.sqlite3"
    path.write_bytes(b"this is not a database" * 1000)
    with ClipIndex(path) as index:
        assert index.rebuilt and index.count() == 0
        index.upsert(clip_record("ev-1"))
        assert index.event_ids() == {"ev-1"}


def test_a_damaged_database_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "catalogue.sqlite3"
    with ClipIndex(path) as index:
        index.upsert_many([clip_record(f"ev-{i}", size=i) for i in range(2000)])
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    data = bytearray(path.read_bytes())
    assert len(data) > 40_000
    data[8192:24576] = b"\xa5" * 16384  # scribble over a few pages
    path.write_bytes(bytes(data))
    with ClipIndex(path) as index:
        assert index.rebuilt and index.count() == 0


@pytest.mark.parametrize("version", [0, SCHEMA_VERSION + 1, 99])
def test_another_schema_is_replaced(tmp_path: Path, version: int) -> None:
    path = tmp_path / "catalogue.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE clips (x)")
    conn.execute("INSERT INTO clips VALUES (1)")
    conn.execute(f"PRAGMA user_version = {version}")
    conn.commit()
    conn.close()
    with ClipIndex(path) as index:
        assert index.rebuilt and index.count() == 0
        index.upsert(clip_record("ev-1"))
        assert index.list().total == 1


def test_a_locked_database_is_an_error_not_a_replacement(tmp_path: Path) -> None:
    path = tmp_path / "catalogue.sqlite3"
    with ClipIndex(path) as index:
        index.upsert(clip_record("ev-1"))
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("PRAGMA journal_mode = DELETE")
        holder.execute("BEGIN EXCLUSIVE")  # another process in the middle of a write
        with pytest.raises(CatalogueError, match="busy"):
            ClipIndex(path, busy_timeout=0.1)
        holder.execute("ROLLBACK")
    finally:
        holder.close()
    with ClipIndex(path) as index:
        assert not index.rebuilt
        assert index.event_ids() == {"ev-1"}


def test_closed_index_raises_a_store_error(tmp_path: Path) -> None:
    index = ClipIndex(tmp_path / "catalogue.sqlite3")
    index.close()
    index.close()
    with pytest.raises(CatalogueError):
        index.count()
    assert issubclass(CatalogueError, StoreError)


def test_threads_share_the_index(index: ClipIndex) -> None:
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(100):
                index.upsert(clip_record(f"t{n}-{i}", at=T0 + timedelta(seconds=i)))
                index.list(ClipQuery(camera_id="cam01", limit=5))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert index.count() == 600


def test_scale_100k(index: ClipIndex) -> None:
    """100 000 clips: bulk insert in seconds, filtered pages in milliseconds."""
    types = ("person", "vehicle", "motion", "line crossing")
    hexes = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(16)]
    metas = []
    for i in range(100_000):
        at = T0 + timedelta(seconds=37 * i)
        metas.append(
            clip_record(
                f"ev-{i:06d}",
                camera_id=f"cam{i % 16:02d}",
                event_type=types[i % 4],
                at=at,
                size=1_000_000 + i,
                sha256=hexes[i % 16],
            )
        )
    started = time.perf_counter()
    index.upsert_many(metas)
    insert = time.perf_counter() - started
    print(f"\nupsert_many(100 000): {insert:.2f} s")
    assert index.count() == 100_000
    assert insert < 30.0  # "a few seconds" normally; generous for a loaded CI machine

    queries = {
        "first page": {},
        "camera": {"camera_id": "cam03"},
        "camera + 5 days": {
            "camera_id": "cam03",
            "start": T0 + timedelta(days=5),
            "end": T0 + timedelta(days=10),
        },
        "type, page 400": {"event_type": "vehicle", "offset": 20_000},
        "text": {"text": "0042"},
        "text + camera": {"text": "99", "camera_id": "cam01"},
        "deep offset": {"offset": 99_000, "newest_first": False},
    }
    for name, query in queries.items():
        index.list(ClipQuery(**query))  # type: ignore[arg-type]  # warm the cache, as a server would be
        best = float("inf")
        for _ in range(3):
            started = time.perf_counter()
            page = index.list(ClipQuery(**query))  # type: ignore[arg-type]
            best = min(best, time.perf_counter() - started)
        print(f"list({name}): {best * 1000:.1f} ms, {page.total} matches")
        assert best < 0.5
        assert page.items
    page = index.list(
        ClipQuery(camera_id="cam03", start=T0 + timedelta(days=5), end=T0 + timedelta(days=10))
    )
    assert all(meta.event.camera_id == "cam03" for meta in page.items)
    assert page.total == len(
        [
            m
            for m in metas
            if m.event.camera_id == "cam03"
            and T0 + timedelta(days=5) <= m.event.timestamp < T0 + timedelta(days=10)
        ]
    )
    started = time.perf_counter()
    assert index.sync(metas) == SyncResult(0, 0, 0)
    print(f"sync(100 000, unchanged): {time.perf_counter() - started:.2f} s")


# ---- change notifications ---------------------------------------------------------------------


def test_listeners_hear_upserts_deletes_and_what_a_sync_changed(
    index: ClipIndex, sample: list[ClipMeta]
) -> None:
    heard: list[CatalogueChange] = []
    index.add_listener(heard.append)
    fresh, changed = clip_record("new-1"), clip_record("ev-3", size=5)
    index.upsert(fresh)
    index.upsert_many([changed, clip_record("new-2")])
    assert heard == [
        CatalogueChange(added=(fresh,)),
        CatalogueChange(added=(clip_record("new-2"),), updated=(changed,)),
    ]
    heard.clear()
    assert index.delete("new-1")
    assert not index.delete("new-1")  # nothing removed: nothing to tell
    assert heard == [CatalogueChange(removed=(fresh,))]  # the row as it was

    heard.clear()
    listing = [m for m in sample if m.event_id not in ("ev-0", "ev-3")]
    listing[0] = clip_record(listing[0].event_id, size=7)  # the store has a newer version
    synced = clip_record("from-peer", at=T0 + timedelta(hours=1))
    index.sync([*listing, synced])
    assert len(heard) == 1
    change = heard[0]
    assert change.added == (synced,) and change.updated == (listing[0],)
    assert sorted(m.event_id for m in change.removed) == ["ev-0", "ev-3", "new-2"]
    assert next(m for m in change.removed if m.event_id == "ev-3") == changed
    heard.clear()
    index.sync([*listing, synced])  # nothing differs: silence
    assert heard == []


def test_listeners_run_after_the_commit_and_outside_the_lock(
    index: ClipIndex, tmp_path: Path
) -> None:
    seen: list[tuple[ClipMeta | None, bool]] = []
    other = ClipIndex(tmp_path / "catalogue.sqlite3")  # another connection: sees commits only

    def listener(change: CatalogueChange) -> None:
        # A query from another thread would wait forever if the writer still held the lock.
        answered = threading.Event()
        reader = threading.Thread(target=lambda: (index.count(), answered.set()))
        reader.start()
        reader.join(5)
        seen.append((other.get(change.added[0].event_id), answered.is_set()))

    index.add_listener(listener)
    index.upsert(clip_record("a-1"))
    other.close()
    assert seen == [(clip_record("a-1"), True)]


def test_a_failing_listener_neither_undoes_the_write_nor_silences_the_others(
    index: ClipIndex, caplog: pytest.LogCaptureFixture
) -> None:
    heard: list[CatalogueChange] = []

    def broken(change: CatalogueChange) -> None:
        raise RuntimeError("listener bug")

    index.add_listener(broken)
    index.add_listener(heard.append)
    index.upsert(clip_record("b-1"))  # does not raise
    assert index.get("b-1") == clip_record("b-1") and len(heard) == 1
    assert "catalogue listener failed" in caplog.text
    index.remove_listener(heard.append)
    index.remove_listener(broken)
    index.upsert(clip_record("b-2"))
    assert len(heard) == 1


def test_pages_continue_after_a_clip_even_when_rows_come_and_go(
    index: ClipIndex, sample: list[ClipMeta]
) -> None:
    first = index.list(ClipQuery(limit=4))
    assert ids(first.items) == ["ev-9", "ev-8", "ev-7", "ev-6"]
    index.delete("ev-7")
    index.delete("ev-6")  # the clip the next page continues after
    index.upsert(clip_record("late", at=T0 + timedelta(minutes=8)))  # ties with ev-8
    second = index.list(ClipQuery(limit=4, after=first.items[-1]))
    assert ids(second.items) == ["ev-5", "ev-4", "ev-3", "ev-2"]
    assert second.total == 9  # the total ignores the starting point
    anchor = clip_record("ev-8", at=T0 + timedelta(minutes=8))
    assert ids(index.list(ClipQuery(limit=4, after=anchor)).items) == [
        "ev-5",
        "ev-4",
        "ev-3",
        "ev-2",
    ]
    tie = index.list(ClipQuery(limit=2, after=clip_record("late", at=T0 + timedelta(minutes=8))))
    assert ids(tie.items) == ["ev-8", "ev-5"]  # ties follow the event id, descending
    oldest_first = index.list(ClipQuery(limit=3, newest_first=False, after=sample[2]))
    assert ids(oldest_first.items) == ["ev-3", "ev-4", "ev-5"]
    only_cam02 = index.list(ClipQuery(camera_id="cam02", limit=10, after=sample[6]))
    assert ids(only_cam02.items) == ["ev-5", "ev-3", "ev-1"]
