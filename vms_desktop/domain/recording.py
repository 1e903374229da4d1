"""What a camera's archive holds over a stretch of time: continuous ranges and the gaps between."""

from __future__ import annotations

from dataclasses import dataclass

from vms_desktop.domain.picture import RgbImage


@dataclass(frozen=True)
class TimeRange:
    """A stretch of time ``[start, end)`` in UTC epoch seconds."""

    start: float
    end: float

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return max(0.0, self.end - self.start)


@dataclass(frozen=True)
class Coverage:
    """A camera's recorded footage over a queried window, clipped to it, oldest first.

    ``ranges`` are stretches of continuous footage (one recording run each: a reconnect with no
    hole still starts a new range); ``gaps`` are the parts of the window up to ``until`` with no
    footage. Time after ``until`` (the moment of the answer) is neither: it has not happened yet.
    """

    camera_id: str
    start: float
    end: float
    until: float
    ranges: tuple[TimeRange, ...]
    gaps: tuple[TimeRange, ...]

    @property
    def recorded_seconds(self) -> float:
        """Seconds of footage in the window."""
        return sum(part.duration for part in self.ranges)


@dataclass(frozen=True)
class ArchivePicture:
    """One decoded picture of a camera's archive, with the UTC moment it was seen."""

    camera_id: str
    moment: float
    image: RgbImage
    # Width over height as shown (the pixels may not be square).
    display_aspect: float
    # Seconds from this picture to the next one recorded (a frame step forward).
    frame_seconds: float


@dataclass(frozen=True)
class ArchiveGap:
    """Asked for a moment with no footage: where (if anywhere yet) the footage resumes."""

    camera_id: str
    moment: float
    resume: float | None
