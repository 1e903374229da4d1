"""The one object through which the console hears from the service: callbacks become Qt signals."""

from __future__ import annotations

import contextlib
import logging
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from PySide6.QtCore import QObject, Signal

from vms_desktop.domain.camera import CameraStatus
from vms_desktop.domain.clip import ClipJob, Event
from vms_desktop.domain.errors import (
    EventConflictError,
    NoFootageError,
    ServiceBusyError,
    UnknownCameraError,
    operator_text,
)
from vms_desktop.engine.console_port import CatalogueChange, Console

log = logging.getLogger(__name__)


class EngineBridge(QObject):
    """Forwards the service's changes (told on its own threads) to the GUI thread as signals.

    The service's listeners run on camera and clip threads; emitting a signal from there queues
    the call onto the bridge's (GUI) thread, so no widget is ever touched off the GUI thread.
    Widgets ask :attr:`console` themselves, off the GUI thread; marking an event runs on a
    small pool here and reports back through signals too.
    """

    camera_status = Signal(object)  # CameraStatus
    job_changed = Signal(object)  # ClipJob
    catalogue_changed = Signal(object)  # CatalogueChange: clips stored, replaced or removed
    notice = Signal(str)  # a message for the operator

    def __init__(self, console: Console, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.console = console
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="gui-request")
        self._unsubscribe = console.subscribe(
            self._on_camera_status, self._on_job, self._on_catalogue_change
        )

    # Called on whichever thread changed something; the signals queue the call. After the
    # bridge was deleted nobody listens: Qt's RuntimeError is dropped.

    def _on_camera_status(self, status: CameraStatus) -> None:
        with contextlib.suppress(RuntimeError):
            self.camera_status.emit(status)

    def _on_job(self, job: ClipJob) -> None:
        with contextlib.suppress(RuntimeError):
            self.job_changed.emit(job)

    def _on_catalogue_change(self, change: CatalogueChange) -> None:
        with contextlib.suppress(RuntimeError):
            self.catalogue_changed.emit(change)

    def mark_event(self, camera_id: str, event_type: str = "operator") -> str:
        """Record an operator's event on a camera now; returns its id (the result arrives by
        ``job_changed`` or ``notice``).
        """
        moment = datetime.now(UTC)
        event_id = f"op-{camera_id}-{moment.strftime('%Y%m%dT%H%M%S%f')[:-3]}"
        event = Event(event_id, camera_id, event_type, moment)
        future = self._pool.submit(self.console.mark, event)
        future.add_done_callback(lambda done: self._report(done, event))
        return event_id

    def _report(self, done: Future[Any], event: Event) -> None:
        try:
            done.result()
        except (UnknownCameraError, EventConflictError, ServiceBusyError, NoFootageError) as exc:
            self.notice.emit(f"Event on {event.camera_id} not recorded: {operator_text(exc)}")
        except Exception as exc:
            log.exception("marking an event failed")
            self.notice.emit(f"Event on {event.camera_id} not recorded: {operator_text(exc)}")

    def shutdown(self) -> None:
        """Stop the request pool and stop listening to the service."""
        self._unsubscribe()
        self._pool.shutdown(wait=False, cancel_futures=True)
