"""Signed, expiring links to a camera's archive: playlists and the media spans they list.

A link is signed with the key of local clip links (see ``storage/signing.py``): the signed
message names the URL path and a tag of what the link grants within it (a media span's byte
range, a playlist's window), so changing any of camera, file, offset, length, window or expiry
breaks the signature. Players fetch these links with no header: the signature is the grant.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlencode

from vms_desktop.api.context import LinkSigner
from vms_desktop.domain.clip import iso
from vms_desktop.engine.archive import MediaSpan

# Query parameters that carry a signed archive link's grant.
EXPIRES = "expires"
SIGNATURE = "sig"

_MEDIA_PATH = re.compile(r"/cameras/[^/]+/media/[^/]+")
_PLAYLIST_PATH = re.compile(r"/cameras/[^/]+/(?:archive|live)\.m3u8")
# ASCII digits only, no leading zeros (one spelling per number), within what a file holds.
_COUNT = re.compile(r"0|[1-9][0-9]{0,14}")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def media_path(camera_id: str, file_key: int) -> str:
    """The URL path of a span of the file that began at ``file_key`` (ms)."""
    return f"/cameras/{camera_id}/media/{file_key}.ts"


def playlist_path(camera_id: str, *, live: bool) -> str:
    """The URL path of a camera's archive or live playlist."""
    return f"/cameras/{camera_id}/{'live' if live else 'archive'}.m3u8"


def is_signed_request(path: str, query: str) -> bool:
    """Whether a request is for a route that checks a signed link itself (no token needed).

    Media spans are only ever served by signature; a playlist is when its link carries one
    (without, it needs the API token like every route).
    """
    if _MEDIA_PATH.fullmatch(path):
        return True
    return _PLAYLIST_PATH.fullmatch(path) is not None and SIGNATURE in parse_qs(query)


def _tag(*parts: object) -> str:
    """The content tag a link's signature covers: what within its path it grants."""
    text = ":".join(str(part) for part in parts)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _whole_seconds(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(microsecond=0)


class ArchiveLinks:
    """Makes and checks the signed links of the archive routes."""

    def __init__(self, signer: LinkSigner) -> None:
        self._signer = signer

    def _signature(self, path: str, expires_at: datetime, content: str) -> dict[str, str]:
        signed = parse_qs(self._signer.sign(path, expires_at, content))
        return {EXPIRES: signed["expires"][0], SIGNATURE: signed["signature"][0]}

    def media_uri(self, span: MediaSpan, expires_at: datetime) -> str:
        """The span's URI relative to its camera's playlists."""
        content = _tag("media", span.offset, span.length)
        signature = self._signature(media_path(span.camera_id, span.file_key), expires_at, content)
        query = urlencode({"offset": span.offset, "length": span.length, **signature})
        return f"media/{span.file_key}.ts?{query}"

    def media_granted(
        self, camera_id: str, file_key: int, offset: str, length: str, expires: str, signature: str
    ) -> tuple[int, int] | None:
        """The byte range a media link grants, or None if it is not a valid, current link."""
        if _COUNT.fullmatch(offset) is None or _COUNT.fullmatch(length) is None:
            return None
        start, size = int(offset), int(length)
        content = _tag("media", start, size)
        if not self._signer.verify(media_path(camera_id, file_key), expires, content, signature):
            return None
        return start, size

    def playlist_query(
        self, camera_id: str, window: tuple[int, int] | None, expires_at: datetime
    ) -> tuple[str, datetime]:
        """The query of a signed playlist link (``window`` in ms; None for the live playlist)
        and the moment it expires.
        """
        expires_at = _whole_seconds(expires_at)
        path = playlist_path(camera_id, live=window is None)
        if window is None:
            return urlencode(self._signature(path, expires_at, _tag("live"))), expires_at
        start, end = window
        signature = self._signature(path, expires_at, _tag("window", start, end))
        query = {"start": _ms_text(start), "end": _ms_text(end), **signature}
        return urlencode(query), expires_at

    def playlist_granted(
        self, camera_id: str, window: tuple[int, int] | None, expires: str, signature: str
    ) -> bool:
        """Whether a playlist link is valid now for this camera and window (ms; None: live)."""
        path = playlist_path(camera_id, live=window is None)
        content = _tag("live") if window is None else _tag("window", *window)
        return self._signer.verify(path, expires, content, signature)


def _ms_text(ms: int) -> str:
    """A moment in ms as the ISO 8601 text the playlist routes parse back to the same ms."""
    return iso(_EPOCH + timedelta(milliseconds=ms))


__all__ = [
    "EXPIRES",
    "SIGNATURE",
    "ArchiveLinks",
    "is_signed_request",
    "media_path",
    "playlist_path",
]
