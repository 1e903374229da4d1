"""Fixtures of the console's tests: the process's local time zone, set and restored."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator

import pytest

ZoneSetter = Callable[[str], None]


@pytest.fixture
def local_zone() -> Iterator[ZoneSetter]:
    """Sets the process's local zone (``TZ`` + ``time.tzset``); the old one is back after."""
    before = os.environ.get("TZ")

    def set_zone(name: str) -> None:
        os.environ["TZ"] = name
        time.tzset()

    try:
        yield set_zone
    finally:
        if before is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = before
        time.tzset()
