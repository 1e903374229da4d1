"""The one translation of errors to HTTP answers: statuses, bodies and headers, none leaking."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any, cast

import httpx
import pytest
from fastapi import FastAPI

from tests.support.factories import WHEN, clip_record
from vms_desktop.api.app import ApiOptions, create_app, release
from vms_desktop.api.errors import answer_for
from vms_desktop.api.offload import PoolFullError
from vms_desktop.domain.clip import ClipJob, ClipStatus, Event, iso
from vms_desktop.domain.errors import (
    CatalogueError,
    ClipNotFoundError,
    EventConflictError,
    InvalidLinkError,
    NoFootageError,
    ServiceBusyError,
    StoreError,
    StoreUnavailableError,
    UnknownCameraError,
)
from vms_desktop.engine.clip_service import ClipService


@pytest.mark.parametrize(
    ("error", "status", "detail", "headers"),
    [
        (ClipNotFoundError("ev-1"), 404, "no such clip", {}),
        (UnknownCameraError("cam99"), 404, "unknown camera 'cam99'", {}),
        (InvalidLinkError("bad signature"), 403, "the link is invalid or has expired", {}),
        (EventConflictError("event id ev-1 is taken"), 409, "event id ev-1 is taken", {}),
        (NoFootageError("no footage then"), 422, "no footage then", {}),
        (
            ServiceBusyError(retry_after=7),
            429,
            "too many clips in progress; retry in 7 s",
            {"retry-after": "7"},
        ),
        (StoreUnavailableError("S3 is down"), 503, "S3 is down", {"retry-after": "10"}),
        (
            PoolFullError("the store pool is full"),
            503,
            "the service is busy; try again shortly",
            {"retry-after": "5"},
        ),
        (StoreError("the bucket refused"), 502, "the bucket refused", {}),
        # A subclass without an entry of its own is answered as its nearest listed base.
        (CatalogueError("the catalogue failed"), 502, "the catalogue failed", {}),
    ],
)
def test_each_error_has_one_answer(
    error: Exception, status: int, detail: str, headers: dict[str, str]
) -> None:
    answer = answer_for(error)
    assert answer is not None
    assert answer.status_code == status
    assert json.loads(answer.body) == {"detail": detail}
    for name, value in headers.items():
        assert answer.headers[name] == value


def test_errors_outside_the_table_have_no_answer_of_their_own() -> None:
    assert answer_for(RuntimeError("/var/lib/secret")) is None
    assert answer_for(KeyError("x")) is None
    assert answer_for(ValueError("x")) is None


class _ScriptedService:
    """Answers the calls the routes make as a test scripts them."""

    def __init__(self) -> None:
        self.job: ClipJob | None = None
        self.listing_error: Exception | None = None
        self.generate_error: Exception | None = None

    def local_lookup(self, event_id: str) -> tuple[Any, ClipJob | None]:
        return None, self.job

    def lookup_store(self, event_id: str) -> Any:
        return None

    def clips(self, query: Any) -> Any:
        assert self.listing_error is not None
        raise self.listing_error

    def generate(
        self, event: Event, *, pre_seconds: float | None = None, post_seconds: float | None = None
    ) -> Any:
        assert self.generate_error is not None
        raise self.generate_error

    def delete(self, event_id: str) -> bool:
        return False


class _Client:
    """Sends requests to an app in this process, each on an event loop of its own."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        async def send() -> httpx.Response:
            # Unexpected errors are answered 500 by the app, then raised again for servers to
            # log: the answer is what is checked here.
            transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=False)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://testserver"
            ) as client:
                return await client.request(method, path, **kwargs)

        return asyncio.run(send())

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", path, **kwargs)


@pytest.fixture
def scripted() -> Iterator[tuple[_ScriptedService, _Client]]:
    service = _ScriptedService()
    app = create_app(cast(ClipService, service), ApiOptions(allowed_hosts={"testserver"}))
    yield service, _Client(app)
    release(app)


def _generate_body() -> dict[str, Any]:
    return {
        "event": {
            "id": "ev-1",
            "camera_id": "cam01",
            "event_type": "motion",
            "timestamp": "2025-05-31T10:00:00Z",
        }
    }


def test_routes_answer_through_the_translation(
    scripted: tuple[_ScriptedService, _Client],
) -> None:
    service, client = scripted
    service.generate_error = UnknownCameraError("cam01")
    unknown = client.post("/clips/generate", json=_generate_body())
    assert (unknown.status_code, unknown.json()) == (404, {"detail": "unknown camera 'cam01'"})
    service.generate_error = ServiceBusyError(retry_after=3)
    busy = client.post("/clips/generate", json=_generate_body())
    assert busy.status_code == 429 and busy.headers["retry-after"] == "3"
    # The service refuses an event it cannot take with a ValueError: 422 with its reason.
    service.generate_error = ValueError("timestamp is more than an hour in the future")
    future = client.post("/clips/generate", json=_generate_body())
    assert future.status_code == 422
    assert future.json() == {"detail": "timestamp is more than an hour in the future"}

    missing = client.get("/clips/ev-1/url")
    assert (missing.status_code, missing.json()) == (404, {"detail": "no clip for event 'ev-1'"})
    gone = client.delete("/clips/ev-1")
    assert (gone.status_code, gone.json()) == (404, {"detail": "no clip for event 'ev-1'"})


def test_a_clip_not_ready_is_answered_with_its_job(
    scripted: tuple[_ScriptedService, _Client],
) -> None:
    service, client = scripted
    event = clip_record("ev-1").event
    service.job = ClipJob(event, ClipStatus.RECORDING, 0.5)
    pending = client.get("/clips/ev-1", follow_redirects=False)
    assert pending.status_code == 202 and pending.headers["retry-after"] == "1"
    assert pending.json()["status"] == "recording" and pending.json()["progress"] == 0.5
    service.job = ClipJob(event, ClipStatus.FAILED, 0.0, error="no footage")
    failed = client.get("/clips/ev-1/url")
    assert failed.status_code == 410 and failed.json()["error"] == "no footage"
    assert failed.json()["timestamp"] == iso(WHEN)


def test_an_unexpected_error_is_500_without_its_text(
    scripted: tuple[_ScriptedService, _Client], caplog: pytest.LogCaptureFixture
) -> None:
    service, client = scripted
    service.listing_error = RuntimeError("cannot open /var/lib/vms/catalogue.sqlite3")
    response = client.get("/clips")
    assert (response.status_code, response.json()) == (500, {"detail": "internal error"})
    assert "catalogue.sqlite3" not in response.text
    assert "catalogue.sqlite3" in caplog.text  # the log keeps what the client is not told
