"""The clip service end to end without HTTP: jobs survive restarts, states progress, no loss."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support.factories import clip_record
from tests.support.service import start_service
from tests.support.waiting import wait_until
from vms_desktop.domain.clip import ClipJob, ClipStatus, Event, EventWindow
from vms_desktop.domain.errors import EventConflictError
from vms_desktop.engine.clock import WallClock, to_datetime
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
    def reached() -> ClipJob | None:
        job = runtime.service.job(event_id)
        return job if job is not None and job.status is status else None

    found = wait_until(reached, timeout, f"{event_id} reaching {status}")
    assert found is not None
    return found


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


def test_an_event_with_its_own_window_survives_a_restart_with_it(tmp_path: Path) -> None:
    runtime = _runtime(tmp_path)
    try:
        time.sleep(2)
        moment = (datetime.now(UTC) + timedelta(seconds=1)).replace(microsecond=0)
        event = Event("restart-2", "cam01", "motion", moment)  # as stored: milliseconds
        accepted = runtime.service.generate(event, pre_seconds=0.5, post_seconds=2.5)
        assert accepted.job.window == EventWindow(0.5, 2.5)
        time.sleep(0.5)
    finally:
        runtime.stop()  # before the window closes
    jobs = JobStore(tmp_path / "state" / "jobs.sqlite3")
    recorded = jobs.get("restart-2")
    jobs.close()
    assert recorded is not None and recorded.window == EventWindow(0.5, 2.5)

    again = _runtime(tmp_path)
    try:
        job = _wait_status(again, "restart-2", ClipStatus.READY, 30)
        assert job.event == event and job.window == EventWindow(0.5, 2.5)
        meta = again.service.get("restart-2")
        assert meta is not None and meta.duration == pytest.approx(3.0, abs=1 / 15)
        assert meta.event_window == EventWindow(0.5, 2.5)
        assert meta.window_end - meta.window_start == timedelta(seconds=3)
        with pytest.raises(EventConflictError):  # the same event id, another window
            again.service.generate(event, post_seconds=3.0)
        assert not again.service.generate(event, pre_seconds=0.5).created
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
        # That cannot change: the same request answers with the failure, tries nothing.
        again = runtime.service.generate(event)
        assert not again.created and again.job.status is ClipStatus.FAILED
        assert runtime.service.jobs.retry_state("dark-1").final
        assert not list((tmp_path / "clips").glob("*.mp4"))
        assert not list((tmp_path / "state" / "work").iterdir())
    finally:
        runtime.stop()


def test_job_store_accepts_an_event_once(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite3")
    event = Event("e1", "cam01", "motion", datetime(2025, 5, 31, 10, 30, tzinfo=UTC))
    first, created = store.accept(event, EventWindow(10.0, 20.0))
    second, created_again = store.accept(event, EventWindow(10.0, 20.0))
    assert created and not created_again and first == second
    store.save(first.moved(ClipStatus.ENCODING, progress=0.5))
    assert [j.event.id for j in store.unfinished()] == ["e1"]
    store.save(first.moved(ClipStatus.READY, progress=1.0))
    assert store.unfinished() == []
    assert store.forget_finished_before(datetime.now(UTC) + timedelta(seconds=1)) == 1
    store.close()


def test_health_shows_the_buffer_disk_and_its_floor(tmp_path: Path) -> None:
    runtime = _runtime(tmp_path, BUFFER_MIN_FREE_MB="64")
    try:
        wait_until(
            lambda: runtime.health.cameras()[0]["buffer"]["disk_free_bytes"] is not None,
            20,
            "a free-space check",
        )
        buffer = runtime.health.cameras()[0]["buffer"]
        assert buffer["disk_floor_bytes"] == 64 * 1024 * 1024
        assert buffer["disk_low"] is False and buffer["evicted_for_space"] == 0
        assert runtime.health.snapshot()["cameras"][0]["buffer_disk_low"] is False
    finally:
        runtime.stop()


def test_cleanup_follows_the_service_clock_and_stops_at_a_jump_of_the_system_clock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A service running "as if" three years from now: its own clock is no jump.
    clock = WallClock(start=datetime(2029, 12, 3, 4, 5, tzinfo=UTC))
    runtime = start_service(tmp_path, with_api=False, clock=clock, DEMO_CAMERA="off")
    try:
        service = runtime.service
        assert service.cleanup(1) == []
        made = _store_clip_created(runtime, "old-one", clock.now() - 3 * 86400)
        assert service.cleanup(2) == [made]
        _store_clip_created(runtime, "old-two", clock.now() - 3 * 86400)
        # Now the system clock jumps a day ahead: nothing may be deleted on its word.
        real = time.time
        monkeypatch.setattr(time, "time", lambda: real() + 86400)
        assert service.cleanup(2) == []
        assert runtime.index.get("old-two") is not None
    finally:
        runtime.stop()


def _store_clip_created(runtime: Runtime, event_id: str, created: float) -> str:
    """A catalogued clip made at UTC ``created`` (the catalogue is what cleanup reads)."""
    moment = to_datetime(created)
    one = timedelta(seconds=1)
    meta = clip_record(
        event_id, at=moment, pre=one, post=one, size=1, sha256="0" * 64, created_at=moment
    )
    runtime.index.upsert(meta)
    return event_id
