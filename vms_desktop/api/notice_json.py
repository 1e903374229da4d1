"""A notice as JSON, rendered as the API renders the same thing (every outward channel uses it)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from vms_desktop.api.schemas import JobOut
from vms_desktop.domain.camera import CameraStatus
from vms_desktop.domain.clip import ClipMeta, ClipStatus, iso
from vms_desktop.domain.errors import ClipNotFoundError, StoreError
from vms_desktop.domain.notice import Notice, NoticeKind
from vms_desktop.domain.store_state import ClipUrl
from vms_desktop.engine.clip_service import ClipService

log = logging.getLogger(__name__)

# How long the URL a ready-clip notice carries stays valid (as GET /clips/{id}/url's default).
NOTICE_URL_LIFETIME = timedelta(minutes=60)


class NoticeLinks(Protocol):
    """What a notice's JSON looks up beyond the notice itself (local state only: fast)."""

    def clip(self, event_id: str) -> ClipMeta | None:
        """The catalogued clip of an event."""
        ...

    def url(self, event_id: str) -> ClipUrl | None:
        """A time-limited URL for a ready clip, or None if none can be made now."""
        ...

    def camera(self, camera_id: str) -> dict[str, Any] | None:
        """The camera's ``GET /cameras`` entry (possibly a second old)."""
        ...


@dataclass
class ServiceLinks:
    """:class:`NoticeLinks` over the clip service and the cached camera rows."""

    service: ClipService
    cameras: Callable[[], list[dict[str, Any]]] = list
    url_lifetime: timedelta = NOTICE_URL_LIFETIME

    def clip(self, event_id: str) -> ClipMeta | None:
        """The catalogued clip of an event."""
        meta, _ = self.service.local_lookup(event_id)
        return meta

    def url(self, event_id: str) -> ClipUrl | None:
        """A signed URL (a local signature or an S3 presign: no network either way)."""
        try:
            return self.service.link(event_id, self.url_lifetime)
        except (ClipNotFoundError, StoreError, OSError) as exc:
            log.info("no URL for clip %s in its notice: %s", event_id, exc)
            return None

    def camera(self, camera_id: str) -> dict[str, Any] | None:
        """The camera's cached ``GET /cameras`` row."""
        return next((row for row in self.cameras() if row.get("id") == camera_id), None)


def notice_json(notice: Notice, links: NoticeLinks | None) -> dict[str, Any]:
    """The notice's body: CLIP the job JSON of ``GET /clips/{id}`` (with the clip's URL and
    expiry once ready, when ``links`` can make one), CAMERA the camera's ``GET /cameras`` entry,
    HEALTH the ``/health`` body.
    """
    if notice.kind is NoticeKind.CLIP:
        return _clip_json(notice, links)
    if notice.kind is NoticeKind.CAMERA:
        assert notice.camera is not None
        return _camera_json(notice.camera, links)
    return dict(notice.health or {})


def _clip_json(notice: Notice, links: NoticeLinks | None) -> dict[str, Any]:
    job = notice.job
    assert job is not None
    meta = None
    link = None
    if links is not None and job.status is ClipStatus.READY:
        meta = links.clip(job.event.id)
        link = links.url(job.event.id) if meta is not None else None
    body = JobOut.of(job, meta).model_dump(mode="json")
    if link is not None:
        body["url"] = link.url
        body["url_expires_at"] = iso(link.expires_at)
    return body


def _camera_json(status: CameraStatus, links: NoticeLinks | None) -> dict[str, Any]:
    row = links.camera(status.camera_id) if links is not None else None
    body: dict[str, Any] = dict(row) if row is not None else {"id": status.camera_id}
    # The notice's own state wins: the cached row may be a second behind it.
    body.update(
        id=status.camera_id,
        state=status.state.value,
        reason=status.reason,
        fps=status.fps,
        width=status.width,
        height=status.height,
        codec=status.codec,
        has_audio=status.has_audio,
        reconnects=status.reconnects,
    )
    return body


__all__ = ["NOTICE_URL_LIFETIME", "NoticeLinks", "ServiceLinks", "notice_json"]
