"""The engine's wall clock: anchored once, advancing monotonically, startable at any moment."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from vms_desktop.engine.clock import WallClock, to_datetime


def test_a_clock_started_at_a_moment_reads_it_and_runs_on_from_it() -> None:
    moment = datetime(2031, 2, 3, 4, 5, 6, 789000, tzinfo=UTC)
    clock = WallClock(start=moment)
    first = clock.now()
    assert first == pytest.approx(moment.timestamp(), abs=0.5)
    readings = [clock.now() for _ in range(1000)]
    assert readings == sorted(readings) and readings[0] >= first
    clock.sleep_until(first + 0.05)
    assert clock.now() >= first + 0.05
    assert to_datetime(WallClock(start=1e9).now()).year == 2001  # UTC seconds work too


def test_a_naive_start_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        WallClock(start=datetime(2031, 2, 3, 4, 5, 6))


def test_without_a_start_it_reads_the_system_time() -> None:
    assert WallClock().now() == pytest.approx(time.time(), abs=1.0)
