"""Starting the application as a user does: ``python -m vms_desktop`` in a folder of its own."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.support.ports import free_port
from tests.support.waiting import wait_until

# Settings a developer's shell may hold that must not leak into a test's application.
_USER_SETTINGS = (
    "CAMERA_",
    "VIDEO_",
    "S3_",
    "AWS_",
    "API_",
    "BUFFER_",
    "CLIP_",
    "LOG_",
    "RECORDING_",
    "MQTT_",
    "WEBHOOK_",
)


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


@contextmanager
def headless_app(workdir: Path, environ: dict[str, str]) -> Iterator[httpx.Client]:
    """``python -m vms_desktop --headless`` and a client of its API once it answers."""
    # Its log goes to a file: a pipe nobody reads while it runs could fill and stall it.
    log_path = workdir / "headless.log"
    with log_path.open("a") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "vms_desktop", "--headless"],
            cwd=workdir,
            env=environ,
            stderr=log_file,
            text=True,
        )
    client = httpx.Client(base_url=f"http://127.0.0.1:{environ['API_PORT']}", timeout=30)

    def answering() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"the application exited: {log_path.read_text()}")
        try:
            return client.get("/health").status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_until(answering, 60, "the API answering", poll=0.2)
        yield client
    finally:
        client.close()
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        output = log_path.read_text()
        assert process.returncode == 0, output
        assert "Traceback" not in output
