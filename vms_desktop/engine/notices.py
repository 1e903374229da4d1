"""The notice hub: numbers engine changes, keeps a bounded history and hands them to listeners."""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from vms_desktop.domain.camera import CameraStatus
from vms_desktop.domain.clip import ClipJob
from vms_desktop.domain.notice import HEALTH_SUBJECT, Notice, NoticeKind

log = logging.getLogger(__name__)

NoticeListener = Callable[[Notice], None]

DEFAULT_HISTORY = 1000


def _utc_now() -> datetime:
    return datetime.now(UTC)


class NoticeHub:
    """Publishers (any thread) number notices; listeners get each one in sequence order.

    Publishing never waits on a listener's work: listeners must only queue it. The lock is
    held while listeners run so that every listener sees notices in sequence order.
    """

    def __init__(
        self, history: int = DEFAULT_HISTORY, *, now: Callable[[], datetime] = _utc_now
    ) -> None:
        if history < 1:
            raise ValueError("the notice history holds at least one notice")
        self._now = now
        self._lock = threading.RLock()
        self._history: collections.deque[Notice] = collections.deque(maxlen=history)
        self._listeners: list[NoticeListener] = []
        self._sequence = 0

    @property
    def last_sequence(self) -> int:
        """The sequence of the latest notice (0 before the first)."""
        with self._lock:
            return self._sequence

    def publish_job(self, job: ClipJob) -> None:
        """A clip job changed state."""
        self._publish(NoticeKind.CLIP, job.event.id, job=job)

    def publish_camera(self, status: CameraStatus) -> None:
        """A camera's state changed."""
        self._publish(NoticeKind.CAMERA, status.camera_id, camera=status)

    def publish_health(self, health: Mapping[str, Any]) -> None:
        """A health snapshot (the /health body)."""
        self._publish(NoticeKind.HEALTH, HEALTH_SUBJECT, health=dict(health))

    def subscribe(self, listener: NoticeListener) -> Callable[[], None]:
        """Listener runs on the publisher's thread and must only queue work (never block);
        returns the unsubscribe function.
        """
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def subscribe_since(
        self, sequence: int, listener: NoticeListener
    ) -> tuple[list[Notice] | None, Callable[[], None]]:
        """Subscribe and read the history after ``sequence`` at once, so that nothing falls
        between the two: the history answer (as :meth:`since`) and the unsubscribe function.
        """
        with self._lock:
            missed = self.since(sequence)
            return missed, self.subscribe(listener)

    def since(self, sequence: int) -> list[Notice] | None:
        """Notices after ``sequence`` from the bounded history, or None when some have already
        fallen out of it (or ``sequence`` is from another run: beyond the latest).
        """
        with self._lock:
            if sequence > self._sequence:
                return None
            if sequence == self._sequence:
                return []
            oldest = self._history[0].sequence if self._history else self._sequence + 1
            if sequence + 1 < oldest:
                return None
            return [notice for notice in self._history if notice.sequence > sequence]

    def _publish(self, kind: NoticeKind, subject: str, **about: Any) -> None:
        with self._lock:
            self._sequence += 1
            notice = Notice(self._sequence, kind, subject, self._now(), **about)
            self._history.append(notice)
            listeners = list(self._listeners)
            for listener in listeners:
                try:
                    listener(notice)
                except Exception:  # a listener's bug must not stop the engine
                    log.exception("notice listener failed")


__all__ = ["DEFAULT_HISTORY", "NoticeHub", "NoticeListener"]
