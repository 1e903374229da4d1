"""ClipQuery: the catalogue's SQL and the in-memory rule give the same listing for any query."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.factories import clip_record
from vms_desktop.domain.clip import ClipMeta
from vms_desktop.domain.clip_query import ClipQuery, listing_key, matches_text
from vms_desktop.storage.clip_index import ClipIndex

BASE = datetime(2025, 5, 31, 10, 0, tzinfo=UTC)
CAMERAS = ["cam01", "cam02", "door-3"]
TYPES = ["motion", "person", "Person", "a_b", "door open"]

# Event ids and search texts drawn from characters that trouble LIKE (wildcards, the escape
# character, case) as well as plain ones.
_ID_TAIL = st.text(alphabet="aAbB01._-", max_size=6)
event_ids = st.builds(lambda head, tail: head + tail, st.sampled_from("aAbZ09"), _ID_TAIL).filter(
    lambda text: ".." not in text and not text.endswith(".")
)
moments = st.integers(min_value=-5, max_value=5).map(lambda m: BASE + timedelta(minutes=m))
records = st.builds(
    lambda event_id, camera, kind, at: clip_record(
        event_id, camera_id=camera, event_type=kind, at=at
    ),
    event_ids,
    st.sampled_from(CAMERAS),
    st.sampled_from(TYPES),
    moments,
)
zones = st.sampled_from([UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-7))])
bounds = st.none() | st.builds(lambda at, zone: at.astimezone(zone), moments, zones)
texts = st.none() | st.text(alphabet="aAbB01._-%\\ \n/c", max_size=5) | st.just("x" * 129)
queries = st.builds(
    ClipQuery,
    camera_id=st.none() | st.sampled_from([*CAMERAS, "CAM01", "../x", "Door-3"]),
    event_type=st.none() | st.sampled_from([*TYPES, "PERSON", "%"]),
    start=bounds,
    end=bounds,
    text=texts,
    limit=st.integers(min_value=0, max_value=12),
    offset=st.integers(min_value=0, max_value=4),
    newest_first=st.booleans(),
)


def _expected(query: ClipQuery, clips: list[ClipMeta]) -> tuple[list[str], int]:
    """The listing ``query`` describes, worked out in memory."""
    matching = sorted(
        (meta for meta in clips if query.matches(meta)),
        key=listing_key,
        reverse=query.newest_first,
    )
    total = len(matching)
    if query.after is not None:
        matching = [meta for meta in matching if query.comes_after(meta, query.after)]
    page = matching[query.offset : query.offset + query.limit]
    return [meta.event_id for meta in page], total


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    clips=st.lists(records, max_size=14, unique_by=lambda meta: meta.event_id),
    query=queries,
    anchor=st.none() | records,
)
def test_the_catalogue_lists_exactly_what_the_query_matches(
    clips: list[ClipMeta], query: ClipQuery, anchor: ClipMeta | None
) -> None:
    if anchor is not None:
        query = ClipQuery(**{**query.__dict__, "after": anchor})
    with tempfile.TemporaryDirectory() as folder, ClipIndex(Path(folder) / "c.sqlite3") as index:
        index.upsert_many(clips)
        page = index.list(query)
    assert ([meta.event_id for meta in page.items], page.total) == _expected(query, clips)


def test_text_is_matched_literally_and_ascii_case_blind() -> None:
    clip = clip_record("Gate_1.50", camera_id="cam01", event_type="Person")
    assert matches_text(clip, "gate_1")
    assert matches_text(clip, "1.5") and matches_text(clip, "PERSON")
    assert not matches_text(clip, "gate%1")  # % is a character, not a wildcard
    assert not matches_text(clip, "gatex1")  # _ is a character too
    assert not matches_text(clip, "x" * 129)
    assert not matches_text(clip, "cam01\nperson")  # never across two fields


def test_a_query_refuses_naive_bounds_and_negative_paging() -> None:
    with pytest.raises(ValueError, match="timezone"):
        ClipQuery(start=datetime(2025, 5, 31, 10, 0))
    with pytest.raises(ValueError, match="negative"):
        ClipQuery(limit=-1)
