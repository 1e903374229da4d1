"""Slows down wrong bearer tokens per client address, so guessing runs at a bounded rate."""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

# Failures an address may make at once (a client started with an old token, a typo) before
# it is made to wait; afterwards it gets one more try each `1 / FAILURES_PER_SECOND` seconds.
FAILURE_BURST = 20
FAILURES_PER_SECOND = 0.5
# Each wrong token is answered this much later: a lone guesser runs at most this fast.
FAILURE_DELAY = 0.2
# Addresses remembered at most; the quietest are forgotten first.
MAX_CLIENTS = 4096


@dataclass
class _Bucket:
    level: float  # failures not yet drained
    updated: float  # clock reading of the last change


class AuthThrottle:
    """A leaky bucket of failed authentications per client address.

    Every wrong token adds one; the bucket drains at ``per_second``. An address whose bucket
    holds ``burst`` is refused (429) *before* its token is checked, whatever token it sends,
    so no guess gets an answer faster than the bucket drains. Successes cost nothing: a
    client with the right token is never slowed unless it shares an address with a guesser.
    """

    def __init__(
        self,
        *,
        burst: int = FAILURE_BURST,
        per_second: float = FAILURES_PER_SECOND,
        delay: float = FAILURE_DELAY,
        max_clients: int = MAX_CLIENTS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if burst < 1 or per_second <= 0 or delay < 0 or max_clients < 1:
            raise ValueError("burst, rate and the number of clients must be positive")
        self.burst = burst
        self.per_second = per_second
        self.delay = delay
        self.max_clients = max_clients
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def retry_after(self, client: str) -> int | None:
        """Whole seconds before ``client`` may try again, or None if it may try now."""
        with self._lock:
            bucket = self._drained(client)
            if bucket is None or bucket.level <= self.burst - 1:
                return None
            return max(1, math.ceil((bucket.level - (self.burst - 1)) / self.per_second))

    def failed(self, client: str) -> None:
        """Count one wrong token from ``client``."""
        with self._lock:
            bucket = self._drained(client)
            if bucket is None:
                bucket = self._buckets[client] = _Bucket(0.0, self._clock())
                self._forget_quietest()
            bucket.level += 1.0
            self._buckets.move_to_end(client)

    def _drained(self, client: str) -> _Bucket | None:
        """The client's bucket brought up to now (lock held); None once it has emptied."""
        bucket = self._buckets.get(client)
        if bucket is None:
            return None
        now = self._clock()
        bucket.level = max(0.0, bucket.level - (now - bucket.updated) * self.per_second)
        bucket.updated = now
        if bucket.level == 0.0:
            del self._buckets[client]
            return None
        return bucket

    def _forget_quietest(self) -> None:
        while len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)
