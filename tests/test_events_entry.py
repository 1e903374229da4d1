"""Notices through the application as a user starts it: a clip ends in a signed webhook and an
event on ``/events/stream``; the webhook queue outlives a restart of the service.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.app import app_environment, headless_app
from tests.support.factories import WHEN
from tests.support.service import start_service
from tests.support.sse import SseFrame, sse_frames
from tests.support.waiting import wait_until
from tests.support.webhook_receiver import WebhookReceiver
from vms_desktop.domain.clip import ClipJob, ClipStatus, Event

SECRET = "Hq3-Zt8_wN5pK1vR6yB2"


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    running = WebhookReceiver().start()
    yield running
    running.stop()


def test_a_generated_clip_ends_in_a_signed_webhook_and_a_stream_event(
    tmp_path: Path, receiver: WebhookReceiver
) -> None:
    environ = app_environment(
        tmp_path,
        WEBHOOK_URLS=receiver.url,
        WEBHOOK_SECRET=SECRET,
        PRE_EVENT_BUFFER_SECONDS="1",
        POST_EVENT_BUFFER_SECONDS="1",
        CLIP_DURATION_SECONDS="2",
    )
    with headless_app(tmp_path, environ) as client:
        wait_until(
            lambda: client.get("/cameras").json()[0]["buffer"]["seconds"] >= 2,
            30,
            "two seconds of demo footage",
            poll=0.2,
        )
        frames: list[SseFrame] = []
        connected = threading.Event()

        stream_url = f"http://127.0.0.1:{environ['API_PORT']}/events/stream"

        def listen() -> None:
            # Its own connection: the stream ends when the service shuts down.
            with httpx.stream("GET", stream_url, timeout=60) as response:
                for frame in sse_frames(response):
                    frames.append(frame)
                    connected.set()

        threading.Thread(target=listen, daemon=True).start()
        assert connected.wait(10)
        stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        event = {"id": "hook-1", "camera_id": "demo", "event_type": "motion", "timestamp": stamp}
        made = client.post("/clips/generate", json={"event": event})
        assert made.status_code == 202, made.text

        def ready_hook() -> list[dict[str, object]]:
            return [body for body in receiver.bodies() if body["type"] == "clip.ready"]

        (hook,) = wait_until(ready_hook, 60, "the clip.ready webhook", poll=0.2)
        request = next(r for r in receiver.received if r.json["type"] == "clip.ready")
        assert request.signed_by(SECRET)
        data = hook["data"]
        assert isinstance(data, dict)
        assert data["event_id"] == "hook-1" and data["status"] == "ready"
        clip = httpx.get(str(data["url"]), timeout=10)
        assert clip.status_code == 200 and clip.content[4:8] == b"ftyp"
        assert clip.headers.get("content-length") == str(data["clip"]["size_bytes"])  # type: ignore[index]

        def ready_event() -> list[SseFrame]:
            return [f for f in list(frames) if f.event == "clip" and f.json["status"] == "ready"]

        (streamed,) = wait_until(ready_event, 10, "the ready clip on the stream")
        assert streamed.json["event_id"] == "hook-1"
        assert streamed.json["clip"] == data["clip"]
        states = [f.json["status"] for f in frames if f.event == "clip"]
        assert states[0] in ("pending", "recording") and states[-1] == "ready"


def test_the_webhook_queue_outlives_a_restart_of_the_service(tmp_path: Path) -> None:
    receiver = WebhookReceiver()  # down while the first service runs
    first = start_service(tmp_path, WEBHOOK_URLS=receiver.url, with_api=False)
    try:
        job = ClipJob(Event("gone-1", "demo", "motion", WHEN), ClipStatus.FAILED, error="test")
        first.notices.publish_job(job)
        assert first.webhooks is not None
        queue = first.webhooks.queue
        wait_until(lambda: queue.heads() and queue.heads()[0].attempts >= 1, 10, "a try")
    finally:
        first.stop()
    receiver.start()
    second = start_service(tmp_path, WEBHOOK_URLS=receiver.url, with_api=False)
    try:
        wait_until(lambda: clip_hooks(receiver), 15, "the queued webhook")
        later = ClipJob(Event("gone-2", "demo", "motion", WHEN), ClipStatus.FAILED, error="x")
        second.notices.publish_job(later)
        wait_until(lambda: len(clip_hooks(receiver)) >= 2, 15, "the new webhook")
    finally:
        second.stop()
        receiver.stop()
    assert [(b["type"], b["data"]["event_id"]) for b in clip_hooks(receiver)] == [
        ("clip.failed", "gone-1"),
        ("clip.failed", "gone-2"),
    ]
    # Camera changes are sent too; every sequence once, increasing across the restart.
    sequences = [b["sequence"] for b in receiver.bodies()]
    assert sequences == sorted(set(sequences))
    assert {b["type"] for b in receiver.bodies()} == {"clip.failed", "camera.state"}


def clip_hooks(receiver: WebhookReceiver) -> list[dict[str, Any]]:
    """The clip webhooks received, in order."""
    return [body for body in receiver.bodies() if body["type"].startswith("clip.")]
