"""Watches an asyncio event loop: measures how late it runs, and dumps every stack when it stalls.

The loop beats a few times a second. Each beat re-arms ``faulthandler.dump_traceback_later``,
whose timer is a C thread that needs no GIL: if the loop stops for ``stall_seconds`` (a blocking
call, a deadlock, a lock held forever), every thread's stack is written to standard error while
the process is still stuck, so a freeze in the field leaves a trace. The beats also give the
loop's lag (how much later than asked a beat ran), kept as a bounded histogram.
"""

from __future__ import annotations

import asyncio
import contextlib
import faulthandler
import logging
import sys
import time
from collections import Counter
from dataclasses import dataclass
from typing import TextIO

log = logging.getLogger(__name__)

DEFAULT_STALL_SECONDS = 5.0
_REPORT_SECONDS = 600.0


@dataclass(frozen=True)
class LoopStats:
    """How the loop kept up: lag percentiles in milliseconds, stalls, time watched."""

    beats: int
    lag_p50_ms: float
    lag_p99_ms: float
    lag_max_ms: float
    stalls: int
    seconds: float

    def describe(self) -> str:
        """One line for the log."""
        return (
            f"event loop over {self.seconds:.0f} s: lag p50 {self.lag_p50_ms:.0f} ms, "
            f"p99 {self.lag_p99_ms:.0f} ms, max {self.lag_max_ms:.0f} ms, {self.stalls} stalls"
        )


class LoopWatchdog:
    """Beats on one event loop (``run`` as a task on it); one watchdog per process.

    ``faulthandler`` has a single timer per process, so only one loop can be watched this way.
    """

    def __init__(
        self,
        *,
        stall_seconds: float = DEFAULT_STALL_SECONDS,
        interval: float = 0.25,
        file: TextIO | None = None,
    ) -> None:
        self.stall_seconds = stall_seconds
        self.interval = interval
        self._file = file
        self._lags: Counter[int] = Counter()  # whole milliseconds -> beats
        self._max_ms = 0.0
        self._stalls = 0
        self._started = time.monotonic()
        self._task: asyncio.Task[None] | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start beating on ``loop`` (call from the loop's thread, or before it runs)."""
        self._started = time.monotonic()
        self._task = loop.create_task(self.run(), name="loop-watchdog")

    def stop(self) -> None:
        """Stop beating and disarm the stack dump (call on the loop's thread)."""
        if self._task is not None:
            self._task.cancel()
            self._task = None
        faulthandler.cancel_dump_traceback_later()

    async def run(self) -> None:
        """Beat until cancelled."""
        reported = time.monotonic()
        try:
            while True:
                self._arm()
                asked = time.monotonic()
                await asyncio.sleep(self.interval)
                now = time.monotonic()
                self._record(max(0.0, now - asked - self.interval))
                if now - reported >= _REPORT_SECONDS:
                    reported = now
                    log.info("%s", self.stats().describe())
        finally:
            faulthandler.cancel_dump_traceback_later()

    def stats(self) -> LoopStats:
        """The figures so far."""
        beats = sum(self._lags.values())
        return LoopStats(
            beats=beats,
            lag_p50_ms=self._percentile(0.50, beats),
            lag_p99_ms=self._percentile(0.99, beats),
            lag_max_ms=round(self._max_ms, 1),
            stalls=self._stalls,
            seconds=time.monotonic() - self._started,
        )

    def _arm(self) -> None:
        target = self._file or sys.stderr
        with contextlib.suppress(ValueError, OSError, AttributeError):
            # Each call replaces the previous timer; it fires only if no beat comes in time.
            faulthandler.dump_traceback_later(self.stall_seconds, repeat=False, file=target)

    def _record(self, lag: float) -> None:
        millis = lag * 1000
        self._lags[min(int(millis), 600_000)] += 1
        self._max_ms = max(self._max_ms, millis)
        if lag >= self.stall_seconds:
            self._stalls += 1
            log.warning("event loop stalled for %.1f s (stacks were dumped to stderr)", lag)

    def _percentile(self, fraction: float, beats: int) -> float:
        if beats == 0:
            return 0.0
        wanted = fraction * beats
        seen = 0
        for millis in sorted(self._lags):
            seen += self._lags[millis]
            if seen >= wanted:
                return float(millis)
        return float(max(self._lags))
