"""Webhooks to a real HTTP receiver: signed, in order, retried, bounded, durable."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.support.factories import WHEN
from tests.support.waiting import wait_until
from tests.support.webhook_receiver import WebhookReceiver
from vms_desktop.domain.camera import CameraState, CameraStatus
from vms_desktop.domain.clip import ClipJob, ClipStatus, Event
from vms_desktop.domain.notice import Notice
from vms_desktop.engine.notices import NoticeHub
from vms_desktop.engine.webhooks import RetryPolicy, WebhookSender, signature
from vms_desktop.storage.webhook_queue import WebhookQueue

SECRET = "Vq8-kP2zR7_mW4xT9bL1"
FAST = RetryPolicy(first=0.05, cap=0.2)
EXPECTED_HEX = "22a6033f7539eb633a3c8481fdd709ee0f24699861a70dc2c438f4c76efaac8e"


def render(notice: Notice) -> dict[str, Any]:
    """A notice's JSON for these tests: what it is about."""
    return {"subject": notice.subject}


def job(event_id: str, status: ClipStatus = ClipStatus.READY) -> ClipJob:
    return ClipJob(Event(event_id, "cam01", "motion", WHEN), status, updated_at=WHEN)


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    running = WebhookReceiver().start()
    yield running
    running.stop()


def sender_for(path: Path, *urls: str, **options: Any) -> tuple[NoticeHub, WebhookSender]:
    hub = NoticeHub(now=lambda: WHEN)
    sender = WebhookSender(
        WebhookQueue(path / "webhooks.sqlite3", urls), render, retry=FAST, **options
    )
    hub.subscribe(sender.on_notice)
    return hub, sender


def test_clip_outcomes_and_camera_changes_arrive_signed_and_in_order(
    tmp_path: Path, receiver: WebhookReceiver
) -> None:
    hub, sender = sender_for(tmp_path, receiver.url, secret=SECRET)
    sender.start()
    try:
        hub.publish_job(job("ev-1", ClipStatus.ENCODING))  # still running: not sent
        hub.publish_job(job("ev-1"))
        hub.publish_camera(CameraStatus("cam01", CameraState.OFFLINE, reason="refused"))
        hub.publish_health({"status": "ok"})  # not sent
        hub.publish_job(job("ev-2", ClipStatus.FAILED))
        wait_until(lambda: len(receiver.received) >= 3, 10, "three webhooks")
        wait_until(lambda: sender.queue.waiting() == 0, 10, "the queue drained")
    finally:
        sender.stop()
    bodies = receiver.bodies()
    assert [(b["type"], b["sequence"], b["data"]["subject"]) for b in bodies] == [
        ("clip.ready", 1, "ev-1"),
        ("camera.state", 2, "cam01"),
        ("clip.failed", 3, "ev-2"),
    ]
    assert all(b["at"] == "2025-05-31T10:00:00.000Z" for b in bodies)
    assert all(request.signed_by(SECRET) for request in receiver.received)
    assert not receiver.received[0].signed_by("another-secret-value-123")
    assert receiver.received[0].headers["content-type"] == "application/json"


def test_the_signature_is_hmac_of_timestamp_dot_body() -> None:
    # Checked with openssl, as a receiver in another language would:
    # printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac whsec-example-1234
    assert signature("whsec-example-1234", 1700000000, b'{"a":1}') == (
        "t=1700000000,v1=" + EXPECTED_HEX
    )


def test_a_receiver_down_then_back_gets_everything_once_in_order(tmp_path: Path) -> None:
    receiver = WebhookReceiver()  # not listening yet
    hub, sender = sender_for(tmp_path, receiver.url)
    sender.start()
    try:
        for number in range(5):
            hub.publish_job(job(f"ev-{number}"))
        wait_until(
            lambda: any(d.attempts >= 2 for d in sender.queue.heads()), 10, "failed attempts"
        )
        assert sender.queue.waiting() == 5
        receiver.start()
        wait_until(lambda: sender.queue.waiting() == 0, 10, "the queue drained")
    finally:
        sender.stop()
        receiver.stop()
    assert [body["sequence"] for body in receiver.bodies()] == [1, 2, 3, 4, 5]


def test_server_errors_and_timeouts_retry_and_client_errors_are_refused_for_good(
    tmp_path: Path, receiver: WebhookReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.answer_next(503, 429, 200, 400, 408, 200)
    hub, sender = sender_for(tmp_path, receiver.url)
    sender.start()
    try:
        hub.publish_job(job("ev-a"))  # 503, 429, then accepted
        hub.publish_job(job("ev-b"))  # 400: refused, not sent again
        hub.publish_job(job("ev-c"))  # 408, then accepted
        wait_until(lambda: sender.queue.waiting() == 0 and len(receiver.received) == 6, 10)
    finally:
        sender.stop()
    assert [body["data"]["subject"] for body in receiver.bodies()] == [
        "ev-a",
        "ev-a",
        "ev-a",
        "ev-b",
        "ev-c",
        "ev-c",
    ]
    assert "refused (HTTP 400)" in caplog.text


def test_each_url_gets_its_own_copy(tmp_path: Path, receiver: WebhookReceiver) -> None:
    second = WebhookReceiver().start()
    hub, sender = sender_for(tmp_path, receiver.url, second.url)
    sender.start()
    try:
        hub.publish_job(job("ev-1"))
        wait_until(lambda: receiver.received and second.received, 10, "both deliveries")
    finally:
        sender.stop()
        second.stop()
    assert receiver.bodies() == second.bodies()


def test_the_queue_is_bounded_per_url_dropping_the_oldest(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    queue = WebhookQueue(tmp_path / "q.sqlite3", ["http://127.0.0.1:9/a"], max_per_url=3)
    for _ in range(5):
        queue.add(lambda sequence: str(sequence).encode())
    assert queue.waiting() == 3
    assert [d.sequence for d in queue.heads()] == [3]
    assert "dropped the 1 oldest" in caplog.text
    queue.close()


def test_the_queue_survives_a_restart_and_forgets_urls_no_longer_configured(
    tmp_path: Path, receiver: WebhookReceiver
) -> None:
    path = tmp_path / "webhooks.sqlite3"
    hub, sender = sender_for(tmp_path, receiver.url, "http://user:pw-secret-1@127.0.0.1:9/gone")
    hub.publish_job(job("ev-1"))  # never started: filed at stop
    hub.publish_job(job("ev-2"))
    sender.stop()
    reopened = WebhookQueue(path, [receiver.url])
    assert reopened.waiting() == 2
    restarted = WebhookSender(reopened, render, retry=FAST)
    restarted.start()
    try:
        wait_until(lambda: len(receiver.received) == 2, 10, "the queued webhooks")
        later = NoticeHub()
        later.subscribe(restarted.on_notice)
        later.publish_job(job("ev-3"))
        wait_until(lambda: len(receiver.received) == 3, 10, "the new webhook")
    finally:
        restarted.stop()
    # Sequences go on across the restart: a receiver drops repeats by them.
    assert [body["sequence"] for body in receiver.bodies()] == [1, 2, 3]


def test_the_listener_never_waits_for_a_receiver(tmp_path: Path) -> None:
    hub, sender = sender_for(tmp_path, "http://10.255.255.1:9/unroutable")
    began = datetime.now(UTC)
    for number in range(200):
        hub.publish_job(job(f"ev-{number}"))
    assert (datetime.now(UTC) - began).total_seconds() < 1.0
    sender.stop()
