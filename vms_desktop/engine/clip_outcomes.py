"""What the clip service hands back (intake and cleanup results, a built clip's metadata) and the
upload queue it hands clips to.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from vms_desktop.domain.clip import ClipJob, ClipMeta, Event, EventWindow, GapSpan
from vms_desktop.engine.clip_builder import ClipResult
from vms_desktop.engine.clock import to_datetime


class Outbox(Protocol):
    """The durable upload queue in front of a remote store (see ``storage.outbox``)."""

    def submit(self, meta: ClipMeta, clip_file: Path) -> None: ...

    def pending(self) -> list[ClipMeta]: ...

    @property
    def depth(self) -> int: ...


@dataclass(frozen=True)
class GenerateResult:
    """What ``generate`` did: the job and whether this request created it."""

    job: ClipJob
    created: bool
    meta: ClipMeta | None = None


@dataclass(frozen=True)
class CleanupResult:
    """What a cleanup deleted, and the moment before which it counted a clip as old."""

    deleted: list[str]
    cutoff: datetime


def built_clip_meta(
    event: Event, window: EventWindow, result: ClipResult, created_at: datetime
) -> ClipMeta:
    """The catalogue record of a clip the builder made for ``event`` over ``window``."""
    return ClipMeta(
        event=event,
        window_start=to_datetime(result.start),
        window_end=to_datetime(result.end),
        fps=result.fps,
        width=result.width,
        height=result.height,
        duration=result.duration,
        size=result.size,
        sha256=result.sha256,
        created_at=created_at,
        has_audio=result.has_audio,
        gaps=tuple(GapSpan(to_datetime(g.start), to_datetime(g.end)) for g in result.gaps),
        chosen_window=window,
    )
