"""A running service (engine, store, catalogue, API on a free port) for API tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fastapi.routing
import httpx
import pytest

from tests.support.ports import free_port
from tests.support.seaweedfs import s3_environment
from tests.support.waiting import wait_until
from vms_desktop.engine.clock import WallClock
from vms_desktop.runtime import Runtime, build_runtime
from vms_desktop.settings import load_settings


@dataclass
class Running:
    """A started runtime and an HTTP client pointed at its API."""

    runtime: Runtime
    client: httpx.Client
    base_url: str
    tmp: Path

    def stored_ids(self) -> list[str]:
        """Event ids of the clips in the store itself (not the catalogue)."""
        return sorted(meta.event_id for meta in self.runtime.store.iter_all())

    def wait_ready(self, event_id: str, timeout: float = 60.0) -> dict[str, Any]:
        """Poll ``GET /clips/{id}/url`` until the clip is ready; returns the URL body."""

        def link() -> dict[str, Any] | None:
            response = self.client.get(f"/clips/{event_id}/url")
            if response.status_code == 200:
                body: dict[str, Any] = response.json()
                return body
            assert response.status_code == 202, response.text
            return None

        return wait_until(link, timeout, f"clip {event_id} ready", poll=0.2)


ServiceFactory = Callable[..., Running]


@pytest.fixture(params=["local", "s3"])
def store_kind(request: pytest.FixtureRequest) -> str:
    """Runs a test once per clip store: the local folder and S3 (a real SeaweedFS server)."""
    return str(request.param)


@pytest.fixture
def make_service(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[ServiceFactory]:
    """Starts services with settings given as environment variables; stops them after.

    ``store="s3"`` puts the clips in a fresh bucket of the session's SeaweedFS server;
    ``clock`` runs the service as if at another moment.
    """
    started: list[Running] = []

    def make(
        env: dict[str, str] | None = None,
        *,
        token: str | None = None,
        store: str = "local",
        clock: WallClock | None = None,
    ) -> Running:
        port = free_port()
        base = tmp_path / f"svc{len(started)}"
        environ = {
            "VIDEO_STORAGE_TYPE": "local",
            "LOCAL_STORAGE_PATH": str(base / "clips"),
            "BUFFER_PATH": str(base / "buffer"),
            "STATE_PATH": str(base / "state"),
            "API_PORT": str(port),
            "PRE_EVENT_BUFFER_SECONDS": "2",
            "POST_EVENT_BUFFER_SECONDS": "2",
            "CLIP_DURATION_SECONDS": "4",
            "CAMERA_CONNECT_TIMEOUT_SECONDS": "5",
            "CAMERA_STALL_TIMEOUT_SECONDS": "3",
        }
        if token:
            environ["API_TOKEN"] = token
        if store == "s3":
            environ.update(s3_environment(request.getfixturevalue("seaweedfs")))
        environ.update(env or {})
        settings = load_settings(env_files=[], environ=environ)
        runtime = build_runtime(settings, clock=clock)
        runtime.start()
        assert runtime.api is not None
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        client = httpx.Client(base_url=runtime.api.base_url, headers=headers, timeout=60)
        running = Running(runtime, client, runtime.api.base_url, base)
        started.append(running)
        return running

    yield make
    for running in started:
        running.client.close()
        running.runtime.stop()


def wait_recording(running: Running, camera_id: str, seconds: float, timeout: float = 30) -> None:
    """Wait until a camera's buffer holds ``seconds`` of footage."""
    buffer = running.runtime.recorder.buffer(camera_id)

    def recorded() -> bool:
        oldest, newest = buffer.oldest, buffer.newest
        return oldest is not None and newest is not None and newest - oldest >= seconds

    wait_until(recorded, timeout, f"camera {camera_id} recording {seconds} s", poll=0.1)


def served_routes(app: Any) -> list[Any]:
    """Every route ``app`` serves, those of the routers it includes too.

    Since FastAPI 0.137 an included router is one entry of ``app.routes``, which
    ``iter_route_contexts`` walks into; earlier versions list the included routes themselves.
    """
    walk = getattr(fastapi.routing, "iter_route_contexts", None)
    return list(walk(app.routes)) if walk is not None else list(app.routes)
