"""A cached snapshot of the service's health, refreshed in the background so reads are instant."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import Any

from vms_desktop.__version__ import __version__
from vms_desktop.domain.camera import CameraState
from vms_desktop.domain.clip import iso
from vms_desktop.engine.clip_service import ClipService
from vms_desktop.engine.clock import to_datetime
from vms_desktop.engine.recorder import Recorder
from vms_desktop.storage.base import ClipStore, StoreHealth

log = logging.getLogger(__name__)


class HealthMonitor:
    """Collects camera, buffer, storage and queue state every ``interval`` seconds.

    Asking a remote store whether it is reachable can take as long as its timeouts, so it is
    never done on the request path; ``/health`` answers from the last snapshot.
    """

    def __init__(
        self, recorder: Recorder, service: ClipService, store: ClipStore, interval: float = 5.0
    ) -> None:
        self.recorder = recorder
        self.service = service
        self.store = store
        self.interval = interval
        self._storage = StoreHealth(store.backend, reachable=False, detail="not checked yet")
        self._lock = threading.Lock()
        self._snapshot: dict[str, Any] = {}
        self._cameras: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="health", daemon=True)

    def start(self) -> None:
        """Check storage once now, then keep checking in the background."""
        self._refresh()
        self._collect()
        self._thread.start()

    def stop(self) -> None:
        """Stop the background checks."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)

    @property
    def storage(self) -> StoreHealth:
        """The store's last known state."""
        with self._lock:
            return self._storage

    def snapshot(self) -> dict[str, Any]:
        """The ``/health`` body (cached, at most a second old): no secrets, no paths."""
        with self._lock:
            if self._snapshot:
                return self._snapshot
        self._collect()
        with self._lock:
            return self._snapshot

    def cameras(self) -> list[dict[str, Any]]:
        """Each camera's state and buffer (``/cameras``, cached like the snapshot)."""
        with self._lock:
            if self._cameras:
                return self._cameras
        self._collect()
        with self._lock:
            return self._cameras

    def _collect(self) -> None:
        cameras = self._camera_rows()
        snapshot = self._summary(cameras)
        with self._lock:
            self._cameras = cameras
            self._snapshot = snapshot

    def _summary(self, cameras: list[dict[str, Any]]) -> dict[str, Any]:
        storage = self.storage
        recording = all(c["state"] == CameraState.RECORDING.value for c in cameras)
        return {
            "status": "ok" if storage.reachable and recording else "degraded",
            "version": __version__,
            "cameras": [
                {
                    "id": c["id"],
                    "state": c["state"],
                    "buffered_seconds": c["buffer"]["seconds"],
                }
                for c in cameras
            ],
            "storage": {
                "backend": storage.backend,
                "reachable": storage.reachable,
                "detail": storage.detail,
            },
            "upload_queue": self.service.upload_queue(),
        }

    def _camera_rows(self) -> list[dict[str, Any]]:
        buffers = {b.camera_id: b for b in self.recorder.buffer_status()}
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
                    },
                }
            )
        return result

    def _refresh(self) -> None:
        try:
            state = self.store.health()
        except Exception:  # health checks must never take the service down
            log.exception("storage health check failed")
            state = StoreHealth(self.store.backend, reachable=False, detail="check failed")
        with self._lock:
            previous, self._storage = self._storage, state
        if previous.reachable != state.reachable:
            log.log(
                logging.INFO if state.reachable else logging.WARNING,
                "storage %s: %s",
                "reachable" if state.reachable else "unreachable",
                state.detail or state.backend,
            )

    def _run(self) -> None:
        checked = time.monotonic()
        while not self._stop.wait(1.0):
            with contextlib.suppress(Exception):
                self._collect()
            if time.monotonic() - checked >= self.interval:
                checked = time.monotonic()
                with contextlib.suppress(Exception):
                    self._refresh()


def _iso_or_none(seconds: float | None) -> str | None:
    return iso(to_datetime(seconds)) if seconds is not None else None
