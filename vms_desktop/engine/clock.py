"""Wall-clock UTC time that never jumps: one wall reading anchored to the monotonic clock."""

from __future__ import annotations

import time
from datetime import UTC, datetime


class WallClock:
    """UTC seconds since the epoch, advancing with the monotonic clock.

    Reading ``time.time()`` for every packet would let an NTP step or a manual clock change
    reorder or duplicate footage; anchoring once and advancing monotonically keeps the buffer's
    timeline strictly ordered, at the cost of the slow drift between the two clocks.

    ``start`` (UTC seconds or an aware ``datetime``) anchors the clock at a chosen moment
    instead of the system's time, so the engine can run as if at any date.
    """

    def __init__(self, start: float | datetime | None = None) -> None:
        self._wall0 = time.time() if start is None else _utc_seconds(start)
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


def _utc_seconds(moment: float | datetime) -> float:
    if isinstance(moment, datetime):
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError("a clock's start must be an aware datetime (UTC), not a naive one")
        return moment.timestamp()
    return float(moment)


SYSTEM_CLOCK = WallClock()
