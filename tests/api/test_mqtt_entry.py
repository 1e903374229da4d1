"""MQTT through the application as a user starts it: an event published on the broker ends in a
ready-clip message with the clip's URL, and the app says online then offline.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx

from tests.support.app import app_environment, headless_app
from tests.support.mosquitto import running_broker, watching


def test_an_event_on_mqtt_ends_in_a_ready_clip_message(tmp_path: Path) -> None:
    with running_broker() as broker:
        environ = app_environment(
            tmp_path,
            MQTT_URL=f"{broker.url(tls=True)}?ca={broker.ca}",
            MQTT_TOPIC_PREFIX="home/vms",
            PRE_EVENT_BUFFER_SECONDS="1",
            POST_EVENT_BUFFER_SECONDS="1",
            CLIP_DURATION_SECONDS="2",
        )
        with watching(broker, "home/vms/#") as watcher, headless_app(tmp_path, environ):
            watcher.wait_for("home/vms/available", lambda m: m.payload == b"online")
            watcher.wait_for("home/vms/cameras/demo/state")
            moment = datetime.now(UTC).isoformat().replace("+00:00", "Z")
            event = {
                "id": "entry-1",
                "camera_id": "demo",
                "event_type": "door",
                "timestamp": moment,
            }
            watcher.publish("home/vms/events", {"event": event})
            ready = watcher.wait_for(
                "home/vms/clips/entry-1", lambda m: m.json()["status"] == "ready", timeout=60
            ).json()
            assert ready["event_id"] == "entry-1" and ready["event_type"] == "door"
            clip = httpx.get(ready["url"])
            assert clip.status_code == 200 and clip.content[4:8] == b"ftyp"
        app_log = (tmp_path / "headless.log").read_text()
        assert "broker-Secret-4711" not in app_log
        assert "MQTT: connected to mqtts://***@127.0.0.1" in app_log
        with watching(broker, "home/vms/available") as after:
            # Stopped cleanly: the retained availability says offline.
            assert after.wait_for("home/vms/available").payload == b"offline"
