"""Clip jobs share the CPU fairly: waiting for footage holds no worker, ready clips never starve."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.support.service import service_environment
from tests.support.waiting import wait_until
from vms_desktop.domain.clip import ClipJob, ClipStatus, Event
from vms_desktop.domain.errors import ClipCancelled
from vms_desktop.engine.clip_scheduler import ClipScheduler, CpuSlots
from vms_desktop.engine.clip_service import ClipService
from vms_desktop.engine.clock import WallClock
from vms_desktop.engine.health import HealthMonitor
from vms_desktop.engine.recorder import Recorder
from vms_desktop.runtime import Runtime, build_runtime, clip_spec
from vms_desktop.settings import load_settings
from vms_desktop.storage.job_store import JobStore

WORKERS = 2
DEMO = "demo://?width=320&height=240"


class CpuWork:
    """Counts builds doing CPU work, seen from outside the service.

    A build works from entering ``build_clip`` to leaving it, except inside the wait hook the
    service passes. Counted down before the hook gives the slot back and up after it took one
    again, so the count never exceeds the slots actually held.
    """

    def __init__(self, recorder: Recorder) -> None:
        self.active = 0
        self.peak = 0
        self._lock = threading.Lock()
        original = recorder.build_clip

        def build_clip(*args: Any, while_waiting: Any = None, **kwargs: Any) -> Any:
            self._add(1)
            try:
                hook = None if while_waiting is None else self._counted(while_waiting)
                return original(*args, while_waiting=hook, **kwargs)
            finally:
                self._add(-1)

        recorder.build_clip = build_clip  # type: ignore[method-assign]

    def _counted(self, while_waiting: Callable[[], Any]) -> Callable[[], Any]:
        @contextlib.contextmanager
        def hook() -> Iterator[None]:
            self._add(-1)
            try:
                with while_waiting():
                    yield
            finally:
                self._add(1)

        return hook

    def _add(self, step: int) -> None:
        with self._lock:
            self.active += step
            self.peak = max(self.peak, self.active)


@pytest.fixture
def service_for(tmp_path: Path) -> Iterator[Callable[..., tuple[Runtime, CpuWork]]]:
    """A whole service from the settings, its clip service built with ``WORKERS`` workers."""
    runtimes: list[Runtime] = []

    def make(**env: str) -> tuple[Runtime, CpuWork]:
        settings = load_settings(env_files=[], environ=service_environment(tmp_path, **env))
        runtime = build_runtime(settings)
        runtime.service = ClipService(
            runtime.recorder,
            runtime.store,
            runtime.index,
            runtime.jobs,
            clip_spec(settings),
            settings.state_path / "work",
            workers=WORKERS,
        )
        runtime.health = HealthMonitor(runtime.recorder, runtime.service, runtime.store)
        work = CpuWork(runtime.recorder)
        runtime.start(with_api=False)
        runtimes.append(runtime)
        return runtime, work

    yield make
    for runtime in runtimes:
        runtime.stop()


def ready_times(runtime: Runtime) -> dict[str, float]:
    """When each clip was listed (its job turned ready), by event id."""
    ready: dict[str, float] = {}

    def on_job(job: ClipJob) -> None:
        if job.status is ClipStatus.READY:
            ready.setdefault(job.event.id, time.time())

    runtime.service.add_listener(on_job)
    return ready


def buffered(runtime: Runtime, camera_id: str) -> float:
    segments = runtime.recorder.buffers[camera_id].segments()
    return segments[-1].end - segments[0].start if segments else 0.0


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def test_a_past_event_is_built_at_once_while_future_windows_wait(
    service_for: Callable[..., tuple[Runtime, CpuWork]],
) -> None:
    runtime, work = service_for(
        CAMERA_CAM01_URL=DEMO,
        PRE_EVENT_BUFFER_SECONDS="1",
        POST_EVENT_BUFFER_SECONDS="10",
        CLIP_DURATION_SECONDS="11",
    )
    ready = ready_times(runtime)
    wait_until(lambda: buffered(runtime, "cam01") > 13, 40, "13 s of footage")
    now = time.time()
    future_end = now + 3 + 10
    for k in range(2 * WORKERS + 1):
        runtime.service.generate(Event(f"future-{k}", "cam01", "motion", at(now + 3)))
    runtime.service.generate(Event("past", "cam01", "motion", at(now - 11.5)))

    wait_until(lambda: "past" in ready, 20, "the past clip")
    assert ready["past"] - now < 5  # built at once, long before the future windows close
    assert ready["past"] < future_end - 5

    wait_until(lambda: len(ready) == 2 * WORKERS + 2, 30, "the future clips")
    late = [ready[f"future-{k}"] - future_end for k in range(2 * WORKERS + 1)]
    assert max(late) < 2.0, late  # ready about a second after their windows closed
    assert 1 <= work.peak <= WORKERS
    for k in range(2 * WORKERS + 1):
        assert runtime.service.verify(f"future-{k}")


def test_jobs_waiting_for_a_dark_camera_hold_up_no_clip_whose_footage_is_there(
    service_for: Callable[..., tuple[Runtime, CpuWork]], tmp_path: Path
) -> None:
    runtime, work = service_for(
        CAMERA_CAM01_URL=DEMO,
        CAMERA_CAM02_URL=DEMO,
        PRE_EVENT_BUFFER_SECONDS="1",
        POST_EVENT_BUFFER_SECONDS="6",
        CLIP_DURATION_SECONDS="7",
        CAMERA_STALL_TIMEOUT_SECONDS="10",
        CAMERA_CONNECT_TIMEOUT_SECONDS="10",
    )
    ready = ready_times(runtime)
    wait_until(lambda: buffered(runtime, "cam01") > 9, 40, "9 s of footage")
    runtime.recorder.workers["cam02"].stop(15)  # cam02 goes dark
    now = time.time()
    dark = [f"dark-{k}" for k in range(3 * WORKERS + 1)]
    for event_id in dark:
        # Their builds wait for the window's end plus the grace for a silent camera (20 s).
        runtime.service.generate(Event(event_id, "cam02", "motion", at(now - 1)))

    def open_builds() -> int:
        return len([t for t in threading.enumerate() if t.name.startswith("clip_")])

    wait_until(lambda: open_builds() >= 2 * WORKERS, 15, "the dark builds to open")
    assert open_builds() <= WORKERS + 2 * WORKERS  # open builds are bounded

    asked = time.time()
    runtime.service.generate(Event("past", "cam01", "motion", at(asked - 8)))
    wait_until(lambda: "past" in ready, 20, "the past clip")
    assert ready["past"] - asked < 5
    assert not any(event_id in ready for event_id in dark)
    assert work.peak <= WORKERS

    started = time.monotonic()
    runtime.stop()
    assert time.monotonic() - started < 10  # waiting and queued builds are cancelled promptly
    jobs = JobStore(tmp_path / "state" / "jobs.sqlite3")
    try:
        for event_id in dark:
            job = jobs.get(event_id)
            assert job is not None and job.status is ClipStatus.PENDING, job
    finally:
        jobs.close()


def test_cpu_slots_go_to_the_earliest_deadline_and_waiting_gives_them_back() -> None:
    slots = CpuSlots(1)
    never = threading.Event()
    order: list[str] = []
    first = slots.claim(0.0, never)
    first.__enter__()

    def take(name: str, deadline: float) -> threading.Thread:
        def body() -> None:
            with slots.claim(deadline, never):
                order.append(name)

        thread = threading.Thread(target=body, name=f"claim-{name}")
        thread.start()
        return thread

    late = take("late", 20.0)
    wait_until(lambda: len(slots._queue) == 1, 5, "the late claim to queue")
    early = take("early", 10.0)
    wait_until(lambda: len(slots._queue) == 2, 5, "the early claim to queue")
    with first.waiting():  # the holder waits for footage: its slot goes to the earliest
        wait_until(lambda: order == ["early", "late"], 5, "both claims to run")
    assert first.held and slots.busy == 1
    first.__exit__(None, None, None)
    late.join(5)
    early.join(5)
    assert slots.busy == 0 and slots.peak == 1

    cancel = threading.Event()
    blocker = slots.claim(0.0, never)
    blocker.__enter__()
    failures: list[BaseException] = []

    def cancelled() -> None:
        try:
            with slots.claim(1.0, cancel):
                pass
        except ClipCancelled as exc:
            failures.append(exc)

    waiter = threading.Thread(target=cancelled)
    waiter.start()
    wait_until(lambda: len(slots._queue) == 1, 5, "the claim to queue")
    cancel.set()
    slots.wake()
    waiter.join(5)
    assert failures and not slots._queue
    blocker.__exit__(None, None, None)
    assert slots.busy == 0


def test_the_scheduler_starts_jobs_when_due_and_keeps_ready_jobs_apart_from_waiting_ones() -> None:
    started: dict[str, float] = {}
    release = threading.Event()

    def run(key: str) -> None:
        started[key] = time.time()
        release.wait(10)

    clock = WallClock()
    scheduler = ClipScheduler(run, workers=1, max_waiting=1, clock=clock)
    scheduler.start()
    try:
        now = clock.now()
        scheduler.add("waiting-1", now, lambda: False)
        scheduler.add("waiting-2", now, lambda: False)
        scheduler.add("later", now + 1.0, lambda: True)
        wait_until(lambda: "waiting-1" in started, 5, "the first waiting job")
        scheduler.add("ready", now, lambda: True)
        wait_until(lambda: "ready" in started, 5, "the ready job, beside the waiting one")
        assert "waiting-2" not in started  # one waiting build at a time
        assert scheduler.running == 2 and scheduler.queued == 2
        assert scheduler.hurry("waiting-2") and not scheduler.hurry("nothing")
        assert scheduler.discard("later") and scheduler.due_at("later") is None
        release.set()
        wait_until(lambda: "waiting-2" in started, 5, "the second waiting job")
        assert "later" not in started
        scheduler.add("soon", clock.now() + 0.6, lambda: True)
        wait_until(lambda: "soon" in started, 5, "the job due soon")
        assert started["soon"] >= now + 0.6 - 0.05
    finally:
        release.set()
        scheduler.stop()
    assert scheduler.running == 0
    scheduler.add("after-stop", clock.now(), lambda: True)
    assert scheduler.queued == 0


def test_a_future_event_is_queued_without_a_thread_and_shows_as_recording(
    service_for: Callable[..., tuple[Runtime, CpuWork]],
) -> None:
    runtime, _ = service_for(CAMERA_CAM01_URL=DEMO)
    threads_before = {t.name for t in threading.enumerate()}
    moment = datetime.now(UTC) + timedelta(minutes=20)
    for k in range(10):
        result = runtime.service.generate(Event(f"later-{k}", "cam01", "motion", moment))
        assert result.created
        job = runtime.service.job(f"later-{k}")
        assert job is not None and job.status is ClipStatus.RECORDING
    # Queued for shortly before their windows close, with no thread or codec open meanwhile.
    assert runtime.service._scheduler.queued == 10
    new_threads = {t.name for t in threading.enumerate()} - threads_before
    assert not [name for name in new_threads if name.startswith("clip_")]
