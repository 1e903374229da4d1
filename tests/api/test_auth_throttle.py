"""The wrong-token throttle: a burst is allowed, then one try per drained failure, per address."""

from __future__ import annotations

import pytest

from vms_desktop.api.auth_throttle import AuthThrottle


class Clock:
    """A hand-moved monotonic clock."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_is_allowed_then_the_address_waits() -> None:
    clock = Clock()
    throttle = AuthThrottle(burst=5, per_second=0.5, clock=clock)
    for _ in range(5):
        assert throttle.retry_after("10.0.0.1") is None
        throttle.failed("10.0.0.1")
    assert throttle.retry_after("10.0.0.1") == 2
    assert throttle.retry_after("10.0.0.2") is None  # other addresses are not concerned
    clock.now += 1.9
    assert throttle.retry_after("10.0.0.1") == 1
    clock.now += 0.1
    assert throttle.retry_after("10.0.0.1") is None  # one failure drained: one more try
    throttle.failed("10.0.0.1")
    assert throttle.retry_after("10.0.0.1") == 2


def test_guesses_over_time_stay_under_the_drain_rate() -> None:
    clock = Clock()
    throttle = AuthThrottle(burst=20, per_second=0.5, clock=clock)
    checked = 0
    for _ in range(6000):  # ten minutes of ten guesses a second
        clock.now += 0.1
        if throttle.retry_after("attacker") is None:
            throttle.failed("attacker")
            checked += 1
    assert checked <= 20 + 0.5 * 600 + 1


def test_a_quiet_address_is_forgotten_and_memory_is_bounded() -> None:
    clock = Clock()
    throttle = AuthThrottle(burst=3, per_second=1.0, max_clients=100, clock=clock)
    throttle.failed("typo")
    clock.now += 5
    assert throttle.retry_after("typo") is None
    assert "typo" not in throttle._buckets
    for n in range(1000):
        throttle.failed(f"10.1.{n // 256}.{n % 256}")
    assert len(throttle._buckets) == 100


@pytest.mark.parametrize(
    "options",
    [{"burst": 0}, {"per_second": 0}, {"delay": -1}, {"max_clients": 0}],
)
def test_settings_are_checked(options: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        AuthThrottle(**options)  # type: ignore[arg-type]
