"""Bounded pools of threads that run the API's blocking calls, so the event loop never waits."""

from __future__ import annotations

import asyncio
import concurrent.futures
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

_T = TypeVar("_T")

# A job: the call and the future its result goes to; None tells a worker to exit.
_Job = tuple[Callable[[], Any], concurrent.futures.Future[Any]] | None


class PoolFullError(Exception):
    """The pool already holds as many calls as it may; the caller should answer 503."""


class WorkerPool:
    """A fixed number of daemon threads with a bounded number of calls admitted at once.

    ``concurrent.futures.ThreadPoolExecutor`` is not used: its threads are joined when the
    interpreter exits, so one call stuck in a hung store would hold the process for as long
    as the store's timeouts. Counting admitted calls until they *finish* (not until their
    caller stops waiting) keeps calls stuck in a hung store counted, so new ones are refused
    at once instead of queueing behind them.
    """

    def __init__(self, name: str, threads: int, max_waiting: int) -> None:
        if threads < 1 or max_waiting < 0:
            raise ValueError("a pool needs at least one thread and a non-negative queue")
        self.name = name
        self.threads = threads
        self.limit = threads + max_waiting
        self._queue: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._admitted = 0
        self._workers: list[threading.Thread] = []
        self._closed = False

    @property
    def admitted(self) -> int:
        """Calls running or waiting for a thread."""
        with self._lock:
            return self._admitted

    async def run(self, call: Callable[..., _T], *args: Any) -> _T:
        """Run ``call(*args)`` on a pool thread and return (or raise) its result.

        Raises :class:`PoolFullError` without running anything when the pool is full.
        """
        future: concurrent.futures.Future[_T] = concurrent.futures.Future()
        with self._lock:
            if self._closed:
                raise PoolFullError(f"the {self.name} pool is closed")
            if self._admitted >= self.limit:
                raise PoolFullError(f"the {self.name} pool is full")
            self._admitted += 1
            if len(self._workers) < min(self.threads, self._admitted):
                self._start_worker()
        self._queue.put((lambda: call(*args), future))
        # A cancelled request cancels a call that has not started; a running one finishes.
        return await asyncio.wrap_future(future)

    def close(self) -> None:
        """Let the threads exit once the calls they run return; later calls are refused."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            count = len(self._workers)
        for _ in range(count):
            self._queue.put(None)

    def _start_worker(self) -> None:
        worker = threading.Thread(
            target=self._work, name=f"api-{self.name}-{len(self._workers)}", daemon=True
        )
        self._workers.append(worker)
        worker.start()

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            call, future = job
            if not future.set_running_or_notify_cancel():
                self._release()
                continue
            # The place is given back before the caller hears the outcome, so a caller that
            # saw its call end also sees its place free.
            try:
                result = call()
            except BaseException as exc:
                self._release()
                future.set_exception(exc)
            else:
                self._release()
                future.set_result(result)

    def _release(self) -> None:
        with self._lock:
            self._admitted -= 1
