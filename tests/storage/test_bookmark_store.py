"""The bookmark store: values as given, listing filters and pages, protected spans, threads."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tests.support.factories import WHEN
from vms_desktop.domain.bookmark import (
    MAX_NOTE_LENGTH,
    Bookmark,
    BookmarkQuery,
    InvalidBookmarkError,
    is_valid_bookmark_id,
)
from vms_desktop.domain.errors import operator_text
from vms_desktop.domain.ids import InvalidIdError
from vms_desktop.storage.bookmark_store import BookmarkStore


def mark(camera_id: str = "cam01", seconds: float = 0, **fields: object) -> Bookmark:
    return Bookmark.create(camera_id, WHEN + timedelta(seconds=seconds), **fields)  # type: ignore[arg-type]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[BookmarkStore]:
    made = BookmarkStore(tmp_path / "state" / "bookmarks.sqlite3")
    yield made
    made.close()


def test_a_new_bookmark_has_a_fresh_url_safe_id() -> None:
    ids = {mark().id for _ in range(200)}
    assert len(ids) == 200
    assert all(is_valid_bookmark_id(one) for one in ids)


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"end": WHEN - timedelta(seconds=1)}, "end must not be before"),
        ({"note": "x" * (MAX_NOTE_LENGTH + 1)}, "at most"),
        ({"note": "two\nlines"}, "printable"),
        ({"end": datetime(2025, 5, 31, 10, 1)}, "time zone"),
    ],
)
def test_malformed_fields_are_refused_with_a_domain_error(
    fields: dict[str, object], words: str
) -> None:
    with pytest.raises(InvalidBookmarkError, match=words) as caught:
        Bookmark.create("cam01", WHEN, **fields)  # type: ignore[arg-type]
    assert words.split()[0] in operator_text(caught.value).lower()


def test_a_naive_moment_and_a_bad_camera_are_refused() -> None:
    with pytest.raises(InvalidBookmarkError):
        Bookmark.create("cam01", datetime(2025, 5, 31, 10, 0))
    with pytest.raises(InvalidIdError):
        Bookmark.create("../cam", WHEN)


def test_a_bookmark_reads_back_as_written_after_reopening(tmp_path: Path) -> None:
    path = tmp_path / "bookmarks.sqlite3"
    written = mark(end=WHEN + timedelta(seconds=30), note="van at the gate", protect=True)
    first = BookmarkStore(path)
    first.add(written)
    first.close()
    again = BookmarkStore(path)
    try:
        assert again.get(written.id) == written
        assert again.get("missing") is None
    finally:
        again.close()


def test_delete_returns_the_bookmark_once(store: BookmarkStore) -> None:
    written = mark(note="gone soon")
    store.add(written)
    assert store.delete(written.id) == written
    assert store.delete(written.id) is None
    assert store.get(written.id) is None


def test_listing_filters_and_pages_newest_first(store: BookmarkStore) -> None:
    made = [mark("cam01" if i % 2 else "cam02", seconds=i) for i in range(10)]
    for bookmark in made:
        store.add(bookmark)
    page = store.page(BookmarkQuery(limit=3, offset=2))
    assert page.total == 10 and (page.limit, page.offset) == (3, 2)
    assert [b.timestamp for b in page.items] == [WHEN + timedelta(seconds=s) for s in (7, 6, 5)]
    cam01 = store.page(BookmarkQuery(camera_id="CAM01"))
    assert cam01.total == 5 and all(b.camera_id == "cam01" for b in cam01.items)
    window = store.page(
        BookmarkQuery(start=WHEN + timedelta(seconds=2), end=WHEN + timedelta(seconds=5))
    )
    # start inclusive, end exclusive, as for clips.
    assert [b.timestamp for b in window.items] == [WHEN + timedelta(seconds=s) for s in (4, 3, 2)]


def test_listing_bounds_count_to_the_millisecond_as_clip_listings_do(
    store: BookmarkStore,
) -> None:
    store.add(mark(seconds=0.0004))  # 0.4 ms after WHEN: the same millisecond
    inside = store.page(BookmarkQuery(start=WHEN, end=WHEN + timedelta(milliseconds=1)))
    assert inside.total == 1
    assert store.page(BookmarkQuery(end=WHEN)).total == 0
    assert store.page(BookmarkQuery(start=WHEN + timedelta(milliseconds=1))).total == 0


def test_protected_spans_by_camera(store: BookmarkStore) -> None:
    kept = mark("cam01", seconds=10, end=WHEN + timedelta(seconds=40), protect=True)
    moment = mark("cam02", seconds=5, protect=True)
    store.add(kept)
    store.add(moment)
    store.add(mark("cam01", seconds=100))  # not protected
    assert store.protected_spans() == {
        "cam01": [(kept.id, kept.timestamp, kept.last)],
        "cam02": [(moment.id, moment.timestamp, moment.timestamp)],
    }


def test_writers_on_many_threads_lose_nothing(store: BookmarkStore) -> None:
    def write(camera_id: str) -> None:
        for i in range(50):
            store.add(mark(camera_id, seconds=i, protect=bool(i % 2)))

    threads = [threading.Thread(target=write, args=(f"cam0{n}",)) for n in range(1, 5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert store.page(BookmarkQuery(limit=1)).total == 200
    spans = store.protected_spans()
    assert sorted(spans) == ["cam01", "cam02", "cam03", "cam04"]
    assert all(len(kept) == 25 for kept in spans.values())
