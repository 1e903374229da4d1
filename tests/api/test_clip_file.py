"""Byte ranges of clip files: the forms players send, and those answered whole or with 416."""

from __future__ import annotations

import pytest

from vms_desktop.api.clip_file import RangeNotSatisfiableError, byte_range

SIZE = 1000


@pytest.mark.parametrize(
    ("header", "span"),
    [
        (None, None),
        ("bytes=0-99", (0, 100)),
        ("bytes=0-0", (0, 1)),
        ("bytes=900-", (900, 1000)),
        ("bytes=999-", (999, 1000)),
        ("bytes=-100", (900, 1000)),
        ("bytes=-5000", (0, 1000)),
        ("bytes=500-99999999", (500, 1000)),
        (" bytes=1-2 ", (1, 3)),
        ("bytes=0-1,5-6", None),  # several ranges: the whole file
        ("bytes=50-10", None),  # backwards: ignored
        ("bytes=-", None),
        ("items=0-1", None),
        ("bytes=a-b", None),
        ("bytes=" + "9" * 30 + "-", None),
    ],
)
def test_byte_ranges(header: str | None, span: tuple[int, int] | None) -> None:
    assert byte_range(header, SIZE) == span


@pytest.mark.parametrize("header", ["bytes=1000-", "bytes=5000-6000", "bytes=-0"])
def test_unsatisfiable_ranges(header: str) -> None:
    with pytest.raises(RangeNotSatisfiableError):
        byte_range(header, SIZE)


def test_an_empty_file_satisfies_no_suffix() -> None:
    with pytest.raises(RangeNotSatisfiableError):
        byte_range("bytes=-10", 0)
    assert byte_range(None, 0) is None
