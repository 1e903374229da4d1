"""HLS media playlists of archive spans: a whole window (VOD) and the sliding live edge.

Each span is a complete MPEG-TS stream starting on a keyframe, so it is one media segment as
it is. A span that does not carry on the one before it (a hole, a new recording run) gets an
``EXT-X-DISCONTINUITY``, and every run's first span gets the UTC moment of its first picture
(``EXT-X-PROGRAM-DATE-TIME``), so players show wall-clock time and skip holes cleanly.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from vms_desktop.domain.clip import iso
from vms_desktop.engine.archive import Archive, MediaSpan

# EXTINF with decimals needs protocol version 3; nothing later is used.
HLS_VERSION = 3
# Newest pieces in a live playlist: the HLS authors ask for at least three target durations.
LIVE_PIECES = 6
# How far back (in pieces) the live numbering looks for the pieces it numbered before.
_LIVE_REACH = 10_000

UriMaker = Callable[[MediaSpan], str]


def _rounded(seconds: float) -> int:
    # The target duration bounds every EXTINF rounded to the nearest integer (RFC 8216 4.3.3.1).
    return max(1, math.floor(seconds + 0.5))


def _moment(seconds: float) -> str:
    return iso(datetime.fromtimestamp(seconds, UTC))


def _body(spans: list[MediaSpan], uri: UriMaker) -> list[str]:
    lines: list[str] = []
    for index, span in enumerate(spans):
        if index > 0 and span.discontinuity:
            lines.append("#EXT-X-DISCONTINUITY")
        if index == 0 or span.discontinuity:
            lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{_moment(span.start)}")
        lines.append(f"#EXTINF:{span.duration:.3f},")
        lines.append(uri(span))
    return lines


def vod_playlist(spans: list[MediaSpan], uri: UriMaker) -> str:
    """A complete playlist of ``spans`` (at least one), oldest first."""
    target = max(_rounded(span.duration) for span in spans)
    lines = [
        "#EXTM3U",
        f"#EXT-X-VERSION:{HLS_VERSION}",
        f"#EXT-X-TARGETDURATION:{target}",
        "#EXT-X-MEDIA-SEQUENCE:0",
        "#EXT-X-PLAYLIST-TYPE:VOD",
        *_body(spans, uri),
        "#EXT-X-ENDLIST",
    ]
    return "\n".join(lines) + "\n"


def live_playlist(edge: LiveEdge, uri: UriMaker) -> str:
    """A sliding playlist of the newest pieces (no end: players reload it)."""
    spans = edge.spans
    lines = [
        "#EXTM3U",
        f"#EXT-X-VERSION:{HLS_VERSION}",
        f"#EXT-X-TARGETDURATION:{edge.target}",
        f"#EXT-X-MEDIA-SEQUENCE:{spans[0].sequence}",
        f"#EXT-X-DISCONTINUITY-SEQUENCE:{edge.discontinuity_sequence}",
        *_body(spans, uri),
    ]
    return "\n".join(lines) + "\n"


class LiveEdge:
    """The newest pieces of a camera with the numbers a live playlist gives them."""

    def __init__(self, spans: list[MediaSpan], discontinuity_sequence: int, target: int) -> None:
        self.spans = spans
        self.discontinuity_sequence = discontinuity_sequence
        self.target = target


class LiveNumbering:
    """Keeps each camera's live playlist numbered consistently from one reload to the next.

    ``EXT-X-DISCONTINUITY-SEQUENCE`` must grow by one each time a discontinuity slides off the
    head of the playlist, and ``EXT-X-TARGETDURATION`` must not change. The archive answers
    only the newest pieces, so the numbers given to the pieces of the previous answer are kept
    and the new answer is numbered from a piece both share (looking further back when none
    is shared: a player reloading after a while must still find the same numbers).
    Thread-safe; the archive calls it makes are short scans.
    """

    def __init__(self, archive: Archive, count: int = LIVE_PIECES) -> None:
        self._archive = archive
        self._count = count
        self._lock = threading.Lock()
        # Per camera: discontinuity sequence number of each piece last listed, and the target.
        self._numbers: dict[str, dict[int, int]] = {}
        self._targets: dict[str, int] = {}

    def edge(self, camera_id: str) -> LiveEdge | None:
        """The newest pieces and their numbers; None while the camera has none yet."""
        with self._lock:
            spans = self._archive.live_spans(camera_id, self._count)
            if not spans:
                return None
            known = self._numbers.get(camera_id, {})
            numbers = _numbered(spans, known)
            if numbers is None:
                spans, numbers = self._from_further_back(camera_id, spans, known)
            self._numbers[camera_id] = {
                _sequence(span): number for span, number in zip(spans, numbers, strict=True)
            }
            target = max(
                self._targets.get(camera_id, 1), *(_rounded(span.duration) for span in spans)
            )
            self._targets[camera_id] = target
            return LiveEdge(spans, numbers[0], target)

    def _from_further_back(
        self, camera_id: str, spans: list[MediaSpan], known: dict[int, int]
    ) -> tuple[list[MediaSpan], list[int]]:
        """The newest pieces numbered on from pieces listed before that have since slid off."""
        if not known:
            return spans, _counted(spans, 0)
        newest_known = max(known)
        missed = _sequence(spans[-1]) - newest_known + 1
        if 0 < missed <= _LIVE_REACH:
            longer = self._archive.live_spans(camera_id, missed + self._count)
            numbers = _numbered(longer, known)
            if numbers is not None:
                return longer[-self._count :], numbers[-self._count :]
        # The pieces last listed are gone: whatever happened since, count at least a break.
        return spans, _counted(spans, known[newest_known] + 1)


def _sequence(span: MediaSpan) -> int:
    if span.sequence is None:  # live spans are always numbered; kept for the type
        raise ValueError("a live span without a sequence number")
    return span.sequence


def _counted(spans: list[MediaSpan], first: int) -> list[int]:
    """Discontinuity sequence numbers from ``first`` on, one more after each discontinuity."""
    numbers = [first]
    for span in spans[1:]:
        numbers.append(numbers[-1] + (1 if span.discontinuity else 0))
    return numbers


def _numbered(spans: list[MediaSpan], known: dict[int, int]) -> list[int] | None:
    """Numbers for ``spans`` agreeing with ``known`` on a piece they share, else None."""
    for index, span in enumerate(spans):
        number = known.get(_sequence(span))
        if number is not None:
            relative = _counted(spans, 0)
            return [value - relative[index] + number for value in relative]
    return None


__all__ = [
    "HLS_VERSION",
    "LIVE_PIECES",
    "LiveEdge",
    "LiveNumbering",
    "live_playlist",
    "vod_playlist",
]
