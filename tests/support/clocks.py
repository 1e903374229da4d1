"""A clock that moves only when a test moves it, for engine parts that take a ``WallClock``."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from vms_desktop.engine.clock import WallClock


class ManualClock(WallClock):
    """UTC seconds that stand still until :meth:`advance`; waiters wake when the clock moves.

    ``on_move`` listeners are called after every move, so a part that sleeps in real seconds
    reckoned from the clock can be told to look at it again.
    """

    def __init__(self, start: float) -> None:
        super().__init__(start)
        self._now = float(start)
        self.moved = threading.Condition()
        self._listeners: list[Callable[[], None]] = []

    def now(self) -> float:
        with self.moved:
            return self._now

    def advance(self, seconds: float) -> float:
        """Move the clock ``seconds`` on and return its new reading."""
        if seconds < 0:
            raise ValueError("a clock that never jumps never goes back either")
        with self.moved:
            self._now += seconds
            reading = self._now
            self.moved.notify_all()
        for listener in list(self._listeners):
            listener()
        return reading

    def on_move(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` after every move of the clock."""
        self._listeners.append(listener)

    def wait_for(
        self, when: float, cancel: threading.Event | None = None, *, timeout: float = 30.0
    ) -> bool:
        """Block until the clock reads ``when``; False if ``cancel`` was set first, or if
        ``timeout`` real seconds passed (a test that forgot to move the clock ends, not hangs).
        """
        deadline = time.monotonic() + timeout
        with self.moved:
            while self._now < when:
                if (cancel is not None and cancel.is_set()) or time.monotonic() >= deadline:
                    return False
                # Cancels do not notify this condition: look at them now and then.
                self.moved.wait(0.02)
        return True

    def sleep_until(self, when: float) -> None:
        self.wait_for(when)
