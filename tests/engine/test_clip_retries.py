"""Clips that failed for a reason that clears are made once it clears; lasting failures stay."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests.storage.test_job_store import write_legacy_job_store
from tests.support.filesystems import SmallFilesystem, small_filesystem
from tests.support.service import start_service
from tests.support.waiting import wait_until
from vms_desktop.domain.clip import ClipJob, ClipStatus, Event, iso
from vms_desktop.runtime import Runtime

DEMO = "demo://?width=320&height=240"


def buffered(runtime: Runtime) -> float:
    segments = runtime.recorder.buffers["cam01"].segments()
    return segments[-1].end - segments[0].start if segments else 0.0


def past_event(event_id: str) -> Event:
    """An event whose 2 s window (1 s each side) has just been recorded."""
    moment = datetime.fromtimestamp(round(time.time() - 1.5, 3), tz=UTC)
    return Event(event_id, "cam01", "motion", moment)


def job_of(runtime: Runtime, event_id: str) -> ClipJob:
    job = runtime.service.job(event_id)
    assert job is not None
    return job


@pytest.fixture
def clip_folder() -> Iterator[SmallFilesystem]:
    with small_filesystem(4) as fs:
        yield fs


@pytest.fixture
def service(tmp_path: Path, clip_folder: SmallFilesystem) -> Iterator[Runtime]:
    runtime = start_service(
        tmp_path,
        with_api=False,
        CAMERA_CAM01_URL=DEMO,
        LOCAL_STORAGE_PATH=str(clip_folder.path / "clips"),
        # A short buffer keeps files of one piece, so the window's footage can be evicted
        # as soon as the camera has moved on.
        BUFFER_RETENTION_SECONDS="40",
    )
    try:
        wait_until(lambda: buffered(runtime) > 3, 30, "3 s of footage")
        yield runtime
    finally:
        runtime.stop()


@pytest.mark.parametrize("trouble", ["full", "read-only"])
def test_a_clip_the_folder_could_not_take_is_made_once_the_folder_is_writable(
    service: Runtime, clip_folder: SmallFilesystem, trouble: str
) -> None:
    if trouble == "full":
        clip_folder.fill(0)
    else:
        clip_folder.remount(read_only=True)
    try:
        service.service.generate(past_event("e1"))
        wait_until(lambda: "trying again" in job_of(service, "e1").error, 20, "a failed attempt")
        job = job_of(service, "e1")
        assert job.status is ClipStatus.PENDING
        expected = "disk full" if trouble == "full" else "read-only"
        assert expected in job.error.lower(), job.error
        assert service.service.get("e1") is None
        assert [p.name for p in (clip_folder.path / "clips").iterdir()] == []
        # A repeated request is answered with the waiting job (and tries again now).
        again = service.service.generate(job.event)
        assert not again.created and not again.job.status.finished
    finally:
        if trouble == "full":
            clip_folder.release()
        else:
            clip_folder.remount(read_only=False)

    wait_until(lambda: job_of(service, "e1").status is ClipStatus.READY, 40, "the clip")
    assert job_of(service, "e1").error == ""
    assert service.service.verify("e1")
    assert not list((service.settings.state_path / "work").iterdir())


def test_a_failing_clip_gives_up_once_its_footage_has_left_the_buffer(
    service: Runtime, clip_folder: SmallFilesystem
) -> None:
    clip_folder.fill(0)
    try:
        event = past_event("e2")
        service.service.generate(event)
        wait_until(lambda: "trying again" in job_of(service, "e2").error, 20, "a failed attempt")
        buffer = service.recorder.buffers["cam01"]
        # The buffer moves on past the window (retention or lack of space would do it).
        window_start = event.timestamp.timestamp() - 1
        while (oldest := buffer.evictable()) is not None and oldest.start <= window_start:
            assert buffer.evict(oldest)
        wait_until(lambda: job_of(service, "e2").status is ClipStatus.FAILED, 30, "the failure")
        job = job_of(service, "e2")
        assert "no longer in the buffer" in job.error
        assert "disk full" in job.error
    finally:
        clip_folder.release()
    # It cannot change any more: the same request answers with the failure.
    again = service.service.generate(event)
    assert again.job.status is ClipStatus.FAILED and not again.created
    assert service.recorder.buffers["cam01"].evicted_until > window_start


def test_the_same_request_retries_a_failed_clip_whose_footage_is_still_buffered(
    tmp_path: Path,
) -> None:
    settings = {"CAMERA_CAM01_URL": DEMO}
    first = start_service(tmp_path, with_api=False, **settings)
    try:
        wait_until(lambda: buffered(first) > 5, 30, "5 s of footage")
        recorded_from = first.recorder.buffers["cam01"].segments()[0].start
    finally:
        first.stop()
    # Both failed under an earlier version: one for a cause that cleared, one for good.
    moment = datetime.fromtimestamp(round(recorded_from + 2.5, 3), tz=UTC)
    before = datetime.fromtimestamp(round(recorded_from - 100, 3), tz=UTC)
    cleared = Event("cleared", "cam01", "motion", moment)
    lasting = Event("lasting", "cam01", "motion", before)
    state = tmp_path / "state"
    for name in ("jobs.sqlite3", "jobs.sqlite3-wal", "jobs.sqlite3-shm"):
        (state / name).unlink(missing_ok=True)
    write_legacy_job_store(
        state / "jobs.sqlite3",
        [
            (cleared, ClipStatus.FAILED, "could not write"),
            (lasting, ClipStatus.FAILED, "camera cam01 has no footage for that window"),
        ],
    )

    second = start_service(tmp_path, **settings)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{second.settings.api_port}") as client:

            def post(event: Event) -> httpx.Response:
                body = {
                    "event": {
                        "id": event.id,
                        "camera_id": event.camera_id,
                        "event_type": event.event_type,
                        "timestamp": iso(event.timestamp),
                    }
                }
                return client.post("/clips/generate", json=body)

            assert client.get("/clips/cleared").status_code == 410
            response = post(cleared)
            assert response.status_code == 202, response.text
            assert response.json()["status"] in ("pending", "encoding")
            wait_until(lambda: client.get("/clips/cleared/url").status_code == 200, 30, "the clip")
            assert second.service.verify("cleared")

            response = post(lasting)
            assert response.status_code == 200, response.text
            assert response.json()["status"] == "failed"
            assert "no footage" in response.json()["error"]
            assert client.get("/clips/lasting").status_code == 410
    finally:
        second.stop()
