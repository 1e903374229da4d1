"""Camera configuration and the recording states a camera can be in."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from vms_desktop.domain.redaction import redact_url


class CameraState(enum.StrEnum):
    """What a camera's ingest worker is doing now."""

    CONNECTING = "connecting"
    RECORDING = "recording"
    RECONNECTING = "reconnecting"
    OFFLINE = "offline"
    AUTH_FAILED = "auth_failed"
    STOPPED = "stopped"


@dataclass(frozen=True)
class CameraConfig:
    """One configured camera: its id (lower case), its source URL and a display name.

    The URL may carry credentials, so it is left out of ``repr`` and only ever shown through
    :attr:`display_url`.
    """

    id: str
    url: str = field(repr=False)
    name: str = ""

    @property
    def display_url(self) -> str:
        """The source URL with any credentials removed, safe for logs and screens."""
        return redact_url(self.url)

    @property
    def label(self) -> str:
        """Name for people: the configured name, else the id."""
        return self.name or self.id


@dataclass(frozen=True)
class CameraStatus:
    """A snapshot of one camera's ingest, safe to show anywhere (the reason is redacted)."""

    camera_id: str
    state: CameraState
    reason: str = ""
    since: float = 0.0
    fps: float = 0.0
    width: int = 0
    height: int = 0
    codec: str = ""
    has_audio: bool = False
    last_packet_at: float | None = None
    reconnects: int = 0
