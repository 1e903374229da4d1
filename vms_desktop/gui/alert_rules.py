"""When the operator is warned: a camera gone dark, uploads stuck, and when either is over."""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass

from vms_desktop.domain.camera import CameraState, CameraStatus

# A reconnect usually takes a second or two: only a longer silence is worth a warning.
CAMERA_GRACE_SECONDS = 5.0
# Uploads come and go in bursts; a queue that has not shrunk for this long is stuck.
UPLOAD_PATIENCE_SECONDS = 60.0
# The storage reads "not checked yet" until its first probe answers, and a probe can fail once:
# only a storage unreachable for this long is worth a warning.
STORAGE_GRACE_SECONDS = 10.0
STORAGE_SUBJECT = "storage"


class AlertKind(enum.StrEnum):
    """What an alert tells; the first two call for attention, the others say it is over."""

    CAMERA_DOWN = "camera down"
    UPLOAD_STUCK = "upload stuck"
    CAMERA_RECOVERED = "camera recovered"
    UPLOAD_MOVING = "uploads moving"

    @property
    def is_warning(self) -> bool:
        """True for an alert that starts a problem (as opposed to one that ends it)."""
        return self in (AlertKind.CAMERA_DOWN, AlertKind.UPLOAD_STUCK)


@dataclass(frozen=True)
class Alert:
    """One thing the operator is told: what, about which camera (or the storage), when."""

    kind: AlertKind
    subject: str  # a camera id, or STORAGE_SUBJECT
    text: str
    at: float  # seconds since the epoch


@dataclass
class _Camera:
    recorded: bool = False  # only a camera that recorded can go down
    left_at: float | None = None  # when it last stopped recording (None: recording)
    last: CameraStatus | None = None
    down: bool = False  # its down alert was given


class AlertRules:
    """Turns camera states and storage readings into alerts, each said once while it lasts.

    Camera states come as they change (:meth:`on_camera_status`), storage readings as they
    are polled (:meth:`on_storage`); :meth:`tick` is called now and then so that a grace that
    ran out with nothing new arriving is noticed. Every call returns the new alerts.
    """

    def __init__(
        self,
        *,
        camera_grace: float = CAMERA_GRACE_SECONDS,
        upload_patience: float = UPLOAD_PATIENCE_SECONDS,
        storage_grace: float = STORAGE_GRACE_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.camera_grace = camera_grace
        self.upload_patience = upload_patience
        self.storage_grace = storage_grace
        self._clock = clock
        self._cameras: dict[str, _Camera] = {}
        self._unreachable_since: float | None = None
        self._detail = ""
        self._queue = 0
        self._queue_moved_at = 0.0  # when the queue last shrank or became non-empty
        self._stuck = False

    # ---- cameras ---------------------------------------------------------------------------

    def on_camera_status(self, status: CameraStatus) -> list[Alert]:
        """A camera's state changed (repeats of the same state are harmless)."""
        now = self._clock()
        camera = self._cameras.setdefault(status.camera_id, _Camera())
        camera.last = status
        alerts: list[Alert] = []
        if status.state is CameraState.RECORDING:
            if camera.down:
                text = f"Camera {status.camera_id} is recording again"
                alerts.append(Alert(AlertKind.CAMERA_RECOVERED, status.camera_id, text, now))
            camera.recorded = True
            camera.left_at = None
            camera.down = False
        elif camera.recorded and camera.left_at is None:
            camera.left_at = now
        return alerts + self.tick()

    def learn(self, statuses: list[CameraStatus]) -> list[Alert]:
        """States read at start: taken only for cameras not heard of yet, since a change told
        meanwhile is newer than the reading.
        """
        alerts: list[Alert] = []
        for status in statuses:
            if status.camera_id not in self._cameras:
                alerts += self.on_camera_status(status)
        return alerts

    def _cameras_down(self, now: float) -> list[Alert]:
        alerts: list[Alert] = []
        for camera_id, camera in sorted(self._cameras.items()):
            if camera.down or camera.left_at is None or now - camera.left_at < self.camera_grace:
                continue
            camera.down = True
            state = camera.last.state.value if camera.last is not None else "not recording"
            reason = f" ({camera.last.reason})" if camera.last and camera.last.reason else ""
            quiet = now - camera.left_at
            text = f"Camera {camera_id} stopped recording {quiet:.0f} s ago: {state}{reason}"
            alerts.append(Alert(AlertKind.CAMERA_DOWN, camera_id, text, now))
        return alerts

    # ---- uploads ---------------------------------------------------------------------------

    def on_storage(self, *, reachable: bool, upload_queue: int, detail: str = "") -> list[Alert]:
        """A reading of the storage: whether it answers, and how many clips wait to upload."""
        now = self._clock()
        if upload_queue < self._queue or (upload_queue > 0 and self._queue == 0):
            self._queue_moved_at = now
        self._queue = upload_queue
        if reachable:
            self._unreachable_since = None
        elif self._unreachable_since is None:
            self._unreachable_since = now
        self._detail = detail
        return self.tick()

    def _upload_change(self, now: float) -> list[Alert]:
        stalled = self._queue > 0 and now - self._queue_moved_at >= self.upload_patience
        away = self._unreachable_since
        unreachable = away is not None and now - away >= self.storage_grace
        stuck = unreachable or stalled
        if stuck == self._stuck:
            return []
        self._stuck = stuck
        if not stuck:
            text = f"Uploads are moving again ({self._queue} waiting)"
            return [Alert(AlertKind.UPLOAD_MOVING, STORAGE_SUBJECT, text, now)]
        if unreachable:
            why = f": {self._detail}" if self._detail else ""
            text = f"The storage is unreachable{why}; {self._queue} clips wait to upload"
        else:
            waited = now - self._queue_moved_at
            text = f"{self._queue} clips wait to upload; the queue has not moved for {waited:.0f} s"
        return [Alert(AlertKind.UPLOAD_STUCK, STORAGE_SUBJECT, text, now)]

    # ---- time ------------------------------------------------------------------------------

    def tick(self) -> list[Alert]:
        """Alerts whose grace or patience ran out by now."""
        now = self._clock()
        return self._cameras_down(now) + self._upload_change(now)
