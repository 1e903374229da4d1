"""Wall-clock UTC time that never jumps: one wall reading anchored to the monotonic clock."""

from __future__ import annotations

import time
from datetime import UTC, datetime


class WallClock:
    """UTC seconds since the epoch, advancing with the monotonic clock.

    Reading ``time.time()`` for every packet would let an NTP step or a manual clock change
    reorder or duplicate footage; anchoring once and advancing monotonically keeps the buffer's
    timeline strictly ordered, at the cost of the slow drift between the two clocks.
    """

    def __init__(self) -> None:
        self._wall0 = time.time()
        self._mono0 = time.monotonic()

    def now(self) -> float:
        """Current UTC time in seconds since the epoch."""
        return self._wall0 + (time.monotonic() - self._mono0)

    def sleep_until(self, when: float) -> None:
        """Sleep until the clock reads ``when`` (returns at once if it already has)."""
        delay = when - self.now()
        if delay > 0:
            time.sleep(delay)


def to_datetime(seconds: float) -> datetime:
    """UTC ``datetime`` for seconds since the epoch."""
    return datetime.fromtimestamp(seconds, tz=UTC)


SYSTEM_CLOCK = WallClock()
