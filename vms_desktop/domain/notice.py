"""What the engine tells the outside world: a numbered notice of a job, camera or health change."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from vms_desktop.domain.camera import CameraStatus
from vms_desktop.domain.clip import ClipJob


class NoticeKind(enum.StrEnum):
    """What a notice is about."""

    CLIP = "clip"  # a job changed state (pending, recording, encoding, uploading, ready, failed)
    CAMERA = "camera"  # a camera's state changed (connecting, recording, offline, ...)
    HEALTH = "health"  # a periodic or changed health snapshot


@dataclass(frozen=True)
class Notice:
    """One change, numbered in the order this process saw it."""

    sequence: int  # 1, 2, 3, ... within this process (the SSE event id)
    kind: NoticeKind
    subject: str  # event id (CLIP), camera id (CAMERA), "service" (HEALTH)
    at: datetime  # UTC, when it happened
    job: ClipJob | None = None  # CLIP
    camera: CameraStatus | None = None  # CAMERA
    health: Mapping[str, Any] | None = None  # HEALTH: the /health JSON


HEALTH_SUBJECT = "service"

__all__ = ["HEALTH_SUBJECT", "Notice", "NoticeKind"]
