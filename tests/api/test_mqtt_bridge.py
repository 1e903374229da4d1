"""The MQTT bridge against a real Mosquitto: events in, states out, outages, TLS, passwords."""

from __future__ import annotations

import json
import logging
import socket
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.support.mosquitto import PASSWORD, USER, MosquittoBroker, running_broker, watching
from tests.support.service import start_service
from tests.support.waiting import wait_until
from vms_desktop.api.mqtt_bridge import BridgeOptions, MqttBridge
from vms_desktop.runtime import Runtime, api_origin
from vms_desktop.settings.mqtt import parse_mqtt_url

PREFIX = "site1"
CAMERA = "demo"


def event(event_id: str, *, at: datetime | None = None, **extra: Any) -> dict[str, Any]:
    """A ``POST /clips/generate`` body."""
    moment = at or datetime.now(UTC)
    body = {
        "event": {
            "id": event_id,
            "camera_id": CAMERA,
            "event_type": "motion",
            "timestamp": moment.isoformat().replace("+00:00", "Z"),
        }
    }
    body.update(extra)
    return body


@pytest.fixture(scope="module")
def broker() -> Iterator[MosquittoBroker]:
    with running_broker() as broker:
        yield broker


@pytest.fixture(scope="module")
def runtime(broker: MosquittoBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    base = tmp_path_factory.mktemp("mqtt-service")
    runtime = start_service(
        base,
        MQTT_URL=broker.url(),
        MQTT_TOPIC_PREFIX=PREFIX,
        MQTT_CLIENT_ID="vms-test-bridge",
    )
    try:
        assert runtime.mqtt is not None
        wait_until(lambda: runtime.mqtt is not None and runtime.mqtt.connected, 10, "connected")
        yield runtime
    finally:
        runtime.stop()


def test_an_event_makes_a_job_and_its_clip_states_are_published(
    broker: MosquittoBroker, runtime: Runtime
) -> None:
    with watching(broker, f"{PREFIX}/#") as watcher:
        watcher.publish(f"{PREFIX}/events", event("mq-one"))
        wait_until(lambda: runtime.service.jobs.get("mq-one"), 10, "the job")
        ready = watcher.wait_for(
            f"{PREFIX}/clips/mq-one", lambda m: m.json()["status"] == "ready", timeout=60
        )
        body = ready.json()
        assert body["event_id"] == "mq-one" and body["url"] and body["url_expires_at"]
        states = [m.json()["status"] for m in watcher.seen(f"{PREFIX}/clips/mq-one")]
        assert states[-1] == "ready" and "encoding" in states
        # The clip is the one the API serves.
        with httpx.Client(base_url=api_origin(runtime.settings)) as client:
            assert client.get("/clips/mq-one/url").status_code == 200


def test_a_bad_payload_is_explained_and_the_listener_goes_on(
    broker: MosquittoBroker, runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    later = datetime.now(UTC) + timedelta(minutes=20)
    with watching(broker, f"{PREFIX}/errors") as watcher:
        watcher.publish(f"{PREFIX}/events", b"{not json")
        watcher.publish(f"{PREFIX}/events", {"event": {"id": "mq-bad", "camera_id": CAMERA}})
        watcher.publish(f"{PREFIX}/events", event("mq-nocam", at=later) | {"extra": 1})
        unknown = event("mq-unknown-camera", at=later)
        unknown["event"]["camera_id"] = "nosuchcam"
        watcher.publish(f"{PREFIX}/events", unknown)
        wait_until(lambda: len(watcher.seen(f"{PREFIX}/errors")) >= 4, 10, "four errors")
        bodies = [m.json() for m in watcher.seen(f"{PREFIX}/errors")]
        assert bodies[0]["status"] == 422 and bodies[0]["detail"][0]["type"] == "json_invalid"
        missing = {tuple(p["loc"]) for p in bodies[1]["detail"]}
        assert ("event", "event_type") in missing and ("event", "timestamp") in missing
        assert bodies[1]["event_id"] == "mq-bad"
        assert [p["loc"] for p in bodies[2]["detail"]] == [["extra"]]
        assert bodies[3] == {
            "status": 404,
            "detail": "unknown camera 'nosuchcam'",
            "event_id": "mq-unknown-camera",
        }
        assert "event mq-bad refused (422)" in caplog.text
        # Still listening.
        watcher.publish(f"{PREFIX}/events", event("mq-after-bad", at=later))
        wait_until(lambda: runtime.service.jobs.get("mq-after-bad"), 10, "the next job")
    assert runtime.service.jobs.get("mq-bad") is None


def test_a_redelivered_event_makes_no_second_job(broker: MosquittoBroker, runtime: Runtime) -> None:
    later = datetime.now(UTC) + timedelta(minutes=20)
    body = event("mq-twice", at=later)
    counts = _counts(runtime)
    with watching(broker, f"{PREFIX}/errors") as watcher:
        for _ in range(3):
            watcher.publish(f"{PREFIX}/events", body)
        wait_until(lambda: runtime.service.jobs.get("mq-twice"), 10, "the job")
        # The two repeats are answered by the service after the first: wait for an event
        # published after them to be taken, then count.
        watcher.publish(f"{PREFIX}/events", event("mq-twice-marker", at=later))
        wait_until(lambda: runtime.service.jobs.get("mq-twice-marker"), 10, "the marker job")
        assert watcher.seen(f"{PREFIX}/errors") == []
    assert _counts(runtime) - counts == Counter(accepted=2, repeated=2)


def test_availability_is_retained_and_the_last_will_says_offline(
    broker: MosquittoBroker, runtime: Runtime
) -> None:
    available = f"{PREFIX}/available"
    with watching(broker, available, f"{PREFIX}/cameras/+/state", f"{PREFIX}/health") as w:
        first = w.wait_for(available)
        assert (first.payload, first.retain) == (b"online", True)
        state = w.wait_for(f"{PREFIX}/cameras/{CAMERA}/state")
        assert state.retain and state.json()["id"] == CAMERA and state.json()["state"]
        assert w.wait_for(f"{PREFIX}/health").json()["status"] in ("ok", "degraded")
        w.clear()
        # The bridge's connection breaks without a goodbye: the broker sends its will.
        bridge = runtime.mqtt
        assert bridge is not None
        sock = bridge.client.socket()
        assert isinstance(sock, socket.socket)
        sock.shutdown(socket.SHUT_RDWR)
        w.wait_for(available, lambda m: m.payload == b"offline")
        w.wait_for(available, lambda m: m.payload == b"online", timeout=15)
        assert w.seen(available)[-1].payload == b"online"


def test_the_broker_restarting_mid_run_gets_every_state_again(
    broker: MosquittoBroker, runtime: Runtime
) -> None:
    bridge = runtime.mqtt
    assert bridge is not None
    broker.kill()
    wait_until(lambda: not bridge.connected, 10, "the bridge noticing")
    # Recording goes on meanwhile.
    health = runtime.health.snapshot()
    assert health["cameras"][0]["state"] == "recording"
    broker.start()  # no persistence: the broker forgot every retained state
    wait_until(lambda: bridge.connected, 20, "the bridge reconnecting")
    later = datetime.now(UTC) + timedelta(minutes=20)
    with watching(broker, f"{PREFIX}/cameras/+/state", f"{PREFIX}/available") as w:
        assert w.wait_for(f"{PREFIX}/cameras/{CAMERA}/state").retain
        assert w.wait_for(f"{PREFIX}/available").payload == b"online"
        # And it listens again.
        w.publish(f"{PREFIX}/events", event("mq-after-restart", at=later))
        wait_until(lambda: runtime.service.jobs.get("mq-after-restart"), 10, "the job")


def _counts(runtime: Runtime) -> Counter[str]:
    assert runtime.mqtt is not None
    return Counter(runtime.mqtt.counts)


def _bridge(runtime: Runtime, url: str, prefix: str, **options: Any) -> MqttBridge:
    return MqttBridge(
        parse_mqtt_url(url),
        runtime.service,
        runtime.notices,
        health=runtime.health.snapshot,
        cameras=runtime.health.cameras,
        options=BridgeOptions(prefix=prefix, client_id=f"vms-{prefix}", **options),
    )


def test_tls_with_a_private_ca_and_home_assistant_discovery(
    broker: MosquittoBroker, runtime: Runtime
) -> None:
    url = f"{broker.url(tls=True)}?ca={broker.ca}"
    bridge = _bridge(runtime, url, "tls", ha_discovery=True, health_interval=0.2)
    with watching(broker, "homeassistant/#", "tls/available", "tls/health") as w:
        bridge.start()
        try:
            wait_until(lambda: bridge.connected, 10, "a TLS connection")
            assert w.wait_for("tls/available").payload == b"online"
            camera = w.wait_for("homeassistant/sensor/vms-tls/camera_demo/config").json()
            assert camera["state_topic"] == "tls/cameras/demo/state"
            assert camera["availability_topic"] == "tls/available"
            queue = w.wait_for("homeassistant/sensor/vms-tls/upload_queue/config")
            assert queue.json()["state_topic"] == "tls/health"
            with watching(broker, "homeassistant/sensor/vms-tls/#") as later:
                # A Home Assistant started afterwards finds them (retained).
                assert later.wait_for("homeassistant/sensor/vms-tls/upload_queue/config").retain
            # Health goes out every interval, the upload queue in it.
            wait_until(lambda: len(w.seen("tls/health")) >= 3, 10, "health three times")
            assert w.seen("tls/health")[-1].json()["upload_queue"] == 0
            # Only the bridge with discovery on announces itself.
            assert not w.seen("homeassistant/#", lambda m: "vms-test-bridge" in m.topic)
        finally:
            bridge.stop()
        w.wait_for("tls/available", lambda m: m.payload == b"offline")
    with watching(broker, "tls/available") as later:
        assert later.wait_for("tls/available").retain


def test_a_wrong_password_is_logged_clearly_and_the_app_goes_on(
    broker: MosquittoBroker, runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    bridge = _bridge(runtime, broker.url(password="Wrong-Password-1"), "wrong")
    caplog.set_level(logging.INFO, "vms_desktop.api.mqtt_bridge")
    bridge.start()
    try:
        wait_until(lambda: "refused the connection" in caplog.text, 10, "the refusal logged")
        assert "Not authorized" in caplog.text or "Bad user name or password" in caplog.text
        assert "Wrong-Password-1" not in caplog.text
        assert f"mqtt://***@127.0.0.1:{broker.port}" in caplog.text
        assert not bridge.connected
        with httpx.Client(base_url=api_origin(runtime.settings)) as client:
            answer = client.post("/clips/generate", json=event("mq-http-meanwhile"))
            assert answer.status_code == 202
    finally:
        bridge.stop()


def test_a_broker_down_at_start_is_reached_once_it_comes(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    late = MosquittoBroker()  # its ports chosen, nothing listening yet
    try:
        bridge = _bridge(runtime, late.url(), "late", reconnect_max=2)
        bridge.start()
        try:
            wait_until(lambda: "Connection refused" in caplog.text, 10, "the refusal logged")
            assert "the broker cannot be reached" in caplog.text
            late.start()
            wait_until(lambda: bridge.connected, 15, "connected once the broker is up")
            with watching(late, "late/cameras/+/state", "late/available") as w:
                assert w.wait_for("late/available").payload == b"online"
                assert w.wait_for(f"late/cameras/{CAMERA}/state").retain
        finally:
            bridge.stop()
    finally:
        late.close()


# paho 2.2 does not close the socket whose TLS handshake failed; the garbage collector does.
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_broker_certificate_from_an_unknown_ca_is_logged_clearly(
    broker: MosquittoBroker, runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    # Without ?ca= the system's CAs are used, and they do not sign the test broker's.
    bridge = _bridge(runtime, broker.url(tls=True), "untrusted")
    bridge.start()
    try:
        wait_until(lambda: "CERTIFICATE_VERIFY_FAILED" in caplog.text, 10, "the refusal logged")
        assert "the broker cannot be reached" in caplog.text
        assert "broker-Secret-4711" not in caplog.text
        assert not bridge.connected
    finally:
        bridge.stop()


def test_an_event_waits_while_the_clip_queue_is_full(
    broker: MosquittoBroker, runtime: Runtime
) -> None:
    later = datetime.now(UTC) + timedelta(minutes=20)
    counts = _counts(runtime)
    limit = runtime.service.max_pending
    runtime.service.max_pending = 0  # no room: the service answers "busy" (429 over HTTP)
    try:
        with watching(broker, f"{PREFIX}/errors") as watcher:
            watcher.publish(f"{PREFIX}/events", event("mq-busy", at=later))
            wait_until(lambda: (_counts(runtime) - counts)["deferred"] >= 1, 10, "deferred")
            assert runtime.service.jobs.get("mq-busy") is None
            runtime.service.max_pending = limit
            wait_until(lambda: runtime.service.jobs.get("mq-busy"), 10, "taken once there is room")
            assert watcher.seen(f"{PREFIX}/errors") == []
    finally:
        runtime.service.max_pending = limit


def test_a_burst_of_a_thousand_events_makes_a_thousand_jobs(
    broker: MosquittoBroker, runtime: Runtime
) -> None:
    # Clips in the future wait for their footage: jobs are accepted, none is built yet.
    runtime.service.max_pending = 2000
    counts = _counts(runtime)
    later = datetime.now(UTC) + timedelta(minutes=30)
    publisher = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="burst")
    publisher.username_pw_set(USER, PASSWORD)
    publisher.max_inflight_messages_set(100)
    publisher.connect("127.0.0.1", broker.port)
    publisher.loop_start()
    try:
        sent = [
            publisher.publish(f"{PREFIX}/events", json.dumps(event(f"b-{n:04d}", at=later)), qos=1)
            for n in range(1000)
        ]
        for info in sent:
            info.wait_for_publish(30)
    finally:
        publisher.disconnect()
        publisher.loop_stop()
    wait_until(lambda: (_counts(runtime) - counts)["accepted"] >= 1000, 60, "1000 jobs", poll=0.2)
    assert _counts(runtime) - counts == Counter(accepted=1000)
    assert all(runtime.service.jobs.get(f"b-{n:04d}") for n in range(1000))
