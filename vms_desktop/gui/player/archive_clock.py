"""The archive player's clock and gap rule, as plain values: the moment all cameras are asked."""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from vms_desktop.domain.recording import ArchiveGap

# A picture's moment may lie this far before the moment asked for (slow cameras, a frame held
# across a short stall) and still answer it; an older one answers a request made before a seek.
PICTURE_REACH = 5.0
# Outcomes up to this far past the clock still belong to it (decoding runs a little behind).
AHEAD_TOLERANCE = 0.5
# Frame time assumed before the first picture told its own.
DEFAULT_FRAME_SECONDS = 1 / 15


class GapMode(enum.Enum):
    """What playing does at a hole in the footage."""

    JUMP = "jump"  # move the clock to where footage resumes
    BLACK = "black"  # run on through the hole, showing black and "No recording"


class PlayClock:
    """The moment being played: runs at a speed while playing, stands still while paused.

    Every camera of a synchronized view is asked for this one moment, so they stay in step.
    ``monotonic`` is injectable so tests can drive time.
    """

    def __init__(
        self, moment: float = 0.0, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._monotonic = monotonic
        self._anchor_moment = moment
        self._anchor_time = monotonic()
        self._speed = 1.0
        self._playing = False
        # Where the operator last put the clock: outcomes from before it are stale.
        self.seeked_to = moment

    @property
    def moment(self) -> float:
        """The moment due now (UTC epoch seconds)."""
        if not self._playing:
            return self._anchor_moment
        elapsed = self._monotonic() - self._anchor_time
        return self._anchor_moment + elapsed * self._speed

    @property
    def playing(self) -> bool:
        """True while the clock runs."""
        return self._playing

    @property
    def speed(self) -> float:
        """Seconds of footage per second of wall time while playing."""
        return self._speed

    def _anchor(self, moment: float) -> None:
        self._anchor_moment = moment
        self._anchor_time = self._monotonic()

    def play(self) -> None:
        """Run on from the current moment."""
        if not self._playing:
            self._anchor(self._anchor_moment)
            self._playing = True

    def pause(self) -> None:
        """Stand still at the current moment."""
        if self._playing:
            self._anchor(self.moment)
            self._playing = False

    def set_speed(self, speed: float) -> None:
        """Run at ``speed`` from the current moment on."""
        if speed <= 0:
            raise ValueError("the speed must be positive")
        self._anchor(self.moment)
        self._speed = speed

    def seek(self, moment: float) -> None:
        """Put the clock at ``moment`` (playing, if it was, from there)."""
        self._anchor(moment)
        self.seeked_to = moment

    def hold(self, moment: float) -> None:
        """Go back to ``moment`` without it counting as a seek (waiting at the live edge)."""
        self._anchor(moment)

    def belongs(self, moment: float, *, picture: bool = False) -> bool:
        """Whether an outcome at ``moment`` answers a request made since the last seek."""
        low = self.seeked_to - (PICTURE_REACH if picture else 0.0) - 1e-6
        return low <= moment <= self.moment + AHEAD_TOLERANCE


@dataclass(frozen=True)
class GapDecision:
    """What a synchronized view does when its cameras report gaps: jump, wait, or run on."""

    jump_to: float | None = None  # move the clock here
    live_edge: bool = False  # every camera is past its newest footage


def decide(gaps: Iterable[ArchiveGap | None], mode: GapMode) -> GapDecision:
    """The rule for a view whose cameras' latest outcomes are ``gaps`` (None: a picture).

    Only when every camera is in a gap does the view act: with ``JUMP`` it moves to the
    earliest moment any camera's footage resumes; when none resumes (all are at the live edge)
    it says so in either mode. A camera with footage keeps the clock running for the others,
    which show black meanwhile.
    """
    outcomes = list(gaps)
    if not outcomes or any(gap is None for gap in outcomes):
        return GapDecision()
    resumes = [gap.resume for gap in outcomes if gap is not None and gap.resume is not None]
    if not resumes:
        return GapDecision(live_edge=True)
    if mode is GapMode.JUMP:
        return GapDecision(jump_to=min(resumes))
    return GapDecision()


def step_target(picture_moment: float, frame_seconds: float, direction: int) -> float:
    """The moment to ask for to see the next (``+1``) or previous (``-1``) picture.

    Half a frame past the neighbour's expected time, so a little jitter in the camera's timing
    neither misses the neighbour nor skips past it.
    """
    frame = frame_seconds if frame_seconds > 0 else DEFAULT_FRAME_SECONDS
    if direction > 0:
        return picture_moment + frame * 1.5
    return picture_moment - frame * 0.5
