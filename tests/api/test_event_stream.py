"""``GET /events/stream`` through the real server: events, resuming, keep-alives, shutdown."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests.support.service import start_service
from tests.support.sse import SseFrame, events_until, sse_frames
from vms_desktop.api.routes import events
from vms_desktop.domain.clip import ClipJob, ClipStatus, Event
from vms_desktop.domain.notice import Notice, NoticeKind
from vms_desktop.runtime import Runtime

TOKEN = "stream-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
DEMO = "demo://?width=160&height=120&fps=5"


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    """One service for the module: a demo camera, a token, the API on loopback."""
    running = start_service(
        tmp_path_factory.mktemp("stream"), API_TOKEN=TOKEN, CAMERA_CAM01_URL=DEMO
    )
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def client(runtime: Runtime) -> Iterator[httpx.Client]:
    assert runtime.api is not None
    with httpx.Client(base_url=runtime.api.base_url, headers=AUTH, timeout=10) as http:
        yield http


def publish(runtime: Runtime, count: int) -> list[int]:
    """Publish ``count`` health notices; their sequences."""
    sequences = []
    for number in range(count):
        runtime.notices.publish_health({"status": "ok", "number": number})
        sequences.append(runtime.notices.last_sequence)
    return sequences


def opened(frames: Iterator[SseFrame]) -> list[SseFrame]:
    """The events sent before the stream says it is connected (the resumed ones)."""
    found = []
    for frame in frames:
        if frame.comment == "connected":
            return found
        if frame.comment is None:
            found.append(frame)
    raise AssertionError("the stream ended before it was connected")


def test_the_stream_needs_the_token(runtime: Runtime) -> None:
    assert runtime.api is not None
    answer = httpx.get(f"{runtime.api.base_url}/events/stream", timeout=10)
    assert answer.status_code == 401


def test_notices_arrive_as_events_with_sequence_kind_and_json(
    runtime: Runtime, client: httpx.Client
) -> None:
    with client.stream("GET", "/events/stream") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        frames = sse_frames(response)
        assert opened(frames) == []
        sequences = publish(runtime, 3)
        received = events_until(frames, 3)
    assert [int(frame.id or 0) for frame in received] == sequences
    assert {frame.event for frame in received} == {"health"}
    assert [frame.json["number"] for frame in received] == [0, 1, 2]


def test_resuming_gets_exactly_the_missed_notices(runtime: Runtime, client: httpx.Client) -> None:
    seen = publish(runtime, 2)[-1]
    missed = publish(runtime, 4)
    headers = {"Last-Event-ID": str(seen)}
    with client.stream("GET", "/events/stream", headers=headers) as response:
        frames = sse_frames(response)
        assert [int(frame.id or 0) for frame in opened(frames)] == missed
        live = publish(runtime, 1)
        assert [int(frame.id or 0) for frame in events_until(frames, 1)] == live
    # The same by query parameter, for clients that cannot set headers.
    with client.stream("GET", f"/events/stream?last_event_id={missed[1]}") as response:
        assert [int(frame.id or 0) for frame in opened(sse_frames(response))] == [
            *missed[2:],
            *live,
        ]


def test_a_resume_point_no_longer_held_is_answered_with_a_reset(
    runtime: Runtime, client: httpx.Client
) -> None:
    current = publish(runtime, 1)[-1]
    with client.stream("GET", "/events/stream", headers={"Last-Event-ID": "99999999"}) as response:
        resumed = opened(sse_frames(response))
    assert [frame.event for frame in resumed] == ["reset"]
    assert resumed[0].json == {"last_event_id": 99999999, "current": current}
    bad = client.get("/events/stream", headers={"Last-Event-ID": "yesterday"})
    assert bad.status_code == 422


def test_an_idle_stream_gets_keep_alive_comments(
    runtime: Runtime, client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(events, "KEEP_ALIVE_SECONDS", 0.2)
    with client.stream("GET", "/events/stream") as response:
        frames = sse_frames(response)
        opened(frames)
        assert next(frames).comment == "keep-alive"


def test_a_clip_notice_carries_the_job_json(runtime: Runtime, client: httpx.Client) -> None:
    at = datetime(2025, 5, 31, 10, 0, tzinfo=UTC)
    job = ClipJob(Event("ev-stream", "cam01", "motion", at), ClipStatus.ENCODING, 0.5)
    with client.stream("GET", "/events/stream") as response:
        frames = sse_frames(response)
        opened(frames)
        runtime.notices.publish_job(job)
        (frame,) = events_until(frames, 1)
    assert frame.event == "clip"
    assert frame.json["event_id"] == "ev-stream" and frame.json["status"] == "encoding"
    assert frame.json["status_url"] == "/clips/ev-stream"


def test_a_client_too_far_behind_is_dropped_without_slowing_the_publisher(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(events, "CLIENT_QUEUE", 5)

    async def scenario() -> tuple[list[int], bool, float]:
        client = events.ClientQueue(asyncio.get_running_loop())
        at = datetime(2025, 5, 31, tzinfo=UTC)
        began = time.monotonic()

        def publisher() -> None:
            for number in range(1, 51):
                client.offer(Notice(number, NoticeKind.HEALTH, "service", at, health={}))

        thread = threading.Thread(target=publisher)
        thread.start()
        thread.join()
        spent = time.monotonic() - began
        got: list[int] = []
        while (item := await client.queue.get()) is not None:
            got.append(item.sequence)
        return got, client.overflowed, spent

    got, overflowed, spent = asyncio.run(scenario())
    assert got == [1, 2, 3, 4, 5] and overflowed
    assert spent < 1.0


def test_shutdown_ends_open_streams_at_once(tmp_path: Path) -> None:
    running = start_service(tmp_path, CAMERA_CAM01_URL=DEMO)
    try:
        assert running.api is not None
        base = running.api.base_url
        connected = threading.Event()
        ended = threading.Event()

        def listen() -> None:
            with httpx.stream("GET", f"{base}/events/stream", timeout=30) as response:
                for frame in sse_frames(response):
                    if frame.comment == "connected":
                        connected.set()
            ended.set()

        listener = threading.Thread(target=listen, daemon=True)
        listener.start()
        assert connected.wait(10)
        began = time.monotonic()
        running.api.stop()
        assert ended.wait(5)
        assert time.monotonic() - began < 3.0
    finally:
        running.stop()
