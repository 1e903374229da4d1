"""One thread per camera: connect, copy packets into the rolling buffer, reconnect on trouble."""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from typing import Any, Protocol

import av

from vms_desktop.domain.camera import CameraConfig, CameraState, CameraStatus
from vms_desktop.domain.errors import AuthError, SourceError
from vms_desktop.engine.clock import SYSTEM_CLOCK, WallClock
from vms_desktop.engine.free_space import is_disk_full
from vms_desktop.engine.segment_buffer import SegmentBuffer
from vms_desktop.engine.segment_writer import SegmentWriter
from vms_desktop.engine.sources import (
    DEFAULT_TIMEOUTS,
    OpenedSource,
    Timeouts,
    describe_error,
    open_source,
)

log = logging.getLogger(__name__)

StatusListener = Callable[[CameraStatus], None]


class PreviewTap(Protocol):
    """Gets a copy of a camera's video for live preview, on the worker's thread; must not block."""

    def start_stream(self, video: Any) -> None:
        """A session began with this PyAV video stream (read its parameters during the call)."""

    def feed(self, data: bytes, when: float, keyframe: bool) -> None:
        """One video packet's bytes, its UTC presentation time and whether it is a keyframe."""


# Failed attempts after losing a stream before the camera counts as offline, not reconnecting.
ATTEMPTS_BEFORE_OFFLINE = 3
# Failed attempts logged one by one before the log is rate-limited.
ATTEMPTS_LOGGED_EACH = 3
# Seconds between two log lines about a camera that keeps failing.
ATTEMPT_LOG_INTERVAL = 60.0


class AttemptLog:
    """Logs a camera's failed attempts to connect and record, without flooding the log.

    Each of the first ``each`` failed attempts is logged with its reason; after that at most one
    line every ``interval`` seconds, with the number of attempts since the previous line, the
    last reason and when the next attempt is due. So a camera still retrying is told apart from
    one given up on. Reasons must already be free of credentials (``describe_error``).
    """

    def __init__(
        self,
        camera_id: str,
        *,
        each: int = ATTEMPTS_LOGGED_EACH,
        interval: float = ATTEMPT_LOG_INTERVAL,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.camera_id = camera_id
        self.each = each
        self.interval = interval
        self._monotonic = monotonic
        self.failures = 0  # since the last time the camera recorded
        self._unreported = 0
        self._reported_at = -math.inf

    def failed(self, reason: str, retry_in: float) -> None:
        """One more attempt failed for ``reason``; the next comes in ``retry_in`` seconds."""
        self.failures += 1
        self._unreported += 1
        now = self._monotonic()
        if self.failures <= self.each:
            log.warning(
                "camera %s: attempt %d failed: %s; next attempt in %.0f s",
                self.camera_id,
                self.failures,
                reason,
                retry_in,
            )
        elif now - self._reported_at >= self.interval:
            log.warning(
                "camera %s: still failing, %d attempt(s) since the last report (%d in all), "
                "the last: %s; next attempt in %.0f s",
                self.camera_id,
                self._unreported,
                self.failures,
                reason,
                retry_in,
            )
        else:
            return
        self._reported_at = now
        self._unreported = 0

    def lost(self, reason: str, retry_in: float) -> None:
        """A recording session ended for ``reason``; reconnecting in ``retry_in`` seconds."""
        log.warning(
            "camera %s: recording stopped: %s; reconnecting in %.0f s",
            self.camera_id,
            reason,
            retry_in,
        )

    def recovered(self) -> None:
        """The camera records again."""
        if self.failures:
            log.info(
                "camera %s: recording again after %d failed attempt(s)",
                self.camera_id,
                self.failures,
            )
        self.failures = 0
        self._unreported = 0
        self._reported_at = -math.inf


class StreamTimeline:
    """Maps a source's packet timestamps to UTC seconds.

    A packet's UTC time is its source timestamp plus an offset anchored on the first packet's
    arrival. Packets that arrive earlier than the anchor predicts show the anchor was set by a
    late packet (FFmpeg hands over the pictures it buffered while probing in one burst), so the
    offset slews down towards them, at most ``SLEW`` seconds per second of arrival time: labels
    stay strictly ordered and keep at least half their spacing, and converge on the least-delayed
    arrivals. Later-than-predicted packets are network jitter; the offset creeps up only slowly,
    enough to follow a camera clock running slow. A jump of the source's timestamps starts over.
    """

    SLEW = 0.5
    CREEP = 0.0005
    MAX_LAG = 5.0

    def __init__(self, clock: WallClock = SYSTEM_CLOCK) -> None:
        self._clock = clock
        self._offset: float | None = None
        self._offset_at = 0.0
        self._last_dts: float | None = None

    def place(self, pts: float, dts: float) -> tuple[float, float]:
        """UTC (pts, dts) for a packet whose source timestamps are ``pts``/``dts`` seconds."""
        now = self._clock.now()
        offset = now - dts
        jumped_back = self._last_dts is not None and dts < self._last_dts - 1.0
        if self._offset is None or jumped_back or abs(offset - self._offset) > self.MAX_LAG:
            self._offset = offset
        else:
            elapsed = max(0.0, now - self._offset_at)
            if offset < self._offset:
                self._offset = max(offset, self._offset - self.SLEW * elapsed)
            else:
                self._offset = min(offset, self._offset + self.CREEP * elapsed)
        self._offset_at = now
        self._last_dts = dts
        return pts + self._offset, dts + self._offset


def backoff_delay(attempt: int, cap: float, base: float = 1.0) -> float:
    """Seconds to wait before reconnect ``attempt`` (1-based): exponential, capped, jittered.

    The jitter (a random point in the upper half of the step) keeps many cameras behind one
    failed switch from reconnecting in lock-step.
    """
    step = min(cap, base * 2 ** max(0, attempt - 1))
    return random.uniform(step / 2, step)


class CameraWorker(threading.Thread):
    """Records one camera into its :class:`SegmentBuffer` until stopped."""

    def __init__(
        self,
        camera: CameraConfig,
        buffer: SegmentBuffer,
        *,
        timeouts: Timeouts = DEFAULT_TIMEOUTS,
        stall_timeout: float = 10.0,
        reconnect_max: float = 30.0,
        auth_retry: float = 120.0,
        clock: WallClock = SYSTEM_CLOCK,
        preview_tap: PreviewTap | None = None,
        on_disk_full: Callable[[], int] | None = None,
    ) -> None:
        super().__init__(name=f"camera-{camera.id}", daemon=True)
        self.camera = camera
        self.buffer = buffer
        self.timeouts = timeouts
        self.stall_timeout = stall_timeout
        self.reconnect_max = reconnect_max
        self.auth_retry = auth_retry
        self.clock = clock
        # Set from another thread when someone first watches; read once per video packet.
        self.preview_tap = preview_tap
        # Frees buffer space after a write found the disk full; returns the bytes freed.
        self.on_disk_full = on_disk_full
        self.attempts = AttemptLog(camera.id)
        self._short_of_space = False
        self._stop_event = threading.Event()
        self._lock = threading.Lock()
        self._status = CameraStatus(camera.id, CameraState.CONNECTING, since=clock.now())
        self._listeners: list[StatusListener] = []
        self._frame_times: deque[float] = deque(maxlen=64)
        self._sessions = 0
        self._video_packets = 0

    # ---- public --------------------------------------------------------------------------

    @property
    def status(self) -> CameraStatus:
        """The current state, safe to show (no credentials)."""
        with self._lock:
            return self._status

    def add_listener(self, listener: StatusListener) -> None:
        """Call ``listener`` (from this worker's thread) whenever the state changes."""
        self._listeners.append(listener)

    def request_stop(self) -> None:
        """Ask the worker to finish without waiting (lets several cameras stop in parallel)."""
        self._stop_event.set()

    def stop(self, timeout: float | None = None) -> None:
        """Ask the worker to finish, close the open segment, and wait for it."""
        self._stop_event.set()
        if self.is_alive():
            self.join(timeout)

    # ---- thread --------------------------------------------------------------------------

    def run(self) -> None:
        writer = SegmentWriter(self.buffer)
        failures = 0
        ever_recorded = False
        while not self._stop_event.is_set():
            try:
                source = open_source(self.camera.url, self.timeouts, self.clock)
            except AuthError as exc:
                self._set_state(CameraState.AUTH_FAILED, str(exc))
                # Slow and without escalation: a camera that locks accounts after a few bad
                # logins must not be hammered.
                self.attempts.failed(str(exc), self.auth_retry)
                self._stop_event.wait(self.auth_retry)
                continue
            except SourceError as exc:
                failures += 1
                lost = ever_recorded and failures <= ATTEMPTS_BEFORE_OFFLINE
                self._set_state(CameraState.RECONNECTING if lost else CameraState.OFFLINE, str(exc))
                delay = backoff_delay(failures, self.reconnect_max)
                self.attempts.failed(str(exc), delay)
                self._stop_event.wait(delay)
                continue
            try:
                recorded, reason = self._record(source, writer)
            finally:
                writer.finish()
                source.close()
            if recorded:
                ever_recorded = True
                failures = 0
            else:
                failures += 1
            if not self._stop_event.is_set():
                delay = backoff_delay(max(1, failures), self.reconnect_max)
                if recorded:
                    self.attempts.lost(reason, delay)
                else:
                    self.attempts.failed(reason, delay)
                self._stop_event.wait(delay)
        self._set_state(CameraState.STOPPED, "")

    def _record(self, source: OpenedSource, writer: SegmentWriter) -> tuple[bool, str]:
        """Copy packets until the stream ends, stalls or fails: (video arrived, why it ended)."""
        video = source.video
        writer.start(video, source.audio)
        attached: PreviewTap | None = None  # the tap this session's stream was announced to
        timeline = StreamTimeline(self.clock)
        last_dts: dict[int, float] = {}
        last_video = time.monotonic()
        got_video = False
        reason = "the stream ended"
        try:
            for packet in source.packets:
                if self._stop_event.is_set():
                    return got_video, "stopped"
                if packet.dts is None and packet.pts is None:
                    continue
                if packet.pts is None:
                    packet.pts = packet.dts
                if packet.dts is None:
                    packet.dts = packet.pts
                base = packet.time_base
                pts, dts = timeline.place(float(packet.pts * base), float(packet.dts * base))
                index = packet.stream.index
                if dts <= last_dts.get(index, float("-inf")):
                    continue  # a repeated or reordered timestamp would stop the muxer
                last_dts[index] = dts
                is_video = packet.stream is video
                tap = self.preview_tap
                if is_video and tap is not None:
                    try:
                        if tap is not attached:
                            tap.start_stream(video)  # attached mid-session: waits for a keyframe
                            attached = tap
                        # Copied now: muxing takes the packet's data and leaves it empty.
                        tap.feed(bytes(packet), pts, packet.is_keyframe)
                    except Exception:  # the live view must never stop the recording
                        log.exception("camera %s: preview stopped", self.camera.id)
                        self.preview_tap = None
                try:
                    writer.write(packet, pts, dts)
                except (av.FFmpegError, OSError) as exc:  # PyAV re-raises the file's own error
                    if not is_disk_full(exc):
                        raise
                    self._on_disk_full(writer)
                    continue
                if self._short_of_space and self.buffer.is_recording():
                    self._short_of_space = False
                    self._set_state(CameraState.RECORDING, "recording again: buffer space freed")
                if is_video:
                    last_video = time.monotonic()
                    self._frame_times.append(last_video)
                    if not got_video:
                        got_video = True
                        self._on_first_video(source)
                        self.attempts.recovered()
                    else:
                        self._video_packets += 1
                        if self._video_packets % 16 == 0:
                            self._refresh_rate()
                elif time.monotonic() - last_video > self.stall_timeout:
                    reason = f"no video for {self.stall_timeout:g} s"
                    break
        except (av.FFmpegError, OSError, SourceError) as exc:
            reason = describe_error(exc, self.camera.url)
            if isinstance(exc, av.error.ExitError):
                # PyAV's read timeout interrupts a blocked read: the camera went silent.
                reason = f"no data for {self.timeouts.read:g} s"
        if not self._stop_event.is_set():
            self._set_state(CameraState.RECONNECTING, reason)
        return got_video, reason

    def _on_disk_full(self, writer: SegmentWriter) -> None:
        """A segment write found the disk full: free the oldest footage and go on at once.

        The source stays open, so recording resumes at the next keyframe instead of after a
        reconnect and a back-off; until space is found each keyframe tries again.
        """
        writer.finish()  # the torn segment stays readable up to its last whole packet
        freed = self.on_disk_full() if self.on_disk_full is not None else 0
        if freed > 0:
            self._short_of_space = False
            reason = f"buffer disk was full: freed {freed / 1e6:.1f} MB of the oldest footage"
            log.warning("camera %s: %s", self.camera.id, reason)
            self._set_state(CameraState.RECORDING, reason)
        else:
            self._short_of_space = True
            self._set_state(
                CameraState.RECONNECTING,
                "No space left on device: the buffer's disk is full and holds no footage "
                "that may be freed",
            )

    # ---- state ---------------------------------------------------------------------------

    def _on_first_video(self, source: OpenedSource) -> None:
        self._sessions += 1
        context = source.video.codec_context
        with self._lock:
            self._status = replace(
                self._status,
                width=context.width,
                height=context.height,
                codec=context.name,
                has_audio=source.audio is not None,
            )
        self._set_state(CameraState.RECORDING, source.description)

    def _refresh_rate(self) -> None:
        times = self._frame_times
        span = times[-1] - times[0]
        fps = (len(times) - 1) / span if span > 0 else 0.0
        with self._lock:
            self._status = replace(self._status, fps=round(fps, 2), last_packet_at=self.clock.now())

    def _set_state(self, state: CameraState, reason: str) -> None:
        with self._lock:
            previous = self._status
            self._status = replace(
                previous,
                state=state,
                reason=reason,
                since=self.clock.now() if state is not previous.state else previous.since,
                reconnects=max(0, self._sessions - 1),
                fps=previous.fps if state is CameraState.RECORDING else 0.0,
            )
            status = self._status
        if state is not previous.state:
            log.info("camera %s: %s (%s)", self.camera.id, state.value, reason or "-")
        for listener in self._listeners:
            try:
                listener(status)
            except Exception:  # a listener's bug must not stop recording
                log.exception("camera status listener failed")
