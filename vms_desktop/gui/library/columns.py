"""The clip table's columns, item roles and cell texts."""

from __future__ import annotations

import enum
from typing import Any

from PySide6.QtCore import Qt

from vms_desktop.domain.clip import ClipMeta
from vms_desktop.gui.time_text import local_time_text

ClipRole = int(Qt.ItemDataRole.UserRole) + 1
"""The row's :class:`ClipMeta` (any column)."""
ThumbnailRole = int(Qt.ItemDataRole.UserRole) + 2
"""The row's thumbnail ``QImage`` once made, else None (asking for it starts making it)."""
ThumbnailStateRole = int(Qt.ItemDataRole.UserRole) + 3
"""A :class:`ThumbnailState` saying why there is no thumbnail yet."""
SortRole = int(Qt.ItemDataRole.UserRole) + 4
"""A plain number or string the proxy sorts the column by."""


class ClipColumn(enum.IntEnum):
    """The library table's columns."""

    TIME = 0
    CAMERA = 1
    EVENT_TYPE = 2
    DURATION = 3
    SIZE = 4
    AUDIO = 5
    GAPS = 6
    STATUS = 7


HEADERS = {
    ClipColumn.TIME: "Time",
    ClipColumn.CAMERA: "Camera",
    ClipColumn.EVENT_TYPE: "Event",
    ClipColumn.DURATION: "Duration",
    ClipColumn.SIZE: "Size",
    ClipColumn.AUDIO: "Audio",
    ClipColumn.GAPS: "Gaps",
    ClipColumn.STATUS: "Status",
}
NUMERIC_COLUMNS = frozenset({ClipColumn.DURATION, ClipColumn.SIZE, ClipColumn.GAPS})
RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
LEFT = int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)


class ThumbnailState(enum.StrEnum):
    """Where a row's thumbnail is."""

    UNAVAILABLE = "unavailable"  # the model has no thumbnail maker
    PENDING = "pending"
    READY = "ready"
    FAILED = "failed"


def _human_size(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"


def _gap_seconds(meta: ClipMeta) -> float:
    return sum((gap.end - gap.start).total_seconds() for gap in meta.gaps)


def display_text(meta: ClipMeta, column: ClipColumn, status: str) -> str:
    """The text of a clip's cell (``status``: the status column's text)."""
    match column:
        case ClipColumn.TIME:
            return local_time_text(meta.event.timestamp)
        case ClipColumn.CAMERA:
            return meta.event.camera_id
        case ClipColumn.EVENT_TYPE:
            return meta.event.event_type
        case ClipColumn.DURATION:
            return f"{meta.duration:.1f} s"
        case ClipColumn.SIZE:
            return _human_size(meta.size)
        case ClipColumn.AUDIO:
            return "yes" if meta.has_audio else "no"
        case ClipColumn.GAPS:
            if not meta.gaps:
                return "none"
            return f"{len(meta.gaps)} ({_gap_seconds(meta):.1f} s)"
        case ClipColumn.STATUS:
            return status


def sort_value(meta: ClipMeta, column: ClipColumn, status: str) -> Any:
    """The plain number or string a clip's cell sorts by."""
    match column:
        case ClipColumn.TIME:
            return meta.event.timestamp.timestamp()
        case ClipColumn.CAMERA:
            return meta.event.camera_id
        case ClipColumn.EVENT_TYPE:
            return meta.event.event_type
        case ClipColumn.DURATION:
            return meta.duration
        case ClipColumn.SIZE:
            return float(meta.size)  # a double: sizes may pass 2 GiB
        case ClipColumn.AUDIO:
            return int(meta.has_audio)
        case ClipColumn.GAPS:
            return _gap_seconds(meta)
        case ClipColumn.STATUS:
            return status
