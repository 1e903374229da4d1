"""A clip's window in its stored metadata: companion JSON, S3 metadata, and older records."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from tests.support.factories import clip_record
from vms_desktop.domain.clip import ClipMeta, EventWindow, InvalidEventError
from vms_desktop.storage.s3_metadata import decode_metadata, encode_metadata


def test_a_chosen_window_is_written_and_read_back() -> None:
    meta = replace(
        clip_record(pre=timedelta(0), post=timedelta(seconds=7.25)),
        chosen_window=EventWindow(0.0, 7.25),
    )
    record = meta.to_dict()
    assert (record["pre_event_seconds"], record["post_event_seconds"]) == (0.0, 7.25)
    assert ClipMeta.from_dict(record).chosen_window == EventWindow(0.0, 7.25)
    metadata = encode_metadata(meta)
    assert (metadata["pre-event-seconds"], metadata["post-event-seconds"]) == ("0.0", "7.25")
    assert decode_metadata(metadata).chosen_window == EventWindow(0.0, 7.25)


def test_records_stored_before_windows_were_kept_derive_them() -> None:
    meta = clip_record(pre=timedelta(seconds=10), post=timedelta(seconds=20))
    record = meta.to_dict()
    del record["pre_event_seconds"], record["post_event_seconds"]
    older = ClipMeta.from_dict(record)
    assert older.chosen_window is None
    assert older.event_window == EventWindow(10.0, 20.0)
    metadata = encode_metadata(meta)
    del metadata["pre-event-seconds"], metadata["post-event-seconds"]
    assert decode_metadata(metadata).event_window == EventWindow(10.0, 20.0)
    assert older.to_dict()["post_event_seconds"] == 20.0  # the API shows them too


@pytest.mark.parametrize(
    ("pre", "post", "field"),
    [
        (-1.0, 2.0, "pre_event_seconds"),
        (1.0, float("nan"), "post_event_seconds"),
        (3600.5, 2.0, "pre_event_seconds"),
        (0.0, 0.0, "pre_event_seconds + post_event_seconds"),
    ],
)
def test_a_window_out_of_bounds_names_its_field(pre: float, post: float, field: str) -> None:
    with pytest.raises(InvalidEventError, match=field.replace("+", r"\+")):
        EventWindow(pre, post)
