"""Wall-clock UTC time that never goes back: the monotonic clock, kept within half a second of
the system's time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

# How far the clock may be from the system's time before it corrects itself.
TOLERANCE = 0.5
# When the system's time steps back, the clock runs this much slower until it agrees again
# (never backwards, so the buffer's timeline stays ordered).
SLEW = 0.1


class WallClock:
    """UTC seconds since the epoch, advancing with the monotonic clock and never going back.

    Reading ``time.time()`` for every packet would let an NTP step or a manual clock change
    reorder or duplicate footage, so the clock advances with the monotonic clock. But that clock
    stops while the computer sleeps (or its VM is paused) and drifts by some parts per million,
    so each reading is compared with the system's time: when the system is ahead by more than
    :data:`TOLERANCE` (a wake-up, a correction forward) the clock follows at once, which shows
    as a gap in the footage, as it should; when it is behind (a correction back) the clock runs
    :data:`SLEW` slower until they agree, so readings still only grow.

    ``start`` (UTC seconds or an aware ``datetime``) runs the clock as if at that moment: it
    keeps that offset from the system's time, following the system's jumps the same way, so
    the engine can run as if at any date.
    """

    def __init__(
        self,
        start: float | datetime | None = None,
        *,
        system: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._system = system
        self._monotonic = monotonic
        wall = system()
        self._offset = 0.0 if start is None else _utc_seconds(start) - wall
        self._lock = threading.Lock()
        self._wall0 = wall  # the system's time when the monotonic clock read _mono0
        self._mono0 = monotonic()
        self._checked = self._mono0

    def now(self) -> float:
        """Current UTC time in seconds since the epoch."""
        with self._lock:
            mono = self._monotonic()
            reading = self._wall0 + (mono - self._mono0)
            error = self._system() - reading
            if error > TOLERANCE:
                self._wall0 += error
                reading += error
            elif error < -TOLERANCE:
                # Give back at most SLEW of the time passed since the last look.
                back = min(-error, SLEW * max(0.0, mono - self._checked))
                self._wall0 -= back
                reading -= back
            self._checked = mono
            return reading + self._offset

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
