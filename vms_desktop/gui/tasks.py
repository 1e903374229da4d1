"""Work the console must not wait for: run on a pool thread, the outcome handed back to the GUI."""

from __future__ import annotations

import contextlib
import itertools
import logging
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from PySide6.QtCore import QObject, Qt, QThreadPool, Signal, Slot

log = logging.getLogger(__name__)

_T = TypeVar("_T")


def _log_failure(error: Exception) -> None:
    log.warning("background task failed: %s", error, exc_info=error)


class BackgroundTasks(QObject):
    """Runs callables on a private thread pool and hands each outcome back to the GUI thread.

    Callbacks stay here, on the GUI thread, by token: the worker sends only the token and the
    outcome through a queued signal, so no callback ever runs on a pool thread. Requests that
    share a ``key`` supersede each other: only the newest one's outcome is delivered, and an
    older one that has not started yet is not run at all (a newer request wins).
    """

    _finished = Signal(int, object, object)  # token, result, exception

    def __init__(self, threads: int, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(threads)
        self._tokens = itertools.count(1)
        self._callbacks: dict[int, tuple[Callable[[Any], None], Callable[[Exception], None]]] = {}
        # Read by pool threads to skip superseded work: plain dict reads are atomic.
        self._newest: dict[Hashable, int] = {}
        self._key_of: dict[int, Hashable] = {}
        self._closed = False
        self._finished.connect(self._on_finished, Qt.ConnectionType.QueuedConnection)

    @property
    def busy(self) -> int:
        """Tasks submitted whose outcome has not been handed back (or dropped) yet."""
        return len(self._callbacks)

    def pending(self, key: Hashable) -> bool:
        """Whether the newest request under ``key`` is still waiting for its outcome."""
        token = self._newest.get(key)
        return token is not None and token in self._callbacks

    def submit(
        self,
        work: Callable[[], _T],
        done: Callable[[_T], None],
        failed: Callable[[Exception], None] | None = None,
        *,
        key: Hashable | None = None,
    ) -> None:
        """Run ``work`` on the pool; then ``done(result)`` or ``failed(exc)`` on this thread.

        Without ``failed``, a failure is logged. With ``key``, any earlier request under the
        same key is dropped: its callbacks never run.
        """
        if self._closed:
            return
        token = next(self._tokens)
        if key is not None:
            previous = self._newest.get(key)
            if previous is not None:
                self._callbacks.pop(previous, None)
                self._key_of.pop(previous, None)
            self._newest[key] = token
            self._key_of[token] = key
        self._callbacks[token] = (done, failed or _log_failure)
        emit = self._finished.emit
        newest = self._newest

        def run() -> None:
            if key is not None and newest.get(key) != token:
                return  # superseded before it started
            result: Any = None
            error: Exception | None = None
            try:
                result = work()
            except Exception as exc:
                error = exc
            # The owner may have been destroyed meanwhile; then nobody wants the outcome.
            with contextlib.suppress(RuntimeError):
                emit(token, result, error)

        self._pool.start(run)

    def cancel(self, key: Hashable) -> None:
        """Drop the outcome of the request under ``key`` (it is not run if not started)."""
        token = self._newest.pop(key, None)
        if token is not None:
            self._callbacks.pop(token, None)
            self._key_of.pop(token, None)

    def close(self, timeout_ms: int = -1) -> None:
        """Drop queued tasks and wait (up to ``timeout_ms``; -1: no limit) for running ones.

        Outcomes arriving later are ignored.
        """
        self._closed = True
        self._pool.clear()
        self._callbacks.clear()
        self._newest.clear()
        self._key_of.clear()
        self._pool.waitForDone(timeout_ms)

    @Slot(int, object, object)
    def _on_finished(self, token: int, result: Any, error: Exception | None) -> None:
        callbacks = self._callbacks.pop(token, None)
        if callbacks is None:
            return
        key = self._key_of.pop(token, None)
        if key is not None:
            del self._newest[key]
        done, failed = callbacks
        if error is None:
            done(result)
        else:
            failed(error)


__all__ = ["BackgroundTasks"]
