"""Bookmarks through the application as a user starts it: posted, listed after a restart,
deleted, over HTTP.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx

from tests.support.app import app_environment
from tests.support.waiting import wait_until


@contextmanager
def headless(workdir: Path, environ: dict[str, str]) -> Iterator[httpx.Client]:
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


def test_a_bookmark_is_posted_kept_across_a_restart_and_deleted(tmp_path: Path) -> None:
    environ = app_environment(tmp_path)
    moment = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    with headless(tmp_path, environ) as client:
        made = client.post(
            "/bookmarks",
            json={"camera_id": "demo", "timestamp": moment, "note": "gate", "protect": True},
        )
        assert made.status_code == 201, made.text
        bookmark = made.json()
        assert made.headers["location"] == f"/bookmarks/{bookmark['id']}"
        assert client.get("/bookmarks", params={"camera_id": "demo"}).json()["items"] == [bookmark]

    with headless(tmp_path, environ) as client:
        listed = client.get("/bookmarks").json()
        assert listed["items"] == [bookmark] and listed["total"] == 1
        assert client.delete(f"/bookmarks/{bookmark['id']}").status_code == 204
        assert client.get("/bookmarks").json()["total"] == 0
        assert client.delete(f"/bookmarks/{bookmark['id']}").status_code == 404
