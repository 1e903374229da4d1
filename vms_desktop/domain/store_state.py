"""What a clip store tells its users: a clip's time-limited URL and whether the store answers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

MAX_URL_EXPIRY = timedelta(days=7)  # S3's limit for SigV4 presigned URLs


@dataclass(frozen=True)
class StoreHealth:
    """Whether the store works now, for ``/health`` and the status bar."""

    backend: str
    reachable: bool
    detail: str = ""


@dataclass(frozen=True)
class ClipUrl:
    """A time-limited URL for a clip's bytes."""

    url: str
    expires_at: datetime


__all__ = ["MAX_URL_EXPIRY", "ClipUrl", "StoreHealth"]
