"""When clip builds run: a timed queue, open-build limits, CPU slots given back while waiting."""

from __future__ import annotations

import contextlib
import enum
import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import TracebackType

from vms_desktop.domain.errors import ClipCancelled
from vms_desktop.engine.clock import WallClock

log = logging.getLogger(__name__)

# How often a queued job whose open-build limit is reached is looked at again: its footage may
# have arrived meanwhile, which moves it to the other limit.
_RECHECK_SECONDS = 0.5


class CpuSlots:
    """Lets at most ``count`` clip builds do CPU work at once.

    A freed slot goes to the waiting build with the earliest deadline (the moment its clip is
    due), so a clip whose footage is complete is not held up by builds that could wait. A build
    waiting for footage gives its slot back (:meth:`SlotClaim.waiting`).
    """

    def __init__(self, count: int) -> None:
        if count < 1:
            raise ValueError("at least one CPU slot is needed")
        self.count = count
        self._cond = threading.Condition()
        self._free = count
        self._queue: list[tuple[float, int]] = []
        self._tickets = itertools.count()
        self._peak = 0

    @property
    def busy(self) -> int:
        """Slots held now."""
        with self._cond:
            return self.count - self._free

    @property
    def peak(self) -> int:
        """Most slots ever held at once."""
        with self._cond:
            return self._peak

    def claim(self, deadline: float, cancel: threading.Event) -> SlotClaim:
        """A build's claim on a slot (enter it to take one); ``cancel`` abandons the wait."""
        return SlotClaim(self, deadline, cancel)

    def wake(self) -> None:
        """Make waiters look at their cancel events now."""
        with self._cond:
            self._cond.notify_all()

    def _acquire(self, deadline: float, cancel: threading.Event) -> bool:
        with self._cond:
            ticket = (deadline, next(self._tickets))
            heapq.heappush(self._queue, ticket)
            try:
                while not cancel.is_set():
                    if self._free > 0 and self._queue[0] == ticket:
                        heapq.heappop(self._queue)
                        self._free -= 1
                        self._peak = max(self._peak, self.count - self._free)
                        return True
                    # The timeout is a safety net; cancels and releases notify.
                    self._cond.wait(1.0)
                return False
            finally:
                if ticket in self._queue:
                    self._queue.remove(ticket)
                    heapq.heapify(self._queue)
                self._cond.notify_all()  # the next in line may be first now

    def _release(self) -> None:
        with self._cond:
            self._free += 1
            self._cond.notify_all()


class SlotClaim:
    """One build's use of a CPU slot: held inside ``with``, given back inside :meth:`waiting`.

    Used by the build's own thread only. Measures how long the slot was held, the CPU-bound part
    of the build, from which the service learns how fast clips encode.
    """

    def __init__(self, slots: CpuSlots, deadline: float, cancel: threading.Event) -> None:
        self._slots = slots
        self._deadline = deadline
        self._cancel = cancel
        self.held = False
        self.busy_seconds = 0.0
        self._since = 0.0

    def __enter__(self) -> SlotClaim:
        if not self._take():
            raise ClipCancelled("clip build cancelled")
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._give()

    @contextlib.contextmanager
    def waiting(self) -> Iterator[None]:
        """Give the slot back for the duration of a wait for footage; take one again after.

        After a cancel the slot is not taken again: the build is about to stop anyway.
        """
        self._give()
        try:
            yield
        finally:
            self._take()

    def _take(self) -> bool:
        if self.held:
            return True
        if not self._slots._acquire(self._deadline, self._cancel):
            return False
        self.held = True
        self._since = time.monotonic()
        return True

    def _give(self) -> None:
        if self.held:
            self.held = False
            self.busy_seconds += time.monotonic() - self._since
            self._slots._release()


class _Kind(enum.Enum):
    READY = "ready"  # its footage is complete: only CPU work is left
    WAITING = "waiting"  # it will wait for footage (window still open, camera silent)


@dataclass
class _Entry:
    key: str
    due: float
    order: int
    footage_complete: Callable[[], bool]


class ClipScheduler:
    """Starts each clip job when it is due, on a thread of its own, keeping few builds open.

    Queued jobs wait in a timed queue, not on threads. A due job whose footage is complete
    starts once fewer than ``workers`` such builds run; one that will wait for footage starts
    once fewer than ``max_waiting`` such builds are open. Separate limits mean builds waiting
    for a window to close or a dark camera to return never hold up a clip whose footage is
    there, and bound the codecs and threads open at once to ``workers + max_waiting``.
    """

    def __init__(
        self,
        run: Callable[[str], None],
        *,
        workers: int,
        max_waiting: int,
        clock: WallClock,
    ) -> None:
        if workers < 1 or max_waiting < 1:
            raise ValueError("workers and max_waiting must be at least 1")
        self._run = run
        self._clock = clock
        self._limits = {_Kind.READY: workers, _Kind.WAITING: max_waiting}
        self._running = {_Kind.READY: 0, _Kind.WAITING: 0}
        self._pool = ThreadPoolExecutor(
            max_workers=workers + max_waiting, thread_name_prefix="clip"
        )
        self._entries: dict[str, _Entry] = {}
        self._order = itertools.count()
        self._cond = threading.Condition()
        self._changed = False
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._dispatch, name="clip-scheduler", daemon=True)

    # ---- control -------------------------------------------------------------------------

    def start(self) -> None:
        """Start dispatching due jobs."""
        self._thread.start()

    def stop(self) -> None:
        """Start nothing more and wait for the running jobs (cancel them first)."""
        with self._cond:
            self._stopping.set()
            self._entries.clear()
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def add(self, key: str, due: float, footage_complete: Callable[[], bool]) -> None:
        """Run ``key`` from UTC ``due`` on (replacing any queued entry for it).

        ``footage_complete`` says whether the job's footage is all recorded; it is asked when
        the job is due and must only read the buffers.
        """
        with self._cond:
            if self._stopping.is_set():
                return
            self._entries[key] = _Entry(key, due, next(self._order), footage_complete)
            self._changed = True
            self._cond.notify_all()

    def hurry(self, key: str) -> bool:
        """Make a queued job due now; False if it is not queued."""
        with self._cond:
            entry = self._entries.get(key)
            if entry is None:
                return False
            entry.due = min(entry.due, self._clock.now())
            self._changed = True
            self._cond.notify_all()
            return True

    def recheck(self) -> None:
        """Look at the queue again now: the wall clock was stepped (its waits are timed)."""
        with self._cond:
            self._changed = True
            self._cond.notify_all()

    def discard(self, key: str) -> bool:
        """Drop a queued job; False if it is not queued (it may be running)."""
        with self._cond:
            return self._entries.pop(key, None) is not None

    # ---- queries -------------------------------------------------------------------------

    def due_at(self, key: str) -> float | None:
        """When a queued job is due, or None if it is not queued."""
        with self._cond:
            entry = self._entries.get(key)
            return entry.due if entry is not None else None

    @property
    def queued(self) -> int:
        """Jobs waiting to start."""
        with self._cond:
            return len(self._entries)

    @property
    def running(self) -> int:
        """Jobs started and not finished."""
        with self._cond:
            return sum(self._running.values())

    # ---- dispatching ---------------------------------------------------------------------

    def _dispatch(self) -> None:
        while True:
            with self._cond:
                if self._stopping.is_set():
                    return
                self._changed = False
                now = self._clock.now()
                due = sorted(
                    (e for e in self._entries.values() if e.due <= now),
                    key=lambda e: (e.due, e.order),
                )
            blocked = False
            for entry in due:
                # Asked outside the lock: it reads the buffers, whose locks are busy at times.
                kind = _Kind.READY if entry.footage_complete() else _Kind.WAITING
                with self._cond:
                    if self._stopping.is_set():
                        return
                    if self._entries.get(entry.key) is not entry:
                        continue  # replaced or dropped meanwhile
                    if self._running[kind] >= self._limits[kind]:
                        blocked = True
                        continue
                    del self._entries[entry.key]
                    self._running[kind] += 1
                self._pool.submit(self._execute, entry.key, kind)
            with self._cond:
                if self._stopping.is_set():
                    return
                if self._changed:
                    continue
                now = self._clock.now()
                later = [e.due for e in self._entries.values() if e.due > now]
                timeout = min(later, default=now + 3600.0) - now
                if blocked:
                    timeout = min(timeout, _RECHECK_SECONDS)
                self._cond.wait(max(0.01, timeout))

    def _execute(self, key: str, kind: _Kind) -> None:
        try:
            self._run(key)
        except Exception:  # the job reports its own failures; this is a last resort
            log.exception("clip job %s stopped unexpectedly", key)
        finally:
            with self._cond:
                self._running[kind] -= 1
                self._changed = True
                self._cond.notify_all()
