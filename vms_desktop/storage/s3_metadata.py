"""A clip's metadata as S3 user metadata: ASCII, within S3's 2 KB, gaps packed, and back."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, unquote

from vms_desktop.domain.clip import ClipMeta, iso, parse_iso
from vms_desktop.domain.errors import StoreError

# S3 caps user metadata at 2 KB: the UTF-8 bytes of every key and value added up. Keys are
# counted here with their "x-amz-meta-" header prefix, which leaves a margin for servers that
# count the whole header.
METADATA_LIMIT = 2048
_HEADER_PREFIX = "x-amz-meta-"
_FORMAT_VERSION = "1"
_GAP = re.compile(r"(-?\d+)~(-?\d+)")
_MS = timedelta(milliseconds=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _ms_since_epoch(moment: datetime) -> int:
    """Whole milliseconds, truncated like :func:`iso` does (so both forms agree)."""
    return (moment - _EPOCH) // _MS


def metadata_size(metadata: dict[str, str]) -> int:
    """Bytes ``metadata`` counts against S3's user-metadata limit (keys with their prefix)."""
    return sum(len(_HEADER_PREFIX + k) + len(v.encode()) for k, v in metadata.items())


def encode_metadata(meta: ClipMeta) -> dict[str, str]:
    """``meta`` as S3 user metadata: ASCII only, at most :data:`METADATA_LIMIT` bytes.

    Gaps are stored compactly as ``start~end`` millisecond offsets from the window start. When
    they do not all fit, the first ones are kept and ``gaps-omitted`` counts the rest.
    """
    metadata = {
        "vms-format": _FORMAT_VERSION,
        "event-id": meta.event.id,
        "camera-id": meta.event.camera_id,
        # Quoted: an event type may end with a space, which HTTP would strip from a header.
        "event-type": quote(meta.event.event_type, safe=":/"),
        "timestamp": iso(meta.event.timestamp),
        "window-start": iso(meta.window_start),
        "window-end": iso(meta.window_end),
        "pre-event-seconds": repr(meta.event_window.pre_seconds),
        "post-event-seconds": repr(meta.event_window.post_seconds),
        "fps": str(meta.fps),
        "resolution": meta.resolution,
        "duration": repr(float(meta.duration)),
        "size": str(meta.size),
        "sha256": meta.sha256,
        "has-audio": "1" if meta.has_audio else "0",
        "created-at": iso(meta.created_at),
    }
    base = _ms_since_epoch(meta.window_start)
    spans = [
        f"{_ms_since_epoch(gap.start) - base}~{_ms_since_epoch(gap.end) - base}"
        for gap in meta.gaps
    ]
    kept = len(spans)
    while True:
        candidate = dict(metadata)
        if kept:
            candidate["gaps"] = ",".join(spans[:kept])
        if kept < len(spans):
            candidate["gaps-omitted"] = str(len(spans) - kept)
        if metadata_size(candidate) <= METADATA_LIMIT or kept == 0:
            break
        kept -= 1
    if metadata_size(candidate) > METADATA_LIMIT:
        # Only reachable if the fixed fields outgrow the limit, which validated ids cannot do.
        raise StoreError("the clip's metadata does not fit in S3 object metadata")
    for key, value in candidate.items():
        if not (key.isascii() and value.isascii()):
            raise StoreError("the clip's metadata is not ASCII")
    return candidate


def decode_metadata(metadata: dict[str, str]) -> ClipMeta:
    """Inverse of :func:`encode_metadata`; raises ``ValueError``/``KeyError`` when malformed."""
    data = {key.lower(): value for key, value in metadata.items()}
    if data.get("vms-format") != _FORMAT_VERSION:
        raise ValueError("not a vms_desktop clip (unknown metadata format)")
    width, _, height = data["resolution"].partition("x")
    window_start = data["window-start"]
    gaps: list[dict[str, str]] = []
    if data.get("gaps"):
        base = parse_iso(window_start)
        for span in data["gaps"].split(","):
            match = _GAP.fullmatch(span)
            if match is None:
                raise ValueError("malformed gap")
            start, end = (base + int(part) * _MS for part in match.groups())
            gaps.append({"start": iso(start), "end": iso(end)})
    if data.get("has-audio") not in ("0", "1"):
        raise ValueError("malformed has-audio")
    # Objects stored before windows were recorded have neither: ClipMeta derives them.
    window = {
        name: float(data[key])
        for name, key in (
            ("pre_event_seconds", "pre-event-seconds"),
            ("post_event_seconds", "post-event-seconds"),
        )
        if key in data
    }
    return ClipMeta.from_dict(
        {
            **window,
            "event_id": data["event-id"],
            "camera_id": data["camera-id"],
            "event_type": unquote(data["event-type"]),
            "timestamp": data["timestamp"],
            "window_start": window_start,
            "window_end": data["window-end"],
            "fps": int(data["fps"]),
            "width": int(width),
            "height": int(height),
            "duration_seconds": float(data["duration"]),
            "size_bytes": int(data["size"]),
            "sha256": data["sha256"],
            "has_audio": data["has-audio"] == "1",
            "gaps": gaps,
            "created_at": data["created-at"],
        }
    )


__all__ = ["METADATA_LIMIT", "decode_metadata", "encode_metadata", "metadata_size"]
