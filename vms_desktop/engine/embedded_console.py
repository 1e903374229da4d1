"""The console's service in this process: the ``Console`` protocol over the running engine."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path

from vms_desktop.domain.bookmark import Bookmark, BookmarkPage, BookmarkQuery
from vms_desktop.domain.camera import CameraConfig, CameraStatus
from vms_desktop.domain.clip import ClipJob, ClipMeta, Event, InvalidEventError, utc
from vms_desktop.domain.clip_query import ClipPage, ClipQuery
from vms_desktop.domain.errors import (
    ClipNotFoundError,
    StoreError,
    ThumbnailError,
    UnknownCameraError,
)
from vms_desktop.domain.recording import ArchiveGap, ArchivePicture, Coverage
from vms_desktop.engine.archive_decoder import ArchiveDecoder
from vms_desktop.engine.bookmarks import BookmarkService
from vms_desktop.engine.clip_copies import playback_source, save_clip_copy
from vms_desktop.engine.clip_service import ClipService
from vms_desktop.engine.console_port import (
    ArchivePlayback,
    CameraStatusListener,
    CatalogueListener,
    ClipUrl,
    DashboardFigures,
    JobListener,
    LiveFeed,
    RgbArray,
    StorageStatus,
)
from vms_desktop.engine.health import HealthMonitor
from vms_desktop.engine.recorder import Recorder
from vms_desktop.engine.thumbnails import ThumbnailMaker


class EmbeddedCameras:
    """The cameras of the recorder running in this process (a
    :class:`~vms_desktop.engine.console_port.CameraPort`).
    """

    def __init__(self, recorder: Recorder) -> None:
        self._recorder = recorder
        self._cameras = tuple(recorder.cameras[camera_id] for camera_id in sorted(recorder.cameras))

    @property
    def cameras(self) -> Sequence[CameraConfig]:
        """The configured cameras, sorted by id."""
        return self._cameras

    def live_feed(self, camera_id: str) -> LiveFeed:
        """The camera's live preview."""
        return self._recorder.preview(camera_id)

    def camera_statuses(self) -> list[CameraStatus]:
        """Every camera's current state."""
        return self._recorder.status()

    def footage(self, camera_id: str, start: float, end: float) -> list[tuple[float, float]]:
        """Buffered segments of a camera overlapping [start, end] (epoch seconds)."""
        segments = self._recorder.buffer(camera_id).covering(start, end)
        return [(segment.start, segment.end) for segment in segments]


class EmbeddedConsole(EmbeddedCameras):
    """Answers the console from the recorder, clip service, health monitor and thumbnail cache
    running in this process (it implements :class:`~vms_desktop.engine.console_port.Console`).
    """

    def __init__(
        self,
        recorder: Recorder,
        service: ClipService,
        health: HealthMonitor,
        thumbnails: ThumbnailMaker | None = None,
        *,
        bookmarks: BookmarkService | None = None,
    ) -> None:
        super().__init__(recorder)
        self._service = service
        self._bookmarks = bookmarks
        self._health = health
        self._thumbnails = thumbnails
        self._lock = threading.Lock()
        self._status_listeners: list[CameraStatusListener] = []
        self._job_listeners: list[JobListener] = []
        # The engine keeps its listeners for its whole life: one each, fanned out here, so a
        # console that goes away (a closed window) is forgotten by unsubscribing.
        recorder.add_listener(self._on_camera_status)
        service.add_listener(self._on_job)

    # ---- known at attach -----------------------------------------------------------------

    @property
    def has_local_files(self) -> bool:
        """True when the clip store is a folder on this computer."""
        return self._service.store.local_root() is not None

    @property
    def has_thumbnails(self) -> bool:
        """True when a thumbnail cache was given."""
        return self._thumbnails is not None

    # ---- archive -------------------------------------------------------------------------

    def coverage(self, camera_id: str, start: float, end: float) -> Coverage:
        """The camera's continuous ranges and gaps over ``[start, end]``, from its archive."""
        try:
            return self._recorder.archive.coverage(camera_id, start, end)
        except KeyError:
            raise UnknownCameraError(camera_id) from None

    def open_archive(
        self,
        camera_id: str,
        on_picture: Callable[[ArchivePicture], None],
        on_gap: Callable[[ArchiveGap], None],
        on_failed: Callable[[str], None],
    ) -> ArchivePlayback:
        """A decoding thread over the camera's buffer, started; the caller closes it."""
        decoder = ArchiveDecoder(self._recorder.buffer(camera_id), on_picture, on_gap, on_failed)
        decoder.start()
        return decoder

    # ---- clips ---------------------------------------------------------------------------

    def clips(self, query: ClipQuery) -> ClipPage:
        """A page of the catalogue."""
        return self._service.clips(query)

    def clip(self, event_id: str) -> ClipMeta | None:
        """A stored clip's metadata, or None."""
        return self._service.get(event_id)

    def unfinished_jobs(self) -> list[ClipJob]:
        """Jobs still running (read from the job store)."""
        return self._service.jobs.unfinished()

    def playback_source(self, event_id: str) -> str:
        """The clip's local file, or a time-limited URL for a remote store."""
        return playback_source(self._service.store, event_id)

    def link(self, event_id: str, expires_in: timedelta) -> ClipUrl:
        """A time-limited URL to a ready clip."""
        return self._service.url(event_id, expires_in)

    def local_path(self, event_id: str) -> Path | None:
        """The clip's file on this computer, or None."""
        return self._service.store.local_path(event_id)

    def thumbnail(self, meta: ClipMeta) -> RgbArray:
        """The cached thumbnail, else one decoded from the clip now (and cached)."""
        maker = self._thumbnails
        if maker is None:
            raise ThumbnailError("thumbnails are off")
        image = maker.cached(meta)
        if image is None:
            image = maker.thumbnail(meta, self.playback_source(meta.event_id))
        return image

    def forget_thumbnail(self, event_id: str) -> None:
        """Remove a deleted clip's cached thumbnail files."""
        if self._thumbnails is not None:
            self._thumbnails.forget(event_id)

    def mark(self, event: Event) -> ClipJob:
        """Accept an operator's event; its clip follows as job changes."""
        return self._service.generate(event).job

    def export_range(self, camera_id: str, start: datetime, end: datetime) -> ClipJob:
        """Accept an operator's range as an event at its start with the range as its window."""
        # Whole milliseconds, as clips are stored: exporting it again is then the same event.
        first = utc(start).replace(microsecond=start.microsecond // 1000 * 1000)
        length = round((utc(end) - first).total_seconds(), 3)
        if length <= 0:
            raise InvalidEventError("the range to export ends before it starts")
        # Named by the range, so exporting the same range again finds the same clip.
        stamp = first.strftime("%Y%m%dT%H%M%S%f")[:-3]
        event = Event(
            f"export-{camera_id}-{stamp}-{round(length * 1000)}", camera_id, "export", first
        )
        return self._service.generate(event, pre_seconds=0.0, post_seconds=length).job

    def save_copy(self, event_id: str, destination: Path) -> bool:
        """Copy the stored clip to ``destination``; whether it matched its SHA-256."""
        meta = self._service.get(event_id)
        if meta is None:
            raise ClipNotFoundError(event_id)
        return save_clip_copy(self._service.store, meta, destination)

    def delete(self, event_id: str) -> bool:
        """Delete the clip and its cached thumbnail."""
        existed = self._service.delete(event_id)
        self.forget_thumbnail(event_id)
        return existed

    def verify(self, event_id: str) -> bool:
        """Whether the stored bytes still match the clip's SHA-256."""
        return self._service.verify(event_id)

    # ---- bookmarks -----------------------------------------------------------------------

    def bookmarks(self, query: BookmarkQuery) -> BookmarkPage:
        """A page of bookmarks, newest first (none when this service keeps no bookmarks)."""
        if self._bookmarks is None:
            return BookmarkPage([], 0, query.limit, query.offset)
        return self._bookmarks.bookmarks(query)

    def add_bookmark(
        self,
        camera_id: str,
        timestamp: datetime,
        *,
        end: datetime | None = None,
        note: str = "",
        protect: bool = False,
    ) -> Bookmark:
        """Bookmark a moment (or stretch) of a camera; a protected one keeps its footage."""
        return self._bookmark_service().add(
            camera_id, timestamp, end=end, note=note, protect=protect
        )

    def delete_bookmark(self, bookmark_id: str) -> Bookmark:
        """Delete a bookmark, releasing its footage."""
        return self._bookmark_service().delete(bookmark_id)

    def _bookmark_service(self) -> BookmarkService:
        if self._bookmarks is None:
            raise StoreError("this service keeps no bookmarks")
        return self._bookmarks

    # ---- health --------------------------------------------------------------------------

    def storage_status(self) -> StorageStatus:
        """The last storage probe, the free disk under a local store, the upload queue."""
        free: int | None = None
        root = self._service.store.local_root()
        if root is not None:
            try:
                free = shutil.disk_usage(root).free
            except OSError:
                free = None
        return StorageStatus(self._health.storage, free, self._service.upload_queue())

    def dashboard_figures(self, since: datetime) -> DashboardFigures:
        """Catalogue totals, the upload queue and camera rates, now."""
        index = self._service.index
        return DashboardFigures(
            when=time.time(),
            stored_bytes=index.total_bytes(),
            upload_queue=self._service.upload_queue(),
            fps={status.camera_id: status.fps for status in self._recorder.status()},
            clips_per_hour=index.counts_per_hour(since),
        )

    # ---- changes -------------------------------------------------------------------------

    def subscribe(
        self,
        on_camera_status: CameraStatusListener,
        on_job: JobListener,
        on_catalogue: CatalogueListener,
    ) -> Callable[[], None]:
        """Be told of changes (on engine threads) until the returned function is called."""
        with self._lock:
            self._status_listeners.append(on_camera_status)
            self._job_listeners.append(on_job)
        unwatch = self._service.watch_catalogue(on_catalogue)

        def unsubscribe() -> None:
            unwatch()
            with self._lock:
                if on_camera_status in self._status_listeners:
                    self._status_listeners.remove(on_camera_status)
                if on_job in self._job_listeners:
                    self._job_listeners.remove(on_job)

        return unsubscribe

    def _on_camera_status(self, status: CameraStatus) -> None:
        with self._lock:
            listeners = list(self._status_listeners)
        for listener in listeners:
            listener(status)

    def _on_job(self, job: ClipJob) -> None:
        with self._lock:
            listeners = list(self._job_listeners)
        for listener in listeners:
            listener(job)
