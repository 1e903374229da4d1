"""The one way tests wait for something that happens on another thread or process."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

_T = TypeVar("_T")


def wait_until(
    condition: Callable[[], _T],
    timeout: float = 30.0,
    what: str = "the condition",
    *,
    poll: float = 0.05,
) -> _T:
    """Poll ``condition`` until it returns something truthy, and return that value.

    After ``timeout`` seconds it fails naming ``what`` and the last value seen.
    """
    deadline = time.monotonic() + timeout
    value = condition()
    while not value:
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what} did not happen within {timeout:g} s (last: {value!r})")
        time.sleep(poll)
        value = condition()
    return value
