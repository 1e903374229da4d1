"""Shared factories for domain records the tests need by the dozen."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from vms_desktop.domain.clip import ClipMeta, Event, GapSpan

# A fixed moment: nothing in the tests depends on today's date.
WHEN = datetime(2025, 5, 31, 10, 0, tzinfo=UTC)


def clip_record(
    event_id: str = "ev-1",
    *,
    camera_id: str = "cam01",
    event_type: str = "motion",
    at: datetime = WHEN,
    pre: timedelta = timedelta(seconds=10),
    post: timedelta = timedelta(seconds=20),
    data: bytes | None = None,
    size: int = 1000,
    sha256: str | None = None,
    has_audio: bool = False,
    gaps: tuple[GapSpan, ...] = (),
    created_at: datetime | None = None,
    fps: int = 15,
    width: int = 640,
    height: int = 480,
) -> ClipMeta:
    """A clip's metadata: of ``data`` when given (size and SHA-256 match it), else made up.

    The window is ``pre`` before ``at`` to ``post`` after it; ``sha256`` overrides the digest.
    """
    if sha256 is None:
        sha256 = hashlib.sha256(data if data is not None else event_id.encode()).hexdigest()
    return ClipMeta(
        event=Event(event_id, camera_id, event_type, at),
        window_start=at - pre,
        window_end=at + post,
        fps=fps,
        width=width,
        height=height,
        duration=(pre + post).total_seconds(),
        size=len(data) if data is not None else size,
        sha256=sha256,
        has_audio=has_audio,
        gaps=gaps,
        created_at=created_at or at + post + timedelta(seconds=1),
    )
