"""The recording engine's front: one buffer and one worker per camera, and clips cut from them."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from vms_desktop.domain.camera import CameraConfig, CameraStatus
from vms_desktop.domain.errors import UnknownCameraError
from vms_desktop.engine.archive import Archive
from vms_desktop.engine.camera_worker import CameraWorker, StatusListener
from vms_desktop.engine.clip_builder import ClipBuilder, ClipResult, ClipSpec, ProgressCallback
from vms_desktop.engine.clock import SYSTEM_CLOCK, WallClock
from vms_desktop.engine.free_space import FreeSpaceGuard
from vms_desktop.engine.preview import CameraPreview
from vms_desktop.engine.segment_buffer import SegmentBuffer, archive_file_seconds
from vms_desktop.engine.sources import DEFAULT_TIMEOUTS, Timeouts

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RecorderOptions:
    """How cameras are recorded and how long footage is kept."""

    buffer_root: Path
    retention_seconds: float = 600.0
    max_bytes_per_camera: int = 2 << 30
    segment_seconds: float = 2.0
    timeouts: Timeouts = DEFAULT_TIMEOUTS
    stall_timeout: float = 10.0
    reconnect_max: float = 30.0
    auth_retry: float = 120.0
    # Free space kept on the buffer's file system; the oldest footage of any camera goes first.
    min_free_bytes: int = 512 * 1024 * 1024
    # Seconds between two passes of the maintainer (retention, size and free space).
    maintain_interval: float = 5.0
    # Spans kept whatever their age, per camera, by key: known before a buffer first prunes.
    protected: Mapping[str, Mapping[str, tuple[float, float]]] = field(default_factory=dict)


@dataclass(frozen=True)
class BufferStatus:
    """How much footage one camera's buffer holds."""

    camera_id: str
    oldest: float | None
    newest: float | None
    seconds: float
    segments: int
    size_bytes: int
    # The buffer file system's free space and floor, and whether it is short with nothing
    # left to evict (recording may stop); shared by every camera.
    disk_free_bytes: int | None = None
    disk_floor_bytes: int = 0
    disk_low: bool = False
    evicted_for_space: int = 0


class Recorder:
    """Records every configured camera into its rolling buffer and cuts clips from it."""

    def __init__(
        self,
        cameras: Iterable[CameraConfig],
        options: RecorderOptions,
        clock: WallClock = SYSTEM_CLOCK,
    ) -> None:
        self.options = options
        self.clock = clock
        self.cameras = {camera.id: camera for camera in cameras}
        self.buffers = {
            camera_id: SegmentBuffer(
                options.buffer_root,
                camera_id,
                retention_seconds=options.retention_seconds,
                max_bytes=options.max_bytes_per_camera,
                segment_seconds=options.segment_seconds,
                # Files of many pieces for a long archive, one piece each for a short buffer.
                file_seconds=archive_file_seconds(
                    options.retention_seconds, options.segment_seconds
                ),
                clock=clock,
                protected=options.protected.get(camera_id),
            )
            for camera_id in self.cameras
        }
        # What the API and the console read of the footage: ranges, gaps and media spans.
        self.archive = Archive(self.buffers)
        self.space_guard = FreeSpaceGuard(
            options.buffer_root, list(self.buffers.values()), options.min_free_bytes
        )
        for buffer in self.buffers.values():
            buffer.space_check = self.space_guard.check
        # Made on first use, so a headless service never copies packets for a live view.
        self.previews: dict[str, CameraPreview] = {}
        self._previews_lock = threading.Lock()
        self.workers = {
            camera_id: CameraWorker(
                camera,
                self.buffers[camera_id],
                timeouts=options.timeouts,
                stall_timeout=options.stall_timeout,
                reconnect_max=options.reconnect_max,
                auth_retry=options.auth_retry,
                clock=clock,
                on_disk_full=self.space_guard.reclaim,
            )
            for camera_id, camera in self.cameras.items()
        }
        self._stop = threading.Event()
        self._maintainer = threading.Thread(
            target=self._maintain, name="buffer-maintainer", daemon=True
        )

    def start(self) -> None:
        """Start recording every camera."""
        self.space_guard.check()  # before the first segment: the disk may be full already
        for worker in self.workers.values():
            worker.start()
        self._maintainer.start()

    def stop(self, timeout: float = 15.0) -> None:
        """Stop every camera and close their open segments."""
        self._stop.set()
        for worker in self.workers.values():
            worker.request_stop()
        for worker in self.workers.values():
            worker.stop(timeout)
        with self._previews_lock:
            previews = list(self.previews.values())
        for preview in previews:
            preview.close()
        if self._maintainer.is_alive():
            self._maintainer.join(timeout)

    def add_listener(self, listener: StatusListener) -> None:
        """Be told of every camera's state changes (called from worker threads)."""
        for worker in self.workers.values():
            worker.add_listener(listener)

    def status(self) -> list[CameraStatus]:
        """Every camera's current state, by id."""
        return [self.workers[camera_id].status for camera_id in sorted(self.workers)]

    def buffer_status(self) -> list[BufferStatus]:
        """How much footage each camera's buffer holds."""
        space = self.space_guard.status()
        result = []
        for camera_id in sorted(self.buffers):
            segments = self.buffers[camera_id].segments()
            result.append(
                BufferStatus(
                    camera_id=camera_id,
                    oldest=segments[0].start if segments else None,
                    newest=segments[-1].end if segments else None,
                    seconds=sum(s.duration for s in segments),
                    segments=len(segments),
                    size_bytes=sum(s.size for s in segments),
                    disk_free_bytes=space.free_bytes,
                    disk_floor_bytes=space.floor_bytes,
                    disk_low=space.low,
                    evicted_for_space=space.evicted_segments,
                )
            )
        return result

    def buffer(self, camera_id: str) -> SegmentBuffer:
        """The buffer of one camera."""
        try:
            return self.buffers[camera_id]
        except KeyError:
            raise UnknownCameraError(camera_id) from None

    def preview(self, camera_id: str) -> CameraPreview:
        """The live preview of one camera (it decodes only while acquired).

        The first call attaches it to the camera's worker; the first picture follows the
        stream's next keyframe.
        """
        if camera_id not in self.workers:
            raise UnknownCameraError(camera_id)
        with self._previews_lock:
            preview = self.previews.get(camera_id)
            if preview is None:
                preview = self.previews[camera_id] = CameraPreview(camera_id)
                self.workers[camera_id].preview_tap = preview
            return preview

    def build_clip(
        self,
        camera_id: str,
        event_time: float,
        spec: ClipSpec,
        destination: Path,
        *,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
        while_waiting: Callable[[], contextlib.AbstractContextManager[object]] | None = None,
    ) -> ClipResult:
        """Cut the clip for ``event_time`` from a camera's buffer (see :class:`ClipBuilder`)."""
        builder = ClipBuilder(
            self.buffer(camera_id),
            wait_grace=self.options.stall_timeout + self.options.timeouts.connect,
            clock=self.clock,
        )
        return builder.build(
            event_time,
            spec,
            destination,
            progress=progress,
            cancel=cancel,
            while_waiting=while_waiting,
        )

    @property
    def wait_grace(self) -> float:
        """Seconds a clip build waits past its window for footage from a silent camera."""
        return self.options.stall_timeout + self.options.timeouts.connect

    def _maintain(self) -> None:
        # Segments are pruned, and free space checked, as each one closes; this catches cameras
        # that stopped sending and space taken by anything else on the disk.
        while not self._stop.wait(self.options.maintain_interval):
            for buffer in self.buffers.values():
                try:
                    buffer.prune()  # checks the free space too
                except OSError as exc:
                    log.warning("pruning the %s buffer failed: %s", buffer.camera_id, exc)
