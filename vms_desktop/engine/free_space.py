"""Keeps the archive within its disk budget and its file system above a free-space floor."""

from __future__ import annotations

import errno
import logging
import shutil
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from vms_desktop.engine.segment_buffer import Segment, SegmentBuffer

log = logging.getLogger(__name__)

# Errors that mean "this file system has no room left" (EDQUOT: a user's quota is used up).
_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


def is_disk_full(exc: BaseException) -> bool:
    """True when ``exc`` (or an error it was raised from) says the file system is full."""
    seen: BaseException | None = exc
    for _ in range(8):  # a short chain is all PyAV and our writers produce
        if seen is None:
            return False
        # PyAV's own errors carry an errno too, without always being OSErrors.
        if getattr(seen, "errno", None) in _FULL_ERRNOS:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def free_bytes_of(path: Path) -> int:
    """Bytes an unprivileged writer can still use on the file system holding ``path``."""
    return shutil.disk_usage(path).free


@dataclass(frozen=True)
class SpaceStatus:
    """The archive's free space and budget, and what the guard did about them."""

    free_bytes: int | None  # None when the file system could not be asked
    floor_bytes: int
    low: bool  # below the floor with nothing left to evict: recording may stop
    evicted_segments: int  # removed to free space since start (retention and size not counted)
    evicted_bytes: int
    budget_bytes: int | None = None  # the budget of all cameras together, None without one
    used_bytes: int = 0  # what every camera's footage took at the last check
    # Over the budget with nothing left to evict: the rest is pinned, protected or recording.
    over_budget: bool = False
    evicted_for_budget: int = 0  # removed to meet the budget since start


class FreeSpaceGuard:
    """Evicts the oldest unpinned segments, across all cameras, for a budget and a free floor.

    The size cap of each buffer does not know what else fills the disk (other cameras, other
    programs, the clips themselves), so this watches the file system itself and keeps
    ``min_free_bytes`` free; with ``max_total_bytes`` it also keeps all cameras' footage
    together within that budget. :meth:`check` runs whenever a segment closes and in the
    recorder's maintainer; it leaves room for what the cameras write before the next check.
    :meth:`reclaim` is the emergency path of a camera whose write just failed for lack of space.
    The globally oldest evictable segment always goes first. Segments a clip build still needs
    are pinned, segments under a protected bookmark are protected, and the segment being
    written is open: none of them is ever evicted.
    """

    def __init__(
        self,
        root: Path,
        buffers: Sequence[SegmentBuffer],
        min_free_bytes: int,
        *,
        max_total_bytes: int | None = None,
        free_bytes: Callable[[Path], int] = free_bytes_of,
    ) -> None:
        self.root = root
        self.buffers = list(buffers)
        self.min_free_bytes = max(0, min_free_bytes)
        self.max_total_bytes = max_total_bytes
        self._free_bytes = free_bytes
        self._lock = threading.Lock()
        self._last_free: int | None = None
        self._low = False
        self._evicted_segments = 0
        self._evicted_bytes = 0
        self._used = 0
        # Bytes of each buffer as last measured, kept up to date by the evictions made here:
        # measuring a buffer walks all its files, so a check measures only the one that changed.
        self._sizes: dict[SegmentBuffer, int] = {}
        self._over_budget = False
        self._evicted_for_budget = 0

    def status(self) -> SpaceStatus:
        """The last measured state (no file system call)."""
        with self._lock:
            return SpaceStatus(
                free_bytes=self._last_free,
                floor_bytes=self.min_free_bytes,
                low=self._low,
                evicted_segments=self._evicted_segments,
                evicted_bytes=self._evicted_bytes,
                budget_bytes=self.max_total_bytes,
                used_bytes=self._used,
                over_budget=self._over_budget,
                evicted_for_budget=self._evicted_for_budget,
            )

    def check(self, changed: SegmentBuffer | None = None) -> int:
        """Evict the oldest footage while over the budget or under the floor; returns bytes.

        ``changed`` is the one buffer whose footage changed since the last check (a segment
        closed, or it pruned); without it every buffer is measured again.
        """
        return self._free_up(minimum=0, changed=changed)

    def reclaim(self) -> int:
        """A write failed for lack of space: free at least one segment's worth; returns bytes."""
        return self._free_up(minimum=1, changed=None)

    def _free_up(self, *, minimum: int, changed: SegmentBuffer | None) -> int:
        if not self.buffers:
            return 0
        with self._lock:
            was_over = self._over_budget
            for_budget = self._keep_budget(changed)
            was_low = self._low
            for_space = self._keep_floor(minimum)
            over, low = self._over_budget, self._low
        freed = sum(segment.size for _, segment in for_space)
        if for_budget:
            log.debug(
                "archive budget: evicted %d oldest segment(s), %.1f MB",
                len(for_budget),
                sum(segment.size for _, segment in for_budget) / 1e6,
            )
        if over and not was_over:
            assert self.max_total_bytes is not None
            log.warning(
                "archive over its budget (%.4g MB): the footage left is pinned by clips being "
                "built, protected by bookmarks or being recorded",
                self.max_total_bytes / 1e6,
            )
        elif was_over and not over:
            log.info("archive back within its budget")
        if for_space:
            cameras = sorted({camera for camera, _ in for_space})
            log.info(
                "buffer disk short of space: evicted %d oldest segment(s), %.1f MB, of %s",
                len(for_space),
                freed / 1e6,
                ", ".join(cameras),
            )
        if low and not was_low:
            log.warning(
                "buffer disk below its free-space floor (%.0f MB) with no footage left to evict",
                self.min_free_bytes / 1e6,
            )
        elif was_low and not low:
            log.info("buffer disk back above its free-space floor")
        return freed + sum(segment.size for _, segment in for_budget)

    def _keep_budget(self, changed: SegmentBuffer | None) -> list[tuple[str, Segment]]:
        """Evict the oldest footage while all cameras together are over the budget (lock held)."""
        evicted: list[tuple[str, Segment]] = []
        if self.max_total_bytes is None:
            return evicted
        if changed is None or changed not in self._sizes:
            self._sizes = {buffer: buffer.size_bytes for buffer in self.buffers}
        else:
            self._sizes[changed] = changed.size_bytes
        used = sum(self._sizes.values())
        # Each camera writes about one more segment before the next check: room is kept
        # for it, so the archive stays within the budget between checks too.
        limit = max(0, self.max_total_bytes - self._headroom())
        while used > limit:
            found = self._oldest_evictable()
            if found is None:
                break
            buffer, segment = found
            if buffer.evict(segment):
                used -= segment.size
                self._sizes[buffer] -= segment.size
                evicted.append((buffer.camera_id, segment))
        self._used = used
        self._over_budget = used > self.max_total_bytes
        self._evicted_for_budget += len(evicted)
        return evicted

    def _keep_floor(self, minimum: int) -> list[tuple[str, Segment]]:
        """Evict the oldest footage while free space is under the floor (lock held)."""
        try:
            free = self._free_bytes(self.root)
        except OSError as exc:
            log.warning("free space of the buffer could not be read: %s", exc.strerror)
            self._last_free = None
            return []
        # Each camera writes about one more segment before the next check.
        target = max(self.min_free_bytes + self._headroom(), free + minimum)
        freed = 0
        evicted: list[tuple[str, Segment]] = []
        while free + freed < target:
            found = self._oldest_evictable()
            if found is None:
                break
            buffer, segment = found
            if buffer.evict(segment):
                freed += segment.size
                if buffer in self._sizes:
                    self._sizes[buffer] -= segment.size
                evicted.append((buffer.camera_id, segment))
        # Accounted, not measured again: a file still open by a reader frees its blocks
        # only when closed, and measuring would evict more to make up for it.
        self._last_free = free + freed
        self._low = free + freed < self.min_free_bytes or (minimum > 0 and freed == 0)
        self._evicted_segments += len(evicted)
        self._evicted_bytes += freed
        if self._sizes:
            self._used = sum(self._sizes.values())
        return evicted

    def _headroom(self) -> int:
        return sum(buffer.recent_segment_bytes() for buffer in self.buffers)

    def _oldest_evictable(self) -> tuple[SegmentBuffer, Segment] | None:
        best: tuple[SegmentBuffer, Segment] | None = None
        for buffer in self.buffers:
            segment = buffer.evictable()
            if segment is not None and (best is None or segment.start < best[1].start):
                best = (buffer, segment)
        return best
