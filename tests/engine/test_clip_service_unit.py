"""ClipService on a manual clock: intake, waiting for footage, retries, links, deletion, listing.

The store, catalogue and job store are the real ones on a temporary folder; only the recorder
is a stand-in (footage that grows with the clock, clips "cut" as a few bytes), so every test
runs in a fraction of a second and time passes only when a test moves the clock.
"""

from __future__ import annotations

import errno
import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.support.clocks import ManualClock
from tests.support.factories import clip_record
from tests.support.waiting import wait_until
from vms_desktop.domain.clip import (
    ClipJob,
    ClipMeta,
    ClipStatus,
    Event,
    EventWindow,
    InvalidEventError,
)
from vms_desktop.domain.clip_query import ClipQuery
from vms_desktop.domain.errors import (
    ClipCancelled,
    ClipNotFoundError,
    EventConflictError,
    NoFootageError,
    ServiceBusyError,
    UnknownCameraError,
)
from vms_desktop.engine.clip_builder import ClipResult, ClipSpec
from vms_desktop.engine.clip_service import ClipService
from vms_desktop.engine.clock import to_datetime
from vms_desktop.engine.recorder import RecorderOptions
from vms_desktop.storage.clip_index import ClipIndex
from vms_desktop.storage.job_store import JobStore
from vms_desktop.storage.local_store import LocalClipStore
from vms_desktop.storage.signing import UrlSigner

# The clock's reading when each test starts: a fixed moment, whole seconds.
NOW = 1_780_000_000.0
# A window of 4 s before and 6 s after the event: a build for an event at NOW opens at once
# (its footage is read as it is recorded) and one for an event later opens at its moment.
SPEC = ClipSpec(pre_seconds=4, post_seconds=6)
# Each camera has recorded since this moment.
RECORDED_FROM = NOW - 120


class Footage:
    """One camera's buffer as the service sees it: footage from ``oldest`` up to the clock."""

    def __init__(self, camera_id: str, clock: ManualClock) -> None:
        self.camera_id = camera_id
        self.clock = clock
        self.retention_seconds = 600.0
        self.oldest = RECORDED_FROM
        self.dark_from: float | None = None  # the camera stopped sending then
        self.evicted_until = float("-inf")
        self.pins: dict[int, float] = {}
        self._tokens = 0

    @property
    def newest(self) -> float:
        now = self.clock.now()
        return now if self.dark_from is None else min(now, self.dark_from)

    def covering(self, start: float, end: float) -> list[tuple[float, float]]:
        if self.oldest >= end or self.newest <= start:
            return []
        return [(max(start, self.oldest), min(end, self.newest))]

    def pin(self, start: float) -> int:
        self._tokens += 1
        self.pins[self._tokens] = start
        return self._tokens

    def unpin(self, token: int) -> None:
        self.pins.pop(token, None)

    def evict_until(self, moment: float) -> None:
        """Remove the footage before ``moment`` (retention or lack of space would)."""
        self.oldest = moment
        self.evicted_until = moment

    def keeps(self, start: float, end: float) -> bool:
        """No span is protected here: nothing is kept past its age."""
        return False


class BenchRecorder:
    """The recorder's face to the clip service; its builds wait for the clock, not for a camera."""

    wait_grace = 5.0
    options = RecorderOptions(buffer_root=Path("unused"), retention_seconds=600.0)

    def __init__(self, clock: ManualClock, cameras: tuple[str, ...] = ("cam01", "cam02")) -> None:
        self.clock = clock
        self.buffers = {camera_id: Footage(camera_id, clock) for camera_id in cameras}
        self.failures: list[Exception] = []  # raised by the next builds, one each
        self.started: list[str] = []  # the event id of every build, in order
        self.waiting: set[str] = set()  # builds waiting for their window to close
        self.cancelled: list[str] = []
        self._lock = threading.Lock()

    def buffer(self, camera_id: str) -> Footage:
        try:
            return self.buffers[camera_id]
        except KeyError:
            raise UnknownCameraError(camera_id) from None

    def build_clip(
        self,
        camera_id: str,
        event_time: float,
        spec: ClipSpec,
        destination: Path,
        *,
        progress: Callable[[float], None] | None = None,
        cancel: threading.Event | None = None,
        while_waiting: Callable[[], AbstractContextManager[object]] | None = None,
    ) -> ClipResult:
        event_id = destination.stem
        with self._lock:
            self.started.append(event_id)
            failure = self.failures.pop(0) if self.failures else None
        if failure is not None:
            raise failure
        start, end = event_time - spec.pre_seconds, event_time + spec.post_seconds
        if progress is not None:
            progress(0.5)
        if self.clock.now() < end:
            assert while_waiting is not None, "a build waiting for footage gives its CPU back"
            with while_waiting():
                self.waiting.add(event_id)
                try:
                    arrived = self.clock.wait_for(end, cancel, timeout=10)
                finally:
                    self.waiting.discard(event_id)
            if not arrived:
                if cancel is None or not cancel.is_set():
                    raise RuntimeError("the clock never reached the window's end")
                self.cancelled.append(event_id)
                raise ClipCancelled("cancelled")
        if not self.buffer(camera_id).covering(start, end):
            raise NoFootageError(f"camera {camera_id} has no footage for that window")
        data = f"{camera_id} {event_time:.3f} ".encode() * 50
        destination.write_bytes(data)
        if progress is not None:
            progress(1.0)
        return ClipResult(
            path=destination,
            camera_id=camera_id,
            event_time=event_time,
            start=start,
            end=end,
            fps=spec.fps,
            width=spec.width,
            height=spec.height,
            frames=spec.frame_count,
            duration=end - start,
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            has_audio=False,
            source_width=spec.width,
            source_height=spec.height,
        )


@dataclass
class Bench:
    """A started clip service on a manual clock, and everything it was built from."""

    clock: ManualClock
    recorder: BenchRecorder
    store: LocalClipStore
    index: ClipIndex
    jobs: JobStore
    work_dir: Path
    options: dict[str, Any]
    service: ClipService

    def new_service(self) -> ClipService:
        """A service on the same clock, recorder, store and state (as after a restart)."""
        service = ClipService(
            self.recorder,  # type: ignore[arg-type]
            self.store,
            self.index,
            self.jobs,
            SPEC,
            self.work_dir,
            clock=self.clock,
            sync_interval=3600.0,
            **self.options,
        )
        # The dispatcher sleeps in real seconds reckoned from the clock: a move must wake it.
        self.clock.on_move(lambda: _wake_dispatcher(service))
        service.start()
        self.service = service
        return service

    def job(self, event_id: str) -> ClipJob:
        job = self.service.job(event_id)
        assert job is not None, event_id
        return job

    def wait_status(self, event_id: str, status: ClipStatus) -> ClipJob:
        wait_until(lambda: self.job(event_id).status is status, 5, f"{event_id} {status}")
        return self.job(event_id)


def _wake_dispatcher(service: ClipService) -> None:
    service.clock_stepped()


def event(event_id: str, offset: float, camera_id: str = "cam01") -> Event:
    """An event ``offset`` seconds after the clock's start."""
    return Event(event_id, camera_id, "motion", to_datetime(NOW + offset))


@pytest.fixture
def make_bench(tmp_path: Path) -> Iterator[Callable[..., Bench]]:
    """Makes a started service (``ClipService`` keyword options); stops it after the test."""
    made: list[Bench] = []

    def make(**options: Any) -> Bench:
        clock = ManualClock(NOW)
        signer = UrlSigner(b"k" * 32)
        bench = Bench(
            clock=clock,
            recorder=BenchRecorder(clock),
            store=LocalClipStore(tmp_path / "clips", "http://127.0.0.1:8000/clips", signer),
            index=ClipIndex(tmp_path / "catalogue.sqlite3"),
            jobs=JobStore(tmp_path / "jobs.sqlite3"),
            work_dir=tmp_path / "work",
            options={"workers": 2, **options},
            service=None,  # type: ignore[arg-type]
        )
        bench.new_service()
        made.append(bench)
        return bench

    yield make
    for bench in made:
        bench.service.stop(5)
        bench.index.close()
        bench.jobs.close()


@pytest.fixture
def bench(make_bench: Callable[..., Bench]) -> Bench:
    return make_bench()


# ---- intake ------------------------------------------------------------------------------


def test_a_new_event_becomes_a_stored_catalogued_verified_clip(bench: Bench) -> None:
    result = bench.service.generate(event("e1", -20))
    assert result.created and result.job.status is ClipStatus.PENDING

    bench.wait_status("e1", ClipStatus.READY)
    meta = bench.service.get("e1")
    assert meta is not None and meta.event == event("e1", -20)
    assert meta.window_start == to_datetime(NOW - 24) and meta.window_end == to_datetime(NOW - 14)
    assert bench.store.get("e1") == meta and bench.index.get("e1") == meta
    assert bench.service.verify("e1")
    assert bench.recorder.started == ["e1"]
    assert bench.jobs.get("e1") is not None
    assert not bench.recorder.buffers["cam01"].pins  # the footage is free to go
    assert not list(bench.work_dir.iterdir())


def test_a_repeated_event_is_answered_with_its_job_and_then_its_clip(bench: Bench) -> None:
    first = bench.service.generate(event("e1", 30))  # queued until its moment
    again = bench.service.generate(event("e1", 30))
    assert first.created and not again.created
    assert again.job.event == first.job.event and again.job.status is ClipStatus.RECORDING

    bench.clock.advance(40)
    bench.wait_status("e1", ClipStatus.READY)
    stored = bench.service.generate(event("e1", 30))
    assert not stored.created and stored.job.status is ClipStatus.READY
    assert stored.meta == bench.service.get("e1")
    assert bench.recorder.started == ["e1"]  # built once


def test_an_event_id_taken_by_a_different_event_is_a_conflict(bench: Bench) -> None:
    bench.service.generate(event("e1", 30))
    with pytest.raises(EventConflictError):
        bench.service.generate(event("e1", 31))  # another moment, while its job waits
    bench.clock.advance(40)
    bench.wait_status("e1", ClipStatus.READY)
    with pytest.raises(EventConflictError):
        bench.service.generate(event("e1", 30, camera_id="cam02"))  # once its clip is stored
    assert bench.recorder.started == ["e1"]


def test_events_that_cannot_be_made_are_refused_and_leave_nothing(bench: Bench) -> None:
    with pytest.raises(UnknownCameraError):
        bench.service.generate(event("e1", -20, camera_id="cam09"))
    with pytest.raises(ValueError, match="future"):
        bench.service.generate(event("e2", 3601))
    with pytest.raises(NoFootageError):
        bench.service.generate(event("e3", -200))  # before the buffer's oldest footage
    for event_id in ("e1", "e2", "e3"):
        assert bench.service.job(event_id) is None and bench.jobs.get(event_id) is None
    bench.service.generate(event("e4", 3599))  # just within the hour


def test_a_full_queue_answers_busy_with_a_time_to_come_back(
    make_bench: Callable[..., Bench],
) -> None:
    bench = make_bench(max_pending=2)
    bench.service.generate(event("e1", 600))
    bench.service.generate(event("e2", 600))
    with pytest.raises(ServiceBusyError) as busy:
        bench.service.generate(event("e3", -20))
    # Two waiting jobs over two workers, a build taking a quarter of its 10 s window.
    assert busy.value.retry_after == 3
    assert bench.jobs.get("e3") is None
    bench.service.generate(event("e1", 600))  # a repeat takes no room
    bench.service.stop(5)
    with pytest.raises(ServiceBusyError) as stopping:
        bench.service.generate(event("e4", -20))
    assert stopping.value.retry_after == 5


def test_an_event_with_its_own_window_waits_for_it_and_is_built_with_it(bench: Bench) -> None:
    result = bench.service.generate(event("w1", -1), pre_seconds=1.0, post_seconds=20.0)
    assert result.created and result.job.window == EventWindow(1.0, 20.0)
    assert list(bench.recorder.buffers["cam01"].pins.values()) == [NOW - 2]  # its own start
    bench.wait_status("w1", ClipStatus.RECORDING)
    bench.clock.advance(12)  # the configured window would have closed long ago
    time.sleep(0.3)
    assert bench.job("w1").status is not ClipStatus.READY
    bench.clock.advance(10)
    bench.wait_status("w1", ClipStatus.READY)
    meta = bench.service.get("w1")
    assert meta is not None and meta.event_window == EventWindow(1.0, 20.0)
    assert (meta.window_start, meta.window_end) == (to_datetime(NOW - 2), to_datetime(NOW + 19))
    assert bench.service.generate(event("w1", -1), post_seconds=20.0).job.status is (
        ClipStatus.READY
    )
    with pytest.raises(EventConflictError, match="window"):
        bench.service.generate(event("w1", -1), pre_seconds=4.0)
    with pytest.raises(InvalidEventError, match="pre_event_seconds must be at most 570"):
        bench.service.generate(event("w2", -1), pre_seconds=600.0)
    # The bound is the camera's own retention.
    bench.recorder.buffers["cam01"].retention_seconds = 100.0
    with pytest.raises(InvalidEventError, match="pre_event_seconds must be at most 70"):
        bench.service.generate(event("w3", -1), pre_seconds=80.0)
    assert bench.recorder.started == ["w1"]


# ---- waiting for footage -----------------------------------------------------------------


def test_a_window_still_open_is_recorded_first_and_the_clip_made_once_it_closes(
    bench: Bench,
) -> None:
    seen: list[str] = []
    bench.service.add_listener(lambda job: seen.append(job.status.value))
    bench.service.generate(event("e1", 0))  # its window closes at NOW + 6
    wait_until(lambda: "e1" in bench.recorder.waiting, 5, "the build to wait for footage")
    job = bench.job("e1")
    assert job.status is ClipStatus.RECORDING and job.progress == 0.5
    assert bench.service.get("e1") is None

    bench.clock.advance(6)
    bench.wait_status("e1", ClipStatus.READY)
    meta = bench.service.get("e1")
    assert meta is not None and meta.created_at >= meta.window_end
    assert [s for i, s in enumerate(seen) if i == 0 or seen[i - 1] != s] == [
        "recording",
        "encoding",
        "ready",
    ]


def test_a_build_waiting_for_footage_holds_no_cpu_slot(make_bench: Callable[..., Bench]) -> None:
    bench = make_bench(workers=1)
    bench.service.generate(event("open", 0))
    wait_until(lambda: "open" in bench.recorder.waiting, 5, "the build to wait for footage")
    bench.service.generate(event("past", -20))
    bench.wait_status("past", ClipStatus.READY)  # the one worker built it meanwhile
    assert bench.job("open").status is ClipStatus.RECORDING


def test_a_future_window_is_queued_and_opened_at_its_moment(bench: Bench) -> None:
    bench.service.generate(event("later", 60))
    job = bench.job("later")
    assert job.status is ClipStatus.RECORDING and bench.recorder.started == []
    assert bench.service._scheduler.due_at("later") == NOW + 60

    bench.clock.advance(59.5)
    # A build due now goes out in the same pass that would open "later" if it were due.
    bench.service.generate(event("probe", -20))
    bench.wait_status("probe", ClipStatus.READY)
    assert bench.recorder.started == ["probe"]

    bench.clock.advance(0.5)
    wait_until(lambda: "later" in bench.recorder.waiting, 5, "the build to open")
    assert bench.service.get("later") is None
    bench.clock.advance(6)
    bench.wait_status("later", ClipStatus.READY)


def test_a_stop_keeps_an_open_job_for_the_next_start(bench: Bench) -> None:
    bench.service.generate(event("e1", 0))
    wait_until(lambda: "e1" in bench.recorder.waiting, 5, "the build to wait for footage")
    bench.service.stop(5)
    assert bench.recorder.cancelled == ["e1"]
    kept = bench.jobs.get("e1")
    assert kept is not None and kept.status is ClipStatus.PENDING

    bench.new_service()
    wait_until(lambda: "e1" in bench.recorder.waiting, 5, "the resumed build")
    bench.clock.advance(6)
    bench.wait_status("e1", ClipStatus.READY)


# ---- failures ----------------------------------------------------------------------------


def disk_full() -> OSError:
    return OSError(errno.ENOSPC, "No space left on device")


def test_a_failure_that_may_clear_is_retried_after_a_growing_delay(bench: Bench) -> None:
    bench.recorder.failures = [disk_full(), disk_full()]
    bench.service.generate(event("e1", -20))
    wait_until(lambda: bench.jobs.retry_state("e1").attempts == 1, 5, "a failed attempt")
    job = bench.job("e1")
    assert job.status is ClipStatus.PENDING
    assert "could not be written (disk full)" in job.error and job.error.endswith("(trying again)")
    assert bench.jobs.retry_state("e1").retry_at == to_datetime(NOW + 2)

    bench.clock.advance(2)
    wait_until(lambda: bench.jobs.retry_state("e1").attempts == 2, 5, "a second attempt")
    assert bench.jobs.retry_state("e1").retry_at == to_datetime(NOW + 2 + 4)
    bench.clock.advance(3.9)
    bench.service.generate(event("probe", -30))  # a dispatch pass after the clock moved
    bench.wait_status("probe", ClipStatus.READY)
    assert bench.recorder.started == ["e1", "e1", "probe"]
    bench.clock.advance(0.1)
    job = bench.wait_status("e1", ClipStatus.READY)
    assert job.error == "" and bench.service.verify("e1")


def test_a_repeated_request_retries_a_waiting_job_at_once(bench: Bench) -> None:
    bench.recorder.failures = [disk_full()]
    bench.service.generate(event("e1", -20))
    wait_until(lambda: bench.jobs.retry_state("e1").attempts == 1, 5, "a failed attempt")
    again = bench.service.generate(event("e1", -20))
    assert not again.created and again.job.status is ClipStatus.PENDING
    bench.wait_status("e1", ClipStatus.READY)  # the clock never moved


def test_an_unexplained_failure_is_tried_three_times_and_again_on_request(bench: Bench) -> None:
    bench.recorder.failures = [RuntimeError("bug"), RuntimeError("bug"), RuntimeError("bug")]
    bench.service.generate(event("e1", -20))
    for attempts, delay in ((1, 2), (2, 4)):
        wait_until(lambda n=attempts: bench.jobs.retry_state("e1").attempts == n, 5, "a failure")
        bench.clock.advance(delay)
    job = bench.wait_status("e1", ClipStatus.FAILED)
    assert job.error == "internal error"
    state = bench.jobs.retry_state("e1")
    assert state.attempts == 3 and not state.final and state.retry_at is None

    again = bench.service.generate(event("e1", -20))  # its footage is still there
    assert not again.created and again.job.status is ClipStatus.PENDING
    bench.wait_status("e1", ClipStatus.READY)
    assert bench.recorder.started == ["e1"] * 4


def test_a_window_without_footage_fails_for_good(bench: Bench) -> None:
    bench.recorder.buffers["cam01"].dark_from = NOW  # the camera stops sending now
    bench.service.generate(event("e1", 10))
    bench.clock.advance(16)
    job = bench.wait_status("e1", ClipStatus.FAILED)
    assert "no footage" in job.error
    assert bench.jobs.retry_state("e1").final
    again = bench.service.generate(event("e1", 10))
    assert not again.created and again.job.status is ClipStatus.FAILED
    assert bench.recorder.started == ["e1"]
    assert bench.service.get("e1") is None and not list(bench.work_dir.iterdir())


def test_a_retry_gives_up_once_the_footage_has_left_the_buffer(bench: Bench) -> None:
    bench.recorder.failures = [disk_full()]
    bench.service.generate(event("e1", -20))
    wait_until(lambda: bench.jobs.retry_state("e1").attempts == 1, 5, "a failed attempt")
    bench.recorder.buffers["cam01"].evict_until(NOW - 23)  # a second into the window
    bench.clock.advance(2)
    job = bench.wait_status("e1", ClipStatus.FAILED)
    assert job.error == (
        "the clip could not be written (disk full); its footage is no longer in the buffer"
    )
    assert bench.jobs.retry_state("e1").final
    assert bench.recorder.started == ["e1"]  # the retry saw the loss and built nothing
    assert not bench.service.generate(event("e1", -20)).created
    assert bench.job("e1").status is ClipStatus.FAILED


# ---- stored clips ------------------------------------------------------------------------


def ready_clip(bench: Bench, event_id: str, offset: float = -20) -> None:
    bench.service.generate(event(event_id, offset))
    bench.wait_status(event_id, ClipStatus.READY)


def test_links_point_at_stored_clips_only(bench: Bench) -> None:
    ready_clip(bench, "e1")
    link = bench.service.url("e1", timedelta(minutes=10))
    assert "/clips/" in link.url and "e1" in link.url
    again = bench.service.link("e1", timedelta(minutes=10))
    assert again.url.split("?")[0] == link.url.split("?")[0]
    with pytest.raises(ClipNotFoundError):
        bench.service.url("nothing", timedelta(minutes=10))
    with pytest.raises(ClipNotFoundError):
        bench.service.link("nothing", timedelta(minutes=10))


def test_get_falls_back_to_the_store_and_catalogues_what_it_finds(bench: Bench) -> None:
    ready_clip(bench, "e1")
    stored = bench.store.get("e1")
    assert bench.index.delete("e1") and bench.index.get("e1") is None
    meta, job = bench.service.local_lookup("e1")
    assert meta is None and job is not None
    assert bench.service.get("e1") == stored
    assert bench.index.get("e1") == stored
    assert bench.service.get("nothing") is None


def test_a_lookup_racing_the_catalogue_write_still_finds_the_clip(
    bench: Bench, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The first catalogue read lands just before the clip is catalogued and its job turns
    # ready: the lookup must not send the caller to the (maybe unreachable) store.
    ready_clip(bench, "e1")
    real_get = bench.index.get
    reads: list[str] = []

    def get_racing(event_id: str) -> ClipMeta | None:
        reads.append(event_id)
        return None if len(reads) == 1 else real_get(event_id)

    monkeypatch.setattr(bench.index, "get", get_racing)
    meta, _ = bench.service.local_lookup("e1")
    assert meta is not None and meta.event_id == "e1"


def test_verify_detects_a_changed_byte(bench: Bench) -> None:
    ready_clip(bench, "e1")
    assert bench.service.verify("e1")
    path = bench.store.path_of("e1")
    assert path is not None
    data = bytearray(path.read_bytes())
    data[7] ^= 1
    path.write_bytes(bytes(data))
    assert not bench.service.verify("e1")
    with pytest.raises(ClipNotFoundError):
        bench.service.verify("nothing")


def test_delete_removes_the_clip_its_record_and_its_job(bench: Bench) -> None:
    ready_clip(bench, "e1")
    assert bench.service.delete("e1")
    assert bench.store.get("e1") is None and bench.index.get("e1") is None
    assert bench.service.job("e1") is None and bench.jobs.get("e1") is None
    assert not bench.service.delete("e1")


def test_delete_cancels_a_build_waiting_for_footage(bench: Bench) -> None:
    bench.service.generate(event("e1", 0))
    wait_until(lambda: "e1" in bench.recorder.waiting, 5, "the build to wait for footage")
    assert bench.service.delete("e1")
    wait_until(lambda: bench.recorder.cancelled == ["e1"], 5, "the build to stop")
    assert bench.service.job("e1") is None and bench.jobs.get("e1") is None
    bench.clock.advance(10)
    bench.service.generate(event("probe", -20))  # the dispatcher had its chance
    bench.wait_status("probe", ClipStatus.READY)
    assert bench.store.get("e1") is None and bench.index.get("e1") is None
    assert not bench.recorder.buffers["cam01"].pins


def catalogue_clip(bench: Bench, event_id: str, age: timedelta) -> None:
    """A clip catalogued ``age`` before the clock's reading (cleanup reads the catalogue)."""
    made = to_datetime(NOW) - age
    bench.index.upsert(clip_record(event_id, at=made, created_at=made))


def test_cleanup_deletes_clips_older_than_the_cut_off_by_the_service_clock(
    bench: Bench, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalogue_clip(bench, "old", timedelta(days=3))
    catalogue_clip(bench, "young", timedelta(days=1))
    with pytest.raises(ValueError):
        bench.service.cleanup(0)
    assert bench.service.cleanup(2) == ["old"]
    assert bench.index.get("old") is None and bench.index.get("young") is not None

    catalogue_clip(bench, "older", timedelta(days=3))
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 86400)  # the system clock jumps a day
    assert bench.service.cleanup(2) == []
    assert bench.index.get("older") is not None


def test_listing_answers_a_clip_query_from_the_catalogue(bench: Bench) -> None:
    moment = to_datetime(NOW)
    for k, camera_id in enumerate(("cam01", "cam02", "cam02", "cam01")):
        at = moment - timedelta(minutes=k)
        bench.index.upsert(clip_record(f"e{k}", camera_id=camera_id, at=at))
    page = bench.service.clips(ClipQuery(camera_id="cam02", limit=1))
    assert [clip.event_id for clip in page.items] == ["e1"] and page.total == 2
    oldest_first = bench.service.clips(ClipQuery(newest_first=False, limit=2, offset=1))
    assert [clip.event_id for clip in oldest_first.items] == ["e2", "e1"]
    assert oldest_first.total == 4
    assert bench.service.clips(ClipQuery(text="E3")).total == 1
