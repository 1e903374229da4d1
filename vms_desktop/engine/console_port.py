"""What the operator console may ask of a VMS service and what it is told: the ``Console`` protocol.

The console's widgets know the service only through this protocol and the plain domain values
in its signatures, so an implementation speaking the HTTP API (a console attached to a headless
server elsewhere) can replace the embedded one without touching a widget. Any method may be
slow (a disk, a catalogue or a network behind it): widgets call them off the GUI thread. Only
the attributes marked "known at attach" answer from memory.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from vms_desktop.domain.bookmark import Bookmark, BookmarkPage, BookmarkQuery
from vms_desktop.domain.camera import CameraConfig, CameraStatus
from vms_desktop.domain.clip import ClipJob, ClipMeta, Event
from vms_desktop.domain.clip_query import CatalogueChange, ClipPage, ClipQuery
from vms_desktop.domain.picture import DEFAULT_PREVIEW_FPS, PreviewPicture
from vms_desktop.domain.recording import ArchiveGap, ArchivePicture, Coverage, TimeRange
from vms_desktop.domain.store_state import MAX_URL_EXPIRY, ClipUrl, StoreHealth

RgbArray = npt.NDArray[np.uint8]
"""A picture as a (height, width, 3) RGB array."""

CameraStatusListener = Callable[[CameraStatus], None]
JobListener = Callable[[ClipJob], None]
CatalogueListener = Callable[[CatalogueChange], None]


@dataclass(frozen=True)
class StorageStatus:
    """The status bar's view of the clip storage."""

    health: StoreHealth
    disk_free_bytes: int | None  # None: not stored on this computer, or unknown
    upload_queue: int


@dataclass(frozen=True)
class DashboardFigures:
    """One sample of the dashboard's series."""

    when: float
    stored_bytes: int
    upload_queue: int
    fps: dict[str, float]
    clips_per_hour: dict[int, int]  # hour start (epoch ms) -> clips


class LiveLease(Protocol):
    """One viewer's claim on a camera's live pictures."""

    def update(self, width: int, height: int, fps: float | None = None) -> None:
        """Ask for pictures of another size (and rate) from now on."""
        ...

    def release(self) -> None:
        """Stop watching; releasing twice is harmless."""
        ...


class LiveFeed(Protocol):
    """A camera's live pictures: watched through a lease, read as the newest picture."""

    def acquire(self, width: int, height: int, fps: float = DEFAULT_PREVIEW_FPS) -> LiveLease:
        """Start watching at this pixel size and rate (pictures follow, never a backlog)."""
        ...

    def latest(self) -> PreviewPicture | None:
        """The newest picture, or None (an instant, thread-safe read)."""
        ...

    @property
    def fps(self) -> float:
        """Pictures delivered per second recently."""
        ...

    @property
    def error(self) -> str:
        """Why no pictures come, or an empty string."""
        ...


class ArchivePlayback(Protocol):
    """One camera's archive being decoded for a player; every method returns at once."""

    def show(self, moment: float) -> None:
        """Decode the picture due at ``moment`` (UTC epoch seconds): the newest one recorded
        at or before it. Replaces a request not started yet (only the newest matters, as with
        ClipDecoder.request). Outcomes arrive through the callbacks given to open_archive, on
        the decoder's own thread (the GUI turns them into signals).
        """
        ...

    def fit(self, width: int, height: int) -> None:
        """Scale pictures to fit this box from now on (0, 0: full size)."""
        ...

    def close(self) -> None:
        """Stop decoding and release the footage (idempotent)."""
        ...


class CameraPort(Protocol):
    """The cameras: their configuration, live pictures, states and recorded footage."""

    @property
    def cameras(self) -> Sequence[CameraConfig]:
        """The configured cameras, sorted by id (known at attach)."""
        ...

    def live_feed(self, camera_id: str) -> LiveFeed:
        """The camera's live pictures (known at attach; ``UnknownCameraError`` for an unknown
        id): watching starts with :meth:`LiveFeed.acquire`.
        """
        ...

    def camera_statuses(self) -> list[CameraStatus]:
        """Every camera's current state and measured rate."""
        ...

    def footage(self, camera_id: str, start: float, end: float) -> list[tuple[float, float]]:
        """Stretches (epoch seconds) of recorded footage of a camera overlapping [start, end]."""
        ...


class Console(CameraPort, Protocol):
    """Everything the operator console may ask of the service, and the changes it is told of."""

    # ---- known at attach (answered from memory) ------------------------------------------

    @property
    def has_local_files(self) -> bool:
        """True when clips are files on this computer (a folder can be shown)."""
        ...

    @property
    def has_thumbnails(self) -> bool:
        """True when :meth:`thumbnail` can make pictures."""
        ...

    # ---- archive -------------------------------------------------------------------------

    def coverage(self, camera_id: str, start: float, end: float) -> Coverage:
        """A camera's continuous ranges of footage and its gaps over ``[start, end]`` (UTC
        seconds; ``UnknownCameraError`` for an unknown id).
        """
        ...

    def open_archive(
        self,
        camera_id: str,
        on_picture: Callable[[ArchivePicture], None],
        on_gap: Callable[[ArchiveGap], None],
        on_failed: Callable[[str], None],
    ) -> ArchivePlayback:
        """Start decoding a camera's archive for a player (``UnknownCameraError`` for an
        unknown id): pictures, gaps and failures (a sentence fit for the operator) arrive
        through the callbacks, on the decoder's thread, until :meth:`ArchivePlayback.close`.
        """
        ...

    # ---- clips ---------------------------------------------------------------------------

    def clips(self, query: ClipQuery) -> ClipPage:
        """A page of stored clips."""
        ...

    def clip(self, event_id: str) -> ClipMeta | None:
        """A stored clip's metadata, or None."""
        ...

    def unfinished_jobs(self) -> list[ClipJob]:
        """Clip jobs still running."""
        ...

    def playback_source(self, event_id: str) -> str:
        """What a decoder opens to play a clip: a local path or a time-limited URL."""
        ...

    def link(self, event_id: str, expires_in: timedelta) -> ClipUrl:
        """A time-limited URL to a clip's bytes."""
        ...

    def local_path(self, event_id: str) -> Path | None:
        """The clip's file on this computer, or None (see :attr:`has_local_files`)."""
        ...

    def thumbnail(self, meta: ClipMeta) -> RgbArray:
        """A small picture of the clip at its event's moment."""
        ...

    def forget_thumbnail(self, event_id: str) -> None:
        """Drop a deleted clip's cached thumbnail."""
        ...

    def mark(self, event: Event) -> ClipJob:
        """Record an event and make its clip (F9, the feed's "mark" button)."""
        ...

    def export_range(self, camera_id: str, start: datetime, end: datetime) -> ClipJob:
        """Make a clip of a camera's footage from ``start`` to ``end``: an operator event at
        ``start`` whose window holds nothing before it and runs to ``end``. Exporting the same
        range again is the same request.
        """
        ...

    def save_copy(self, event_id: str, destination: Path) -> bool:
        """Copy a stored clip to ``destination`` atomically; whether its SHA-256 matched."""
        ...

    def delete(self, event_id: str) -> bool:
        """Delete a clip; True if anything was there."""
        ...

    def verify(self, event_id: str) -> bool:
        """Whether a stored clip's bytes still match its SHA-256."""
        ...

    # ---- bookmarks -----------------------------------------------------------------------

    def bookmarks(self, query: BookmarkQuery) -> BookmarkPage:
        """A page of bookmarks, newest first."""
        ...

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
        ...

    def delete_bookmark(self, bookmark_id: str) -> Bookmark:
        """Delete a bookmark, releasing its footage (``BookmarkNotFoundError`` when unknown)."""
        ...

    # ---- health --------------------------------------------------------------------------

    def storage_status(self) -> StorageStatus:
        """Storage reachability, free disk and upload queue."""
        ...

    def dashboard_figures(self, since: datetime) -> DashboardFigures:
        """One sample of the dashboard's series; clips per hour counted from ``since``."""
        ...

    # ---- changes -------------------------------------------------------------------------

    def subscribe(
        self,
        on_camera_status: CameraStatusListener,
        on_job: JobListener,
        on_catalogue: CatalogueListener,
    ) -> Callable[[], None]:
        """Be told of camera states, job changes and catalogue changes (on any thread) until
        the returned function is called.
        """
        ...


__all__ = [
    "DEFAULT_PREVIEW_FPS",
    "MAX_URL_EXPIRY",
    "ArchiveGap",
    "ArchivePicture",
    "ArchivePlayback",
    "Bookmark",
    "BookmarkPage",
    "BookmarkQuery",
    "CameraPort",
    "CatalogueChange",
    "ClipUrl",
    "Console",
    "Coverage",
    "DashboardFigures",
    "LiveFeed",
    "LiveLease",
    "PreviewPicture",
    "RgbArray",
    "StorageStatus",
    "StoreHealth",
    "TimeRange",
]
