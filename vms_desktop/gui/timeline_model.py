"""What the timeline shows, as plain values: lanes, footage, stored clips, pending jobs,
bookmarks.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from vms_desktop.domain.clip import ClipJob, ClipMeta, ClipStatus
from vms_desktop.engine.console_port import Bookmark, CatalogueChange


def merged_spans(spans: list[tuple[float, float]], tolerance: float = 0.5) -> list[list[float]]:
    """Consecutive segments joined into continuous stretches of footage."""
    merged: list[list[float]] = []
    for start, end in sorted(spans):
        if merged and start - merged[-1][1] <= tolerance:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return merged


@dataclass(frozen=True)
class EventDot:
    """One event drawn on the timeline: its moment (epoch seconds), lane and id."""

    when: float
    lane: int
    event_id: str


@dataclass(frozen=True)
class BookmarkMark:
    """One bookmark drawn on the timeline: its moment (epoch seconds), lane, id and note."""

    when: float
    lane: int
    bookmark_id: str
    note: str
    protect: bool


@dataclass(frozen=True)
class FootageBar:
    """One continuous stretch of footage on a lane (epoch seconds)."""

    start: float
    end: float
    lane: int


# The shortest range an operator can export (a shorter drag is taken for a slip of the hand).
MIN_EXPORT_SECONDS = 0.5


@dataclass(frozen=True)
class ExportRange:
    """A stretch of one camera's footage an operator chose to export (epoch seconds)."""

    camera_id: str
    start: float
    end: float


class TimelineModel:
    """The timeline's state, readable without Qt: one lane per camera, the footage bars, the
    stored clips of the stretch last read from the catalogue and the jobs still running.

    Clips are read for a stretch wider than the view, so panning a little needs no new read;
    catalogue changes keep them current. Changes noticed while a read is under way are applied
    again once it arrives, since the read may predate them.
    """

    def __init__(self, camera_ids: Sequence[str]) -> None:
        self.camera_ids = list(camera_ids)
        self.lanes = {camera_id: lane for lane, camera_id in enumerate(self.camera_ids)}
        self.footage: list[FootageBar] = []
        self.clips: dict[str, ClipMeta] = {}
        self.jobs: dict[str, ClipJob] = {}
        self.read_span: tuple[float, float] | None = None
        self._noticed: list[CatalogueChange] = []
        self.bookmarks: dict[str, Bookmark] = {}
        # Counts this console's own bookmark edits: a read begun before one is stale.
        self.bookmark_edits = 0

    # ---- what is drawn -------------------------------------------------------------------

    def event_dots(self) -> list[EventDot]:
        """Stored clips' events on their cameras' lanes."""
        return [
            EventDot(meta.event.timestamp.timestamp(), self.lanes[meta.event.camera_id], event_id)
            for event_id, meta in self.clips.items()
            if meta.event.camera_id in self.lanes
        ]

    def pending_dots(self) -> list[EventDot]:
        """Events whose clip is still being made (failed ones are not drawn)."""
        return [
            EventDot(job.event.timestamp.timestamp(), self.lanes[job.event.camera_id], event_id)
            for event_id, job in self.jobs.items()
            if job.event.camera_id in self.lanes and job.status is not ClipStatus.FAILED
        ]

    def bookmark_marks(self) -> list[BookmarkMark]:
        """Bookmarks on their cameras' lanes, oldest first."""
        marks = [
            BookmarkMark(
                bookmark.timestamp.timestamp(),
                self.lanes[bookmark.camera_id],
                bookmark_id,
                bookmark.note,
                bookmark.protect,
            )
            for bookmark_id, bookmark in self.bookmarks.items()
            if bookmark.camera_id in self.lanes
        ]
        return sorted(marks, key=lambda mark: (mark.when, mark.bookmark_id))

    def bookmark_near(self, lane: int, when: float, tolerance: float) -> Bookmark | None:
        """The bookmark on ``lane`` nearest ``when``, if one is within ``tolerance`` seconds."""
        near = [
            (abs(mark.when - when), mark.bookmark_id)
            for mark in self.bookmark_marks()
            if mark.lane == lane and abs(mark.when - when) <= tolerance
        ]
        return self.bookmarks[min(near)[1]] if near else None

    def camera_at(self, y: float) -> str | None:
        """The camera whose lane holds the height ``y`` of the plot, or None between lanes."""
        lane = round(y)
        if abs(y - lane) > 0.5 or not 0 <= lane < len(self.camera_ids):
            return None
        return self.camera_ids[lane]

    def export_range(self, lane_y: float, first: float, second: float) -> ExportRange | None:
        """The range dragged from ``first`` to ``second`` (either way) at height ``lane_y``, or
        None when the drag is on no camera's lane or too short to be meant.
        """
        lane = round(lane_y)
        if not 0 <= lane < len(self.camera_ids):
            return None
        start, end = sorted((first, second))
        if end - start < MIN_EXPORT_SECONDS:
            return None
        return ExportRange(self.camera_ids[lane], start, end)

    # ---- what changes it -----------------------------------------------------------------

    def bookmarks_read(self, items: Iterable[Bookmark], edits: int) -> bool:
        """A read of bookmarks begun when ``edits`` edits were made arrived; it replaces those
        held unless an edit of this console came since (then the next read brings it).
        """
        if edits != self.bookmark_edits:
            return False
        self.bookmarks = {bookmark.id: bookmark for bookmark in items}
        return True

    def bookmark_added(self, bookmark: Bookmark) -> None:
        """This console added a bookmark."""
        self.bookmark_edits += 1
        self.bookmarks[bookmark.id] = bookmark

    def bookmark_removed(self, bookmark_id: str) -> None:
        """This console deleted a bookmark (or found it gone)."""
        self.bookmark_edits += 1
        self.bookmarks.pop(bookmark_id, None)

    def set_footage(self, spans: dict[str, list[tuple[float, float]]]) -> None:
        """Replace the footage bars with each camera's recorded segments."""
        bars = []
        for camera_id, lane in self.lanes.items():
            for start, end in merged_spans(spans.get(camera_id, [])):
                bars.append(FootageBar(start, end, lane))
        self.footage = bars

    def on_job(self, job: ClipJob) -> bool:
        """Follow a job; True when the drawing changes (progress alone changes nothing)."""
        known = self.jobs.get(job.event.id)
        if job.status.finished:
            self.jobs.pop(job.event.id, None)
        else:
            self.jobs[job.event.id] = job
        return known is None or job.status.finished or job.status is ClipStatus.FAILED

    def needs_read(self, start: float, end: float, reading: tuple[float, float] | None) -> bool:
        """Whether the view [start, end] leaves the stretch read (or being read)."""
        span = reading or self.read_span
        return span is None or start < span[0] or end > span[1]

    @staticmethod
    def span_to_read(start: float, end: float) -> tuple[float, float]:
        """The stretch to read for a view: one view's width either side."""
        width = end - start
        return start - width, end + width

    def begin_read(self) -> None:
        """A fresh read starts: changes noticed before it are in it."""
        self._noticed = []

    def apply(self, change: CatalogueChange, *, reading: bool = False) -> None:
        """Follow a catalogue change (kept to apply again when a read under way arrives)."""
        if reading:
            self._noticed.append(change)
        span = self.read_span
        for meta in (*change.added, *change.updated):
            moment = meta.event.timestamp.timestamp()
            if span is not None and span[0] <= moment < span[1]:
                self.clips[meta.event_id] = meta
        for meta in change.removed:
            self.clips.pop(meta.event_id, None)

    def clips_read(self, span: tuple[float, float], items: Iterable[ClipMeta]) -> None:
        """A read of ``span`` arrived: its clips replace those held, then newer changes apply."""
        self.clips = {meta.event_id: meta for meta in items}
        self.read_span = span
        noticed, self._noticed = self._noticed, []
        for change in noticed:
            self.apply(change)
