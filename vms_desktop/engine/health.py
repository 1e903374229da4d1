"""A cached snapshot of the service's health, refreshed in the background so reads are instant."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from vms_desktop.__version__ import __version__
from vms_desktop.domain.camera import CameraState
from vms_desktop.domain.clip import iso
from vms_desktop.domain.store_state import StoreHealth
from vms_desktop.engine.clip_service import ClipService
from vms_desktop.engine.clock import to_datetime
from vms_desktop.engine.recorder import BufferStatus, Recorder
from vms_desktop.storage.base import ClipStore

log = logging.getLogger(__name__)

# A store probe that has not answered after this long means the store is not answering: a hung
# server accepts the connection and then says nothing until the client's own timeouts (tens of
# seconds) run out.
PROBE_DEADLINE = 2.0
# How often a working store is probed: with the deadline, a new hang shows within 5 s.
PROBE_INTERVAL = 3.0
# How often the store is probed while it is down, so its return is seen within a second or two.
RETRY_INTERVAL = 1.0


class HealthMonitor:
    """Collects camera, archive, storage and queue state in the background.

    Asking a remote store whether it is reachable can take as long as its timeouts, so it is
    never done on the request path: a thread of its own probes the store every ``interval``
    seconds (every ``retry_interval`` while it is down) and the state is read from memory. A
    probe still unanswered after ``probe_deadline`` reports the store as not answering at once,
    and so does a real operation that found it unavailable (:meth:`store_failed`), until a
    probe started after that failure succeeds.
    """

    def __init__(
        self,
        recorder: Recorder,
        service: ClipService,
        store: ClipStore,
        interval: float = PROBE_INTERVAL,
        *,
        probe_deadline: float = PROBE_DEADLINE,
        retry_interval: float = RETRY_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.recorder = recorder
        self.service = service
        self.store = store
        self.interval = interval
        self.probe_deadline = probe_deadline
        self.retry_interval = retry_interval
        self._clock = clock
        self._lock = threading.Lock()
        self._probed = StoreHealth(store.backend, reachable=False, detail="not checked yet")
        self._answered_since = -float("inf")  # when the last probe that succeeded started
        self._probing_since: float | None = None  # a probe is waiting for the store
        self._failure: tuple[float, str] | None = None  # (when, why) an operation failed
        self._reported: bool | None = None  # reachability last logged
        self._recovery_listeners: list[Callable[[], None]] = []
        self._base: dict[str, Any] = {}
        self._cameras: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._first_probe = threading.Event()
        self._thread = threading.Thread(target=self._run, name="health", daemon=True)
        # A daemon of its own: a probe stuck in a hung store must hold nothing but itself.
        self._prober = threading.Thread(target=self._probe_loop, name="health-store", daemon=True)

    def start(self) -> None:
        """Start probing the store and collecting state; waits briefly for a first answer."""
        self._prober.start()
        self._first_probe.wait(self.probe_deadline)
        self._collect()
        self._thread.start()

    def stop(self) -> None:
        """Stop the background checks (a probe stuck in a hung store is left behind)."""
        self._stop.set()
        self._wake.set()
        for thread in (self._thread, self._prober):
            if thread.is_alive():
                thread.join(5 if thread is self._thread else 0.5)

    # ---- reading (instant) ---------------------------------------------------------------

    @property
    def storage(self) -> StoreHealth:
        """The store's state now: the last probe, unless one is overdue or an operation failed."""
        with self._lock:
            return self._storage_now()

    @property
    def store_unavailable(self) -> bool:
        """Whether the store is known not to answer now, so calls to it would only wait.

        True while a probe is overdue, and after an operation failed until a later probe
        succeeds. A store that answers but refuses (a full disk, wrong credentials) is not
        "unavailable": calls to it fail fast on their own.
        """
        with self._lock:
            return self._overdue() is not None or self._failed_since_probe()

    def on_store_recovered(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` (on a health thread) when the store answers again after an outage."""
        self._recovery_listeners.append(listener)

    def store_failed(self, detail: str) -> None:
        """Note that a real operation found the store unavailable; probe again at once."""
        with self._lock:
            self._failure = (self._clock(), detail)
        self._report()
        self._wake.set()

    def snapshot(self) -> dict[str, Any]:
        """The ``/health`` body: cameras at most a second old, storage as of now; no secrets."""
        with self._lock:
            base = self._base
        if not base:
            self._collect()
            with self._lock:
                base = self._base
        storage = self.storage
        recording = base["recording"]
        return {
            "status": "ok" if storage.reachable and recording else "degraded",
            "version": __version__,
            "cameras": base["cameras"],
            "archive": base["archive"],
            "storage": {
                "backend": storage.backend,
                "reachable": storage.reachable,
                "detail": storage.detail,
            },
            "upload_queue": base["upload_queue"],
        }

    def cameras(self) -> list[dict[str, Any]]:
        """Each camera's state and buffer (``/cameras``, cached like the snapshot)."""
        with self._lock:
            if self._cameras:
                return self._cameras
        self._collect()
        with self._lock:
            return self._cameras

    # ---- storage state -------------------------------------------------------------------

    def _overdue(self) -> float | None:
        """Seconds the running probe has waited, if that is past the deadline (lock held)."""
        began = self._probing_since
        if began is None:
            return None
        waited = self._clock() - began
        return waited if waited > self.probe_deadline else None

    def _failed_since_probe(self) -> bool:
        """Whether an operation failed after the last successful probe began (lock held)."""
        return self._failure is not None and self._failure[0] >= self._answered_since

    def _storage_now(self) -> StoreHealth:
        waited = self._overdue()
        if waited is not None:
            return StoreHealth(
                self.store.backend, False, f"storage not answering (no reply for {waited:.0f} s)"
            )
        if self._failed_since_probe():
            assert self._failure is not None
            return StoreHealth(self.store.backend, False, self._failure[1])
        return self._probed

    def _report(self) -> None:
        """Log each change of reachability once, whatever noticed it."""
        with self._lock:
            state = self._storage_now()
            changed = self._reported is not None and state.reachable != self._reported
            first = self._reported is None
            self._reported = state.reachable
        if changed or (first and not state.reachable):
            log.log(
                logging.INFO if state.reachable else logging.WARNING,
                "storage %s: %s",
                "reachable" if state.reachable else "unreachable",
                state.detail or state.backend,
            )
        if changed and state.reachable:
            for listener in self._recovery_listeners:
                try:
                    listener()
                except Exception:  # a listener's bug must not stop the health checks
                    log.exception("storage recovery listener failed")

    def _probe_loop(self) -> None:
        while not self._stop.is_set():
            # Cleared before the probe, so a failure noted while it runs asks for another.
            self._wake.clear()
            began = self._clock()
            with self._lock:
                self._probing_since = began
            try:
                result = self.store.health()
            except Exception:  # health checks must never take the service down
                log.exception("storage health check failed")
                result = StoreHealth(self.store.backend, reachable=False, detail="check failed")
            with self._lock:
                self._probing_since = None
                self._probed = result
                if result.reachable:
                    self._answered_since = began
                healthy = result.reachable and not self._failed_since_probe()
            self._first_probe.set()
            self._report()
            self._wake.wait(self.interval if healthy else self.retry_interval)

    # ---- cameras and queue ---------------------------------------------------------------

    def _collect(self) -> None:
        statuses = self.recorder.buffer_status()
        cameras = self._camera_rows({b.camera_id: b for b in statuses})
        base = {
            "recording": all(c["state"] == CameraState.RECORDING.value for c in cameras),
            "cameras": [
                {
                    "id": c["id"],
                    "state": c["state"],
                    "buffered_seconds": c["buffer"]["seconds"],
                    "buffer_disk_low": c["buffer"]["disk_low"],
                    "retention_hours": c["buffer"]["retention_hours"],
                    "archive_bytes": c["buffer"]["size_bytes"],
                    "oldest": c["buffer"]["oldest"],
                }
                for c in cameras
            ],
            "archive": _archive_row(statuses),
            "upload_queue": self.service.upload_queue(),
        }
        with self._lock:
            self._cameras = cameras
            self._base = base

    def _camera_rows(self, buffers: dict[str, BufferStatus]) -> list[dict[str, Any]]:
        result = []
        for status in self.recorder.status():
            camera = self.recorder.cameras[status.camera_id]
            held = buffers[status.camera_id]
            result.append(
                {
                    "id": status.camera_id,
                    "name": camera.label,
                    "source": camera.display_url,
                    "state": status.state.value,
                    "reason": status.reason,
                    "fps": status.fps,
                    "width": status.width,
                    "height": status.height,
                    "codec": status.codec,
                    "has_audio": status.has_audio,
                    "reconnects": status.reconnects,
                    "buffer": {
                        "oldest": _iso_or_none(held.oldest),
                        "newest": _iso_or_none(held.newest),
                        "seconds": round(held.seconds, 1),
                        "segments": held.segments,
                        "size_bytes": held.size_bytes,
                        "disk_free_bytes": held.disk_free_bytes,
                        "disk_floor_bytes": held.disk_floor_bytes,
                        "disk_low": held.disk_low,
                        "evicted_for_space": held.evicted_for_space,
                        "retention_seconds": held.retention_seconds,
                        "retention_hours": round(held.retention_seconds / 3600, 4),
                        "max_bytes": held.max_bytes,
                        "budget_bytes": held.budget_bytes,
                        "archive_bytes": held.archive_bytes,
                        "over_budget": held.over_budget,
                    },
                }
            )
        return result

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            with contextlib.suppress(Exception):
                self._collect()
            # An overdue probe changes the state without an event: notice it here.
            self._report()


def _archive_row(statuses: list[BufferStatus]) -> dict[str, Any]:
    """All cameras' footage together: its size against the budget, and the disk's state."""
    # The disk and budget figures are shared: every camera's row carries the same ones.
    shared = statuses[0] if statuses else BufferStatus("", None, None, 0.0, 0, 0)
    return {
        "used_bytes": sum(status.size_bytes for status in statuses),
        "budget_bytes": shared.budget_bytes,
        "over_budget": shared.over_budget,
        "evicted_for_budget": shared.evicted_for_budget,
        "disk_free_bytes": shared.disk_free_bytes,
        "disk_floor_bytes": shared.disk_floor_bytes,
        "disk_low": shared.disk_low,
        "evicted_for_space": shared.evicted_for_space,
    }


def _iso_or_none(seconds: float | None) -> str | None:
    return iso(to_datetime(seconds)) if seconds is not None else None
