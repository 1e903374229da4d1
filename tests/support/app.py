"""Starting the application as a user does: ``python -m vms_desktop`` in a folder of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.ports import free_port

# Settings a developer's shell may hold that must not leak into a test's application.
_USER_SETTINGS = ("CAMERA_", "VIDEO_", "S3_", "AWS_", "API_", "BUFFER_", "CLIP_", "LOG_")


def app_environment(workdir: Path, **extra: str) -> dict[str, str]:
    """A user with nothing configured, whose home, folders and API port are under ``workdir``."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(_USER_SETTINGS)}
    env.update(HOME=str(workdir / "home"), XDG_CONFIG_HOME=str(workdir / "config"))
    env.update(BUFFER_PATH=str(workdir / "buffer"), LOCAL_STORAGE_PATH=str(workdir / "clips"))
    env.update(API_PORT=str(free_port()), STATE_PATH=str(workdir / "state"))
    env.update(extra)
    return env


def run_app(
    workdir: Path, *args: str, timeout: float = 60, **extra: str
) -> subprocess.CompletedProcess[str]:
    """``python -m vms_desktop ARGS`` in ``workdir`` as a user with nothing configured."""
    return subprocess.run(
        [sys.executable, "-m", "vms_desktop", *args],
        cwd=workdir,
        env=app_environment(workdir, **extra),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
