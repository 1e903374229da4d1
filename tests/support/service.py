"""Settings for a whole service in a test's own folder, and starting it."""

from __future__ import annotations

from pathlib import Path

from tests.support.ports import free_port
from vms_desktop.engine.clock import WallClock
from vms_desktop.runtime import Runtime, build_runtime
from vms_desktop.settings import load_settings


def service_environment(base: Path, **overrides: str) -> dict[str, str]:
    """Environment for a service under ``base``: local storage, a free API port, 2 s clips."""
    environ = {
        "LOCAL_STORAGE_PATH": str(base / "clips"),
        "BUFFER_PATH": str(base / "buffer"),
        "STATE_PATH": str(base / "state"),
        "API_PORT": str(free_port()),
        "PRE_EVENT_BUFFER_SECONDS": "1",
        "POST_EVENT_BUFFER_SECONDS": "1",
        "CLIP_DURATION_SECONDS": "2",
    }
    environ.update(overrides)
    return environ


def start_service(
    base: Path, *, with_api: bool = True, clock: WallClock | None = None, **overrides: str
) -> Runtime:
    """A started runtime configured by :func:`service_environment` (stop it when done)."""
    runtime = build_runtime(
        load_settings(env_files=[], environ=service_environment(base, **overrides)), clock=clock
    )
    runtime.start(with_api=with_api)
    return runtime
