"""The clip service end to end without HTTP: jobs survive restarts, states progress, no loss."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support.service import start_service
from vms_desktop.domain.clip import ClipJob, ClipStatus, Event
from vms_desktop.runtime import Runtime
from vms_desktop.storage.job_store import JobStore


def _runtime(tmp_path: Path, **extra: str) -> Runtime:
    return start_service(
        tmp_path,
        with_api=False,
        **{
            "CAMERA_CAM01_URL": "demo://?width=320&height=240",
            "POST_EVENT_BUFFER_SECONDS": "3",
            "CLIP_DURATION_SECONDS": "4",
            **extra,
        },
    )


def _wait_status(runtime: Runtime, event_id: str, status: ClipStatus, timeout: float) -> ClipJob:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = runtime.service.job(event_id)
        if job is not None and job.status is status:
            return job
        time.sleep(0.05)
    raise AssertionError(f"{event_id} never reached {status}: {runtime.service.job(event_id)}")


def test_states_progress_from_recording_to_ready(tmp_path: Path) -> None:
    runtime = _runtime(tmp_path)
    seen: list[tuple[str, float]] = []
    runtime.service.add_listener(lambda job: seen.append((job.status.value, job.progress)))
    try:
        time.sleep(2)
        event = Event("live-1", "cam01", "motion", datetime.now(UTC))
        result = runtime.service.generate(event)
        assert result.created and result.job.status is ClipStatus.PENDING
        _wait_status(runtime, "live-1", ClipStatus.RECORDING, 5)
        _wait_status(runtime, "live-1", ClipStatus.READY, 20)
        statuses = [s for s, _ in seen]
        assert statuses[0] == "recording" and statuses[-1] == "ready"
        progress = [p for s, p in seen if s == "recording"]
        assert progress == sorted(progress) and len(progress) > 3
        assert runtime.service.verify("live-1")
    finally:
        runtime.stop()


def test_an_accepted_event_survives_a_restart(tmp_path: Path) -> None:
    runtime = _runtime(tmp_path)
    try:
        time.sleep(2)
        event = Event("restart-1", "cam01", "motion", datetime.now(UTC) + timedelta(seconds=1))
        runtime.service.generate(event)
        time.sleep(0.5)
    finally:
        runtime.stop()  # before the window closes
    jobs = JobStore(tmp_path / "state" / "jobs.sqlite3")
    recorded = jobs.get("restart-1")
    jobs.close()
    assert recorded is not None and recorded.status is ClipStatus.PENDING

    again = _runtime(tmp_path)
    try:
        job = _wait_status(again, "restart-1", ClipStatus.READY, 30)
        assert job.event == event
        meta = again.service.get("restart-1")
        assert meta is not None and meta.duration == pytest.approx(4.0, abs=1 / 15)
        assert again.service.verify("restart-1")
    finally:
        again.stop()


def test_a_window_with_no_footage_fails_with_a_reason(tmp_path: Path) -> None:
    runtime = _runtime(
        tmp_path, CAMERA_STALL_TIMEOUT_SECONDS="1", CAMERA_CONNECT_TIMEOUT_SECONDS="1"
    )
    try:
        time.sleep(1.5)
        runtime.recorder.stop()  # the camera goes away before the window starts
        time.sleep(1.5)
        event = Event("dark-1", "cam01", "motion", datetime.now(UTC))
        runtime.service.generate(event)
        job = _wait_status(runtime, "dark-1", ClipStatus.FAILED, 15)
        assert "no footage" in job.error
        assert runtime.service.get("dark-1") is None
        assert not list((tmp_path / "clips").glob("*.mp4"))
        assert not list((tmp_path / "state" / "work").iterdir())
    finally:
        runtime.stop()


def test_job_store_accepts_an_event_once(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite3")
    event = Event("e1", "cam01", "motion", datetime(2025, 5, 31, 10, 30, tzinfo=UTC))
    first, created = store.accept(event)
    second, created_again = store.accept(event)
    assert created and not created_again and first == second
    store.save(first.moved(ClipStatus.ENCODING, progress=0.5))
    assert [j.event.id for j in store.unfinished()] == ["e1"]
    store.save(first.moved(ClipStatus.READY, progress=1.0))
    assert store.unfinished() == []
    assert store.forget_finished_before(datetime.now(UTC) + timedelta(seconds=1)) == 1
    store.close()
