"""Clip jobs from events to stored clips: idempotent intake, build, store, catalogue, retention."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from vms_desktop.domain.clip import (
    ClipJob,
    ClipMeta,
    ClipStatus,
    Event,
)
from vms_desktop.domain.clip_query import ClipPage, ClipQuery
from vms_desktop.domain.errors import (
    ClipCancelled,
    ClipNotFoundError,
    NoFootageError,
    ServiceBusyError,
    StoreError,
    UnknownCameraError,
)
from vms_desktop.domain.store_state import ClipUrl
from vms_desktop.engine.clip_builder import ClipSpec
from vms_desktop.engine.clip_outcomes import (
    CleanupResult,
    GenerateResult,
    Outbox,
    built_clip_meta,
)
from vms_desktop.engine.clip_scheduler import ClipScheduler, CpuSlots
from vms_desktop.engine.clip_timing import ClipTiming, Failure, check_same_request, classify
from vms_desktop.engine.clock import SYSTEM_CLOCK, WallClock, to_datetime
from vms_desktop.engine.recorder import Recorder
from vms_desktop.storage.atomic import remove_unfinished_encodes
from vms_desktop.storage.base import ClipStore, stored_sha256
from vms_desktop.storage.clip_index import CatalogueListener, ClipIndex
from vms_desktop.storage.job_store import JobStore, RetryState

log = logging.getLogger(__name__)

JobListener = Callable[[ClipJob], None]

# Events further in the future than this are refused: a clock error, not an event.
MAX_FUTURE = timedelta(hours=1)
# How often a job's progress is written to the job store (the in-memory value is always fresh).
_PROGRESS_SAVE_STEP = 0.25
# Added to the reason of a job waiting for its next attempt.
_RETRYING = " (trying again)"


class ClipService:
    """Turns events into stored, catalogued clips; the one entry point for the API and GUI."""

    def __init__(
        self,
        recorder: Recorder,
        store: ClipStore,
        index: ClipIndex,
        jobs: JobStore,
        spec: ClipSpec,
        work_dir: Path,
        *,
        outbox: Outbox | None = None,
        workers: int = 4,
        max_waiting: int | None = None,
        max_pending: int = 200,
        retention_days: int | None = None,
        retention_interval: float = 3600.0,
        sync_interval: float = 60.0,
        clock: WallClock = SYSTEM_CLOCK,
    ) -> None:
        self.recorder = recorder
        self.store = store
        self.index = index
        self.jobs = jobs
        self.spec = spec
        self.work_dir = work_dir
        self.outbox = outbox
        self.max_pending = max_pending
        self.retention_days = retention_days
        self.retention_interval = retention_interval
        self.sync_interval = sync_interval
        self.clock = clock
        # How far the service's clock stands from the system's; a change of that distance is a
        # jump of the system clock (the service's own clock only ever moves monotonically).
        self._wall_offset = time.time() - clock.now()
        # At most `workers` builds use a CPU at once; a build waiting for footage holds none,
        # and jobs for future windows are queued until shortly before their windows close.
        self._slots = CpuSlots(workers)
        self._scheduler = ClipScheduler(
            self._run,
            workers=workers,
            max_waiting=max_waiting if max_waiting is not None else 2 * workers,
            clock=clock,
        )
        self._workers = workers
        self._timing = ClipTiming(recorder, spec, clock)
        self._lock = threading.RLock()
        self._live: dict[str, ClipJob] = {}  # unfinished jobs, freshest state
        self._cancels: dict[str, threading.Event] = {}
        self._listeners: list[JobListener] = []
        self._stop = threading.Event()
        self._maintainer = threading.Thread(
            target=self._maintain, name="clip-maintainer", daemon=True
        )
        self._deleted: set[str] = set()  # deleted in this run, so late results are dropped
        work_dir.mkdir(parents=True, exist_ok=True)

    # ---- life cycle ----------------------------------------------------------------------

    def start(self) -> None:
        """Resume unfinished jobs and start the catalogue sync and retention."""
        remove_unfinished_encodes(self.work_dir)
        for job in self.jobs.unfinished():
            self._resume(job)
        self._scheduler.start()
        self._maintainer.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop taking work, cancel running builds and record their state for the next start."""
        self._stop.set()
        with self._lock:
            for cancel in self._cancels.values():
                cancel.set()
        self._slots.wake()
        self._scheduler.stop()
        with self._lock:
            for job in self._live.values():
                if job.status in (ClipStatus.RECORDING, ClipStatus.ENCODING):
                    self.jobs.save(job.moved(ClipStatus.PENDING, progress=0.0))
        self._timing.unpin()
        if self._maintainer.is_alive():
            self._maintainer.join(timeout)

    def clock_stepped(self) -> None:
        """The wall clock jumped: builds waiting for a moment look at it again now."""
        self._scheduler.recheck()

    def add_listener(self, listener: JobListener) -> None:
        """Be told of every job change (called from worker threads)."""
        self._listeners.append(listener)

    # ---- intake --------------------------------------------------------------------------

    def generate(
        self,
        event: Event,
        *,
        pre_seconds: float | None = None,
        post_seconds: float | None = None,
    ) -> GenerateResult:
        """Accept an event: start its clip, or report the job/clip already made for it.

        ``pre_seconds`` and ``post_seconds`` choose the clip's window around the event (None:
        the configured side). A repeated event is the same request when the sides it names
        match the window it was accepted with.

        Raises :class:`UnknownCameraError`, :class:`EventConflictError`,
        :class:`ServiceBusyError`, ``NoFootageError`` (window entirely in the past with no
        footage) or ``ValueError`` (window out of bounds, timestamp too far in the future).
        """
        if self._stop.is_set():
            raise ServiceBusyError(retry_after=5)
        buffer = self.recorder.buffer(event.camera_id)  # UnknownCameraError
        window = self._timing.window_for(pre_seconds, post_seconds, buffer.retention_seconds)
        stored = self.index.get(event.id)
        if stored is not None:
            check_same_request(event, pre_seconds, post_seconds, stored)
            job = self.jobs.get(event.id)
            job = (
                self._timing.windowed(job)
                if job is not None
                else ClipJob(event, ClipStatus.READY, 1.0, window=stored.event_window)
            )
            return GenerateResult(job, created=False, meta=stored)
        with self._lock:
            existing = self._live.get(event.id) or self.jobs.get(event.id)
            if existing is not None:
                existing = self._timing.windowed(existing)
                check_same_request(event, pre_seconds, post_seconds, existing)
                if existing.status is ClipStatus.FAILED and self._may_retry(existing):
                    log.info("event %s repeated: retrying its failed clip", event.id)
                    return GenerateResult(self._retry_now(existing), created=False)
                if existing.status is ClipStatus.PENDING and existing.error:
                    self._scheduler.hurry(event.id)  # waiting to retry: try again now
                return GenerateResult(existing, created=False, meta=self.index.get(event.id))
            now = self.clock.now()
            moment = event.timestamp.timestamp()
            if moment - now > MAX_FUTURE.total_seconds():
                raise ValueError("timestamp is more than an hour in the future")
            start, end = window.bounds(event.timestamp)
            if end < now and not buffer.covering(start, end):
                raise NoFootageError(
                    f"camera {event.camera_id} has no footage between "
                    f"{to_datetime(start).isoformat()} and {to_datetime(end).isoformat()}"
                )
            if len(self._live) >= self.max_pending:
                raise ServiceBusyError(retry_after=self._drain_estimate())
            job, created = self.jobs.accept(event, window)
            job = self._timing.windowed(job)
            if not created:  # accepted by a racing request or another process meanwhile
                check_same_request(event, pre_seconds, post_seconds, job)
                return GenerateResult(job, created=False)
            self._schedule(job)
        log.info("event %s on %s at %s accepted", event.id, event.camera_id, event.timestamp)
        return GenerateResult(job, created=True)

    # ---- queries -------------------------------------------------------------------------

    def job(self, event_id: str) -> ClipJob | None:
        """The freshest state of the job for an event id, or None."""
        with self._lock:
            live = self._live.get(event_id)
        job = live or self.jobs.get(event_id)
        return self._timing.windowed(job) if job is not None else None

    def get(self, event_id: str) -> ClipMeta | None:
        """A stored clip's metadata (catalogue first, then the store)."""
        meta = self.index.get(event_id)
        if meta is None:
            try:
                meta = self.store.get(event_id)
            except StoreError:
                return None
            if meta is not None:
                self.index.upsert(meta)
        return meta

    def url(self, event_id: str, expires_in: timedelta) -> ClipUrl:
        """A time-limited URL for a ready clip; ``ClipNotFoundError`` if there is none."""
        if self.get(event_id) is None:
            raise ClipNotFoundError(event_id)
        return self.link(event_id, expires_in)

    def local_lookup(self, event_id: str) -> tuple[ClipMeta | None, ClipJob | None]:
        """The catalogued clip and the job for an event id, from local state only.

        Never asks the store, so it answers at local-disk speed however the store is doing.
        """
        meta = self.index.get(event_id)
        if meta is not None:
            return meta, None
        job = self.job(event_id)
        if job is not None and job.status is ClipStatus.READY:
            # Catalogued just after the first look: a clip is catalogued before its job turns
            # ready, so a second look finds it.
            return self.index.get(event_id), job
        return None, job

    def lookup_store(self, event_id: str) -> ClipMeta | None:
        """A clip's metadata from the store itself (a clip another instance stored), which is
        then catalogued; raises ``StoreError`` when the store cannot answer.
        """
        meta = self.store.get(event_id)
        if meta is not None:
            self.index.upsert(meta)
        return meta

    def link(self, event_id: str, expires_in: timedelta) -> ClipUrl:
        """A time-limited URL for a clip already found, without looking it up again.

        ``ClipNotFoundError`` if the store finds the clip gone while it signs the URL.
        """
        try:
            return self.store.url(event_id, expires_in)
        except FileNotFoundError:
            raise ClipNotFoundError(event_id) from None

    def clips(self, query: ClipQuery) -> ClipPage:
        """A page of the catalogue's clips that ``query`` asks for."""
        return self.index.list(query)

    def upload_queue(self) -> int:
        """Clips waiting for the remote store."""
        return self.outbox.depth if self.outbox is not None else 0

    def verify(self, event_id: str) -> bool:
        """Recompute a stored clip's SHA-256 and compare it with its metadata."""
        meta = self.get(event_id)
        if meta is None:
            raise ClipNotFoundError(event_id)
        return stored_sha256(self.store, event_id) == meta.sha256

    # ---- changes -------------------------------------------------------------------------

    def delete(self, event_id: str) -> bool:
        """Delete a clip (cancelling its job if one runs); True if anything was there."""
        with self._lock:
            cancel = self._cancels.pop(event_id, None)
            if cancel is not None:
                cancel.set()
                self._slots.wake()
            self._scheduler.discard(event_id)
            self._timing.unpin(event_id)
            live = self._live.pop(event_id, None)
            self._deleted.add(event_id)
            had_job = self.jobs.delete(event_id) or live is not None
        removed = self.store.delete(event_id)
        indexed = self.index.delete(event_id)
        return removed or indexed or had_job

    def cleanup(self, days_old: int) -> list[str]:
        """Delete clips stored more than ``days_old`` days ago; returns their event ids."""
        return self.delete_older_than(days_old).deleted

    def delete_older_than(self, days_old: int) -> CleanupResult:
        """Delete clips stored more than ``days_old`` days ago; returns their event ids and
        the cut-off, read once from the service's clock (nothing is deleted after a jump of
        the system clock, see below).
        """
        if days_old < 1:
            raise ValueError("days_old must be at least 1")
        now = self.clock.now()
        cutoff = to_datetime(now) - timedelta(days=days_old)
        drift = abs(time.time() - now - self._wall_offset)
        if drift > 3600:
            # The system clock moved by over an hour since start: a cut-off computed now could
            # wipe the whole catalogue, so nothing is deleted until the service restarts.
            log.warning("system clock jumped by %.0f s; clip cleanup skipped", drift)
            return CleanupResult([], cutoff)
        deleted: list[str] = []
        while True:
            batch = self.index.ids_older_than(cutoff, 500)
            batch = [event_id for event_id in batch if event_id not in deleted]
            if not batch:
                break
            for event_id in batch:
                try:
                    self.delete(event_id)
                except StoreError as exc:
                    log.warning("cleanup could not delete %s: %s", event_id, exc)
                    continue
                deleted.append(event_id)
            if len(batch) < 500:
                break
        if deleted:
            log.info("cleanup removed %d clips older than %d days", len(deleted), days_old)
        self.jobs.forget_finished_before(cutoff)
        return CleanupResult(deleted, cutoff)

    def _drain_estimate(self) -> int:
        """Seconds until the queue has room: waiting jobs over workers times a build's time."""
        return self._timing.drain_estimate(len(self._live), self._workers)

    # ---- jobs ----------------------------------------------------------------------------

    def _schedule(self, job: ClipJob, *, due: float | None = None, pin: bool = True) -> None:
        """Queue a job's build for ``due`` (UTC seconds), else for when its footage calls for it.

        Called with the lock held, so a racing delete either sees the job or never misses it.
        """
        event = job.event
        with self._lock:
            self._deleted.discard(event.id)
            self._cancels[event.id] = threading.Event()
            self._live[event.id] = job
            if pin:  # kept from pruning and eviction until its build has read it
                self._timing.pin(job)
            _, end = self._timing.window(job)
            if job.status is ClipStatus.PENDING and not job.error and end > self.clock.now():
                # Its post-event footage is being recorded, whether or not its build is open yet.
                self._update(job.moved(ClipStatus.RECORDING), persist=False)
        self._scheduler.add(
            event.id,
            self._timing.start_time(job) if due is None else due,
            lambda: self._timing.footage_complete(job),
        )

    def _resume(self, job: ClipJob) -> None:
        job = self._timing.windowed(job)
        stored = None
        with contextlib.suppress(StoreError):
            stored = self.store.get(job.event.id)
        if stored is not None:
            self.index.upsert(stored)
            self.jobs.save(job.moved(ClipStatus.READY, progress=1.0))
            return
        if self.outbox is not None and any(
            m.event_id == job.event.id for m in self.outbox.pending()
        ):
            uploading = job.moved(ClipStatus.UPLOADING, progress=1.0)
            with self._lock:
                self._live[job.event.id] = uploading
                self._cancels[job.event.id] = threading.Event()
            self.jobs.save(uploading)
            return
        log.info("resuming the clip for event %s", job.event.id)
        retry_at = self.jobs.retry_state(job.event.id).retry_at
        # A job waiting to retry keeps its reason and its time; it pins no footage, so an
        # outage that outlasts the buffer ends in a clear failure instead of a full disk.
        pending = job.moved(ClipStatus.PENDING, progress=0.0, error=job.error if retry_at else "")
        self.jobs.save(pending)
        self._schedule(
            pending,
            due=retry_at.timestamp() if retry_at is not None else None,
            pin=retry_at is None,
        )

    def _may_retry(self, job: ClipJob) -> bool:
        """Whether another attempt at a failed job could succeed."""
        final = self.jobs.retry_state(job.event.id).final
        return not final and self._timing.worth_retrying(job)

    def _retry_now(self, job: ClipJob) -> ClipJob:
        """Queue a failed job again (called with the lock held)."""
        attempts = self.jobs.retry_state(job.event.id).attempts
        self._deleted.discard(job.event.id)
        pending = job.moved(ClipStatus.PENDING, progress=0.0)
        self._update(pending, persist=True, retry=RetryState(attempts))
        self._schedule(pending)
        return pending

    def _run(self, event_id: str) -> None:
        with self._lock:
            job = self._live.get(event_id)
            cancel = self._cancels.get(event_id)
        if job is None or cancel is None or cancel.is_set():
            return
        try:
            self._build(job, cancel)
        finally:
            self._timing.unpin(event_id)  # the build pinned what it still needed itself

    def _build(self, job: ClipJob, cancel: threading.Event) -> None:
        event = job.event
        attempts = self.jobs.retry_state(event.id).attempts
        if attempts and not self._timing.footage_intact(job):
            self._failed(job, job.error.removesuffix(_RETRYING), Failure.CONDITION)
            return
        destination = self.work_dir / f"{event.id}.mp4"
        moment = event.timestamp.timestamp()
        _, window_end = self._timing.window(job)
        current = job
        saved_progress = 0.0

        def on_progress(fraction: float) -> None:
            nonlocal current, saved_progress
            status = ClipStatus.RECORDING if window_end > self.clock.now() else ClipStatus.ENCODING
            persist = (
                status is not current.status or fraction - saved_progress >= _PROGRESS_SAVE_STEP
            )
            if persist:
                saved_progress = fraction
            current = self._update(
                current.moved(status, progress=round(fraction, 3)), persist=persist
            )

        # Earliest deadline first: a window that has closed is due now, an open one at its end.
        claim = self._slots.claim(max(window_end, self.clock.now()), cancel)
        try:
            with claim:
                live = window_end > self.clock.now()
                current = self._update(
                    job.moved(ClipStatus.RECORDING if live else ClipStatus.ENCODING, progress=0.0),
                    persist=True,
                    retry=RetryState(attempts),
                )
                result = self.recorder.build_clip(
                    event.camera_id,
                    moment,
                    self._timing.spec_for(job),
                    destination,
                    progress=on_progress,
                    cancel=cancel,
                    while_waiting=claim.waiting,
                )
            self._timing.learn(result.duration, claim.busy_seconds)
            meta = built_clip_meta(
                event, self._timing.event_window(job), result, to_datetime(self.clock.now())
            )
            if cancel.is_set():
                raise ClipCancelled("cancelled")
            if self.outbox is not None:
                current = self._update(
                    current.moved(ClipStatus.UPLOADING, progress=1.0), persist=True
                )
                self.outbox.submit(meta, destination)
                return  # the outbox calls on_uploaded / on_upload_failed
            self.store.put(meta, destination)
            self._stored(meta)
        except ClipCancelled:
            destination.unlink(missing_ok=True)
            if not self._stop.is_set():
                log.info("clip for event %s cancelled", event.id)
        except Exception as exc:  # every failure is recorded: none leaves a job pending forever
            destination.unlink(missing_ok=True)
            cause, reason = classify(exc)
            if cause is Failure.BUG:
                log.exception("clip for event %s failed unexpectedly", event.id)
            self._failed(current, reason, cause)

    def _failed(self, job: ClipJob, reason: str, cause: Failure) -> None:
        """Record a failed attempt: queue the next one if its cause may clear, else fail.

        A job failed for a cause that may clear can still be retried by the same request.
        """
        event = job.event
        retry = self._timing.after_failure(job, self.jobs.retry_state(event.id).attempts + 1, cause)
        if retry.final and cause is not Failure.FINAL:
            reason = f"{reason}; its footage is no longer in the buffer"
        if retry.retry_at is None:
            log.warning("clip for event %s failed: %s", event.id, reason)
            self._update(job.moved(ClipStatus.FAILED, error=reason), persist=True, retry=retry)
            return
        due = retry.retry_at.timestamp()
        log.warning(
            "clip for event %s failed: %s; trying again in %.0f s",
            event.id,
            reason,
            due - self.clock.now(),
        )
        pending = job.moved(ClipStatus.PENDING, progress=0.0, error=reason + _RETRYING)
        self._update(pending, persist=True, retry=retry)
        self._scheduler.add(event.id, due, lambda: self._timing.footage_complete(job))

    def on_uploaded(self, meta: ClipMeta) -> None:
        """The outbox confirmed a clip is in the remote store."""
        self._stored(meta)

    def on_upload_failed(self, meta: ClipMeta, reason: str) -> None:
        """The outbox set a clip aside for good (different bytes stored, or a damaged file)."""
        job = self.job(meta.event_id)
        if job is not None:
            self._failed(job, reason, Failure.FINAL)

    def _stored(self, meta: ClipMeta) -> None:
        with self._lock:
            job = self._live.get(meta.event_id)
            deleted = meta.event_id in self._deleted
            if not deleted:
                self.index.upsert(meta)
        if deleted:
            # Deleted while it was being stored: finish the deletion.
            with contextlib.suppress(StoreError):
                self.store.delete(meta.event_id)
            return
        job = job or ClipJob(meta.event, ClipStatus.READY, window=meta.event_window)
        self._update(job.moved(ClipStatus.READY, progress=1.0), persist=True)
        log.info("clip for event %s ready (%d bytes)", meta.event_id, meta.size)

    def _update(self, job: ClipJob, *, persist: bool, retry: RetryState | None = None) -> ClipJob:
        with self._lock:
            if job.event.id in self._deleted:
                return job  # deleted meanwhile: do not bring it back
            if job.status.finished:
                self._live.pop(job.event.id, None)
                self._cancels.pop(job.event.id, None)
            else:
                self._live[job.event.id] = job
            if persist:
                self.jobs.save(job, retry)
        for listener in self._listeners:
            try:
                listener(job)
            except Exception:
                log.exception("clip job listener failed")
        return job

    # ---- maintenance ---------------------------------------------------------------------

    def sync_index(self) -> None:
        """Make the catalogue match the store (clips added or removed by other instances).

        The catalogue keeps changes made while the store's listing is read, so clips stored
        meanwhile are not dropped.
        """
        try:
            result = self.index.sync(self.store.iter_all())
        except StoreError as exc:
            log.warning("catalogue sync skipped: %s", exc)
            return
        if result.added or result.removed:
            log.info(
                "catalogue synced: %d added, %d updated, %d removed",
                result.added,
                result.updated,
                result.removed,
            )

    def _maintain(self) -> None:
        self.sync_index()
        next_sync = time.monotonic() + self.sync_interval
        next_retention = time.monotonic()
        while not self._stop.wait(1.0):
            now = time.monotonic()
            if now >= next_sync:
                self.sync_index()
                next_sync = now + self.sync_interval
            if self.retention_days and now >= next_retention:
                try:
                    self.cleanup(self.retention_days)
                except StoreError as exc:
                    log.warning("retention cleanup failed: %s", exc)
                next_retention = now + self.retention_interval

    def watch_catalogue(self, listener: CatalogueListener) -> Callable[[], None]:
        """Be told of every committed catalogue change: clips stored, replaced, deleted, or
        found added or gone by a sync (called on the writing thread). Returns the unsubscribe.
        """
        self.index.add_listener(listener)
        return lambda: self.index.remove_listener(listener)


__all__ = [
    "CleanupResult",
    "ClipService",
    "GenerateResult",
    "NoFootageError",
    "Outbox",
    "UnknownCameraError",
]
