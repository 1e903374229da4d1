"""When clip builds start, whether their footage is there and kept, and when failures retry."""

from __future__ import annotations

import enum
import math
import threading
from dataclasses import replace

from vms_desktop.domain.clip import ClipJob, ClipMeta, Event, EventWindow, InvalidEventError
from vms_desktop.domain.errors import (
    ClipError,
    ClipExistsError,
    EventConflictError,
    NoFootageError,
    StoreError,
    UnknownCameraError,
)
from vms_desktop.engine.clip_builder import ClipSpec
from vms_desktop.engine.clock import WallClock, to_datetime
from vms_desktop.engine.recorder import Recorder
from vms_desktop.engine.segment_buffer import SegmentBuffer
from vms_desktop.settings.values import BUFFER_MARGIN_SECONDS
from vms_desktop.storage.atomic import reason as io_reason
from vms_desktop.storage.job_store import RetryState

# Seconds of clip encoded per second of a CPU slot, assumed until builds have been measured.
DEFAULT_ENCODE_SPEED = 2.0
# Share of the measured speed counted on when choosing when to open a build for a future window.
SPEED_SAFETY = 0.5
# Opened earlier still by this many seconds: start-up of demuxer and encoder, scheduling.
START_MARGIN = 1.0
# Automatic retries of a failure that may clear: the first after this many seconds, doubling.
RETRY_FIRST = 2.0
RETRY_MAX = 60.0
# An unexplained failure (a bug) is tried this many times in all before its job fails.
BUG_ATTEMPTS = 3


class Failure(enum.Enum):
    """Whether a failed build may succeed when tried again."""

    FINAL = "final"  # cannot change (no footage for a past window): never retried
    CONDITION = "condition"  # disk full, read-only or failing folder, store down: retried
    BUG = "bug"  # unexplained: retried a few times


def classify(exc: Exception) -> tuple[Failure, str]:
    """Whether a build's failure may clear, and its reason in words safe to show."""
    if isinstance(exc, NoFootageError | ClipExistsError):
        return Failure.FINAL, str(exc)
    if isinstance(exc, UnknownCameraError):
        return Failure.FINAL, f"camera {exc.args[0] if exc.args else ''} is not configured"
    if isinstance(exc, ClipError | StoreError):
        return Failure.CONDITION, str(exc)
    if isinstance(exc, OSError):
        return Failure.CONDITION, f"the clip could not be written ({io_reason(exc)})"
    return Failure.BUG, "internal error"


def check_same_request(
    event: Event, pre_seconds: float | None, post_seconds: float | None, kept: ClipJob | ClipMeta
) -> None:
    """Raise :class:`EventConflictError` unless a repeated event, and the window sides it names,
    are those its job (with its window said) or clip was made with.
    """
    kept_window = kept.event_window if isinstance(kept, ClipMeta) else kept.window
    assert kept_window is not None
    if not kept.event.same_as(event):
        raise EventConflictError(f"event id {event.id} is used by a different event")
    if not kept_window.agrees(pre_seconds, post_seconds):
        raise EventConflictError(
            f"event id {event.id} was accepted with another window "
            f"(pre_event_seconds {kept_window.pre_seconds:g}, "
            f"post_event_seconds {kept_window.post_seconds:g})"
        )


def retry_delay(attempts: int) -> float:
    """Seconds before the next automatic attempt after ``attempts`` failed ones."""
    return float(min(RETRY_MAX, RETRY_FIRST * 2 ** max(0, attempts - 1)))


class ClipTiming:
    """Times clip jobs against their cameras' buffers and the encode speed measured so far,
    and keeps the footage of queued jobs from being pruned or evicted before they read it.
    """

    def __init__(self, recorder: Recorder, spec: ClipSpec, clock: WallClock) -> None:
        self.recorder = recorder
        self.spec = spec
        self.clock = clock
        self.encode_speed = DEFAULT_ENCODE_SPEED  # seconds of clip per second of a CPU slot
        self.build_seconds = 0.0  # moving average of a build's CPU-slot time
        self._pins: dict[str, tuple[SegmentBuffer, int]] = {}
        self._pins_lock = threading.Lock()

    @property
    def default_window(self) -> EventWindow:
        """The configured window, for events that do not choose their own."""
        return EventWindow(self.spec.pre_seconds, self.spec.post_seconds)

    def window_for(
        self,
        pre_seconds: float | None = None,
        post_seconds: float | None = None,
        retention: float | None = None,
    ) -> EventWindow:
        """The window of a clip whose event asks for these seconds (None: the configured side).

        Raises :class:`InvalidEventError` naming the field when the window is out of bounds,
        or starts earlier than the buffer keeps footage for.
        """
        default = self.default_window
        window = EventWindow(
            default.pre_seconds if pre_seconds is None else pre_seconds,
            default.post_seconds if post_seconds is None else post_seconds,
        )
        if pre_seconds is None:
            return window
        # The bound the settings put on the configured window: late events need the margin.
        # ``retention`` is the camera's own (default: the one for cameras not named).
        if retention is None:
            retention = self.recorder.options.retention_seconds
        kept = max(0.0, retention - BUFFER_MARGIN_SECONDS)
        if window.pre_seconds > kept:
            raise InvalidEventError(
                f"pre_event_seconds must be at most {kept:g}: the buffer keeps {retention:g} "
                f"seconds of footage, {BUFFER_MARGIN_SECONDS:g} of them for events posted late"
            )
        return window

    def event_window(self, job: ClipJob) -> EventWindow:
        """The window a job's clip covers: its own, else the configured one."""
        return job.window if job.window is not None else self.default_window

    def windowed(self, job: ClipJob) -> ClipJob:
        """The job with its window said (one accepted before windows were chosen per event
        has the configured window).
        """
        return job if job.window is not None else replace(job, window=self.default_window)

    def spec_for(self, job: ClipJob) -> ClipSpec:
        """The clip format with the job's window."""
        window = self.event_window(job)
        return replace(self.spec, pre_seconds=window.pre_seconds, post_seconds=window.post_seconds)

    def pin(self, job: ClipJob) -> None:
        """Keep the job's window in its buffer until :meth:`unpin`."""
        event = job.event
        buffer = self.recorder.buffers.get(event.camera_id)
        with self._pins_lock:
            if buffer is not None and event.id not in self._pins:
                start, _ = self.window(job)
                self._pins[event.id] = (buffer, buffer.pin(start))

    def unpin(self, event_id: str | None = None) -> None:
        """Release the footage kept for one event (every event when None)."""
        with self._pins_lock:
            ids = list(self._pins) if event_id is None else [event_id]
            held = [self._pins.pop(key) for key in ids if key in self._pins]
        for buffer, token in held:
            buffer.unpin(token)

    def window(self, job: ClipJob) -> tuple[float, float]:
        """The job's clip window, UTC seconds."""
        return self.event_window(job).bounds(job.event.timestamp)

    def start_time(self, job: ClipJob) -> float:
        """When to open a job's build (UTC seconds; in the past means now).

        A build opened ``lead`` seconds before its window closes has ``duration - lead``
        seconds of footage to catch up on while ``lead`` more are recorded; at ``speed`` it
        catches up as the window closes when ``lead = duration / (1 + speed)``. So the clip is
        ready right after the window closes, and meanwhile the job holds no thread, codec or
        CPU slot. The measured speed is discounted and a margin added, for safety.
        """
        start, end = self.window(job)
        speed = self.encode_speed * SPEED_SAFETY
        return end - ((end - start) / (1.0 + speed) + START_MARGIN)

    def footage_complete(self, job: ClipJob) -> bool:
        """True when a build would not wait for footage (only CPU work is left)."""
        _, end = self.window(job)
        now = self.clock.now()
        if end > now:
            return False
        buffer = self.recorder.buffers.get(job.event.camera_id)
        if buffer is None:
            return True  # fails at once
        newest = buffer.newest
        return (newest is not None and newest >= end) or now >= end + self.recorder.wait_grace

    def footage_intact(self, job: ClipJob) -> bool:
        """True while none of the window's footage has been removed from the buffer."""
        buffer = self.recorder.buffers.get(job.event.camera_id)
        if buffer is None:
            return False
        start, end = self.window(job)
        # Newer footage may have gone around a protected span that holds the whole window.
        return buffer.evicted_until <= start + 1e-3 or buffer.keeps(start, end)

    def worth_retrying(self, job: ClipJob) -> bool:
        """True when the window's footage is untouched and there is (or will be) some."""
        if not self.footage_intact(job):
            return False
        start, end = self.window(job)
        buffer = self.recorder.buffers[job.event.camera_id]
        return end > self.clock.now() or bool(buffer.covering(start, end))

    def after_failure(self, job: ClipJob, attempts: int, cause: Failure) -> RetryState:
        """What follows a build's ``attempts``-th failure: a time for the next try, or none.

        Retries go on, backing off, while the window's footage is untouched in the buffer (a
        job waiting to retry pins none of it); an unexplained failure is tried a few times only.
        """
        intact = self.footage_intact(job)
        if intact and (
            cause is Failure.CONDITION or (cause is Failure.BUG and attempts < BUG_ATTEMPTS)
        ):
            return RetryState(attempts, to_datetime(self.clock.now() + retry_delay(attempts)))
        return RetryState(attempts, final=cause is Failure.FINAL or not intact)

    def learn(self, clip_seconds: float, busy_seconds: float) -> None:
        """Fold one build's CPU-slot time into the estimates that plan the next ones."""
        if clip_seconds <= 0 or busy_seconds < 0.05:
            return
        speed = min(50.0, max(0.25, clip_seconds / busy_seconds))
        self.encode_speed = 0.7 * self.encode_speed + 0.3 * speed
        self.build_seconds = 0.8 * self.build_seconds + 0.2 * busy_seconds

    def drain_estimate(self, waiting: int, workers: int) -> int:
        """Seconds until ``waiting`` jobs have gone through ``workers`` CPU slots."""
        per_job = self.build_seconds or (self.spec.pre_seconds + self.spec.post_seconds) / 4
        return max(1, math.ceil(waiting / workers * per_job))
