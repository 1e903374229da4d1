"""The engine's wall clock: never back, within tolerance of the system, startable at any moment."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vms_desktop.engine.clock import SLEW, TOLERANCE, WallClock, to_datetime


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


class FakeTime:
    """A system clock and a monotonic clock a test moves; the system's may jump either way."""

    def __init__(self, wall: float) -> None:
        self.wall = wall
        self.mono = 1000.0

    def pass_(self, seconds: float) -> None:
        self.wall += seconds
        self.mono += seconds


def test_after_a_sleep_the_clock_follows_the_system_at_once() -> None:
    fake = FakeTime(1.8e9)
    clock = WallClock(system=lambda: fake.wall, monotonic=lambda: fake.mono)
    fake.pass_(10)
    assert clock.now() == pytest.approx(1.8e9 + 10)
    fake.wall += 3600  # suspended for an hour: the monotonic clock stood still
    assert clock.now() == pytest.approx(1.8e9 + 3610)


def test_small_drift_is_tolerated_and_larger_drift_corrected() -> None:
    fake = FakeTime(1.8e9)
    clock = WallClock(system=lambda: fake.wall, monotonic=lambda: fake.mono)
    fake.pass_(100)
    fake.wall += 0.3  # within the tolerance: no visible step
    assert clock.now() == pytest.approx(1.8e9 + 100)
    fake.wall += 0.3
    assert clock.now() == pytest.approx(fake.wall)


def test_a_clock_started_at_a_moment_keeps_its_offset_through_a_sleep() -> None:
    fake = FakeTime(1.8e9)
    clock = WallClock(start=2.5e9, system=lambda: fake.wall, monotonic=lambda: fake.mono)
    fake.pass_(5)
    fake.wall += 600
    assert clock.now() == pytest.approx(2.5e9 + 605)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(min_value=0, max_value=120),  # seconds passing
            st.one_of(st.just(0.0), st.floats(min_value=-7200, max_value=7200)),  # a step
        ),
        min_size=1,
        max_size=40,
    )
)
def test_readings_never_go_back_and_end_within_tolerance_of_the_system(
    moves: list[tuple[float, float]],
) -> None:
    fake = FakeTime(1.8e9)
    clock = WallClock(system=lambda: fake.wall, monotonic=lambda: fake.mono)
    readings = [clock.now()]
    for passing, step in moves:
        fake.pass_(passing)
        fake.wall += step
        readings.append(clock.now())
    assert readings == sorted(readings)
    # Left alone long enough, it agrees with the system again (slewing back at SLEW).
    error = fake.wall - readings[-1]
    quiet = abs(error) / SLEW + 10
    for _ in range(100):
        fake.pass_(quiet / 99)
        readings.append(clock.now())
    assert readings == sorted(readings)
    assert abs(fake.wall - readings[-1]) <= TOLERANCE + 1e-6
