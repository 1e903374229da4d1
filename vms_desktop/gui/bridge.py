"""The one object through which the console talks to the engine: callbacks become Qt signals."""

from __future__ import annotations

import contextlib
import logging
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from PySide6.QtCore import QObject, Signal

from vms_desktop.domain.camera import CameraStatus
from vms_desktop.domain.clip import ClipJob, ClipMeta, Event
from vms_desktop.domain.clip_query import ClipQuery
from vms_desktop.domain.errors import (
    EventConflictError,
    NoFootageError,
    ServiceBusyError,
    UnknownCameraError,
)
from vms_desktop.engine.clip_service import ClipService
from vms_desktop.engine.health import HealthMonitor
from vms_desktop.engine.recorder import Recorder
from vms_desktop.storage.clip_index import CatalogueChange

log = logging.getLogger(__name__)


class EngineBridge(QObject):
    """Forwards engine events (raised on worker threads) to the GUI thread as signals.

    Engine listeners run on camera and clip threads; emitting a signal from there queues the
    call onto the bridge's (GUI) thread, so no widget is ever touched off the GUI thread.
    Requests from the GUI that may block (accepting an event writes to SQLite) run on a small
    pool and report back through signals too.
    """

    camera_status = Signal(object)  # CameraStatus
    job_changed = Signal(object)  # ClipJob
    catalogue_changed = Signal(object)  # CatalogueChange: clips stored, replaced or removed
    notice = Signal(str)  # a message for the operator

    def __init__(
        self,
        recorder: Recorder,
        service: ClipService,
        health: HealthMonitor,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.recorder = recorder
        self.service = service
        self.health = health
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="gui-request")
        recorder.add_listener(self.camera_status.emit)
        service.add_listener(self.job_changed.emit)
        self._unwatch_catalogue = service.watch_catalogue(self._on_catalogue_change)

    def _on_catalogue_change(self, change: CatalogueChange) -> None:
        # Called on whichever thread wrote (API, clip worker, sync); the signal queues it.
        with contextlib.suppress(RuntimeError):  # the bridge was deleted: nobody listens
            self.catalogue_changed.emit(change)

    def mark_event(self, camera_id: str, event_type: str = "operator") -> str:
        """Record an operator's event on a camera now; returns its id (the result arrives by
        ``job_changed`` or ``notice``).
        """
        moment = datetime.now(UTC)
        event_id = f"op-{camera_id}-{moment.strftime('%Y%m%dT%H%M%S%f')[:-3]}"
        event = Event(event_id, camera_id, event_type, moment)
        future = self._pool.submit(self.service.generate, event)
        future.add_done_callback(lambda done: self._report(done, event))
        return event_id

    def _report(self, done: Future[Any], event: Event) -> None:
        try:
            done.result()
        except (UnknownCameraError, EventConflictError, ServiceBusyError, NoFootageError) as exc:
            self.notice.emit(f"Event on {event.camera_id} not recorded: {exc}")
        except Exception:
            log.exception("marking an event failed")
            self.notice.emit(f"Event on {event.camera_id} not recorded: internal error")

    def current_jobs(self) -> list[ClipJob]:
        """Jobs still running (to fill the event feed at start; reads the job store)."""
        return self.service.jobs.unfinished()

    def recent_clips(self, limit: int = 50) -> list[ClipMeta]:
        """The newest stored clips (to fill the event feed at start; reads the catalogue)."""
        return list(self.service.clips(ClipQuery(limit=limit)).items)

    def camera_statuses(self) -> list[CameraStatus]:
        """Every camera's current state."""
        return self.recorder.status()

    def shutdown(self) -> None:
        """Stop the request pool and stop listening to the catalogue (other engine listeners
        are dropped with the engine).
        """
        self._unwatch_catalogue()
        self._pool.shutdown(wait=False, cancel_futures=True)
