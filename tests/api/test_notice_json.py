"""Notices rendered as the API renders the same job, camera and health."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.support.factories import WHEN, clip_record
from vms_desktop.api.notice_json import notice_json
from vms_desktop.api.schemas import JobOut
from vms_desktop.domain.camera import CameraState, CameraStatus
from vms_desktop.domain.clip import ClipJob, ClipMeta, ClipStatus, Event
from vms_desktop.domain.notice import Notice, NoticeKind
from vms_desktop.domain.store_state import ClipUrl

META = clip_record("ev-1")


class Links:
    """A catalogue of one clip and one camera row, as the service would answer."""

    def clip(self, event_id: str) -> ClipMeta | None:
        return META if event_id == "ev-1" else None

    def url(self, event_id: str) -> ClipUrl | None:
        return ClipUrl(f"http://clips.example/{event_id}.mp4", WHEN + timedelta(hours=1))

    def camera(self, camera_id: str) -> dict[str, Any] | None:
        row = {"id": "cam01", "name": "Door", "state": "connecting", "buffer": {"segments": 3}}
        return row if camera_id == "cam01" else None


def clip_notice(status: ClipStatus, event_id: str = "ev-1") -> Notice:
    job = ClipJob(Event(event_id, "cam01", "motion", WHEN), status, progress=1.0)
    return Notice(1, NoticeKind.CLIP, event_id, WHEN, job=job)


def test_a_ready_clip_is_the_job_json_with_its_clip_url_and_expiry() -> None:
    notice = clip_notice(ClipStatus.READY)
    body = notice_json(notice, Links())
    assert notice.job is not None
    expected = JobOut.of(notice.job, META).model_dump(mode="json")
    assert {key: body[key] for key in expected} == expected
    assert body["clip"]["sha256"] == META.sha256
    assert body["url"] == "http://clips.example/ev-1.mp4"
    assert body["url_expires_at"] == "2025-05-31T11:00:00.000Z"


def test_a_job_still_running_or_without_links_has_no_clip() -> None:
    running = notice_json(clip_notice(ClipStatus.ENCODING), Links())
    assert running["status"] == "encoding" and running["clip"] is None and "url" not in running
    bare = notice_json(clip_notice(ClipStatus.READY), None)
    assert bare["status"] == "ready" and bare["clip"] is None and "url" not in bare
    uncatalogued = notice_json(clip_notice(ClipStatus.READY, "ev-2"), Links())
    assert uncatalogued["clip"] is None and "url" not in uncatalogued


def test_a_camera_is_its_cameras_entry_with_the_notices_state() -> None:
    status = CameraStatus("cam01", CameraState.RECORDING, reason="live", fps=15.0)
    body = notice_json(Notice(2, NoticeKind.CAMERA, "cam01", WHEN, camera=status), Links())
    assert body["name"] == "Door" and body["buffer"] == {"segments": 3}
    assert body["state"] == "recording" and body["reason"] == "live" and body["fps"] == 15.0
    unknown = CameraStatus("cam02", CameraState.OFFLINE, reason="refused")
    body = notice_json(Notice(3, NoticeKind.CAMERA, "cam02", WHEN, camera=unknown), None)
    assert body["id"] == "cam02" and body["state"] == "offline"


def test_health_is_the_health_body() -> None:
    health = {"status": "ok", "cameras": []}
    notice = Notice(4, NoticeKind.HEALTH, "service", WHEN, health=health)
    assert notice_json(notice, Links()) == health
