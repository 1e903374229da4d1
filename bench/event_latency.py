"""Event-to-accepted latency: an event published on MQTT versus the same posted over HTTP."""

from __future__ import annotations

import argparse
import json
import logging
import platform
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from tests.support.mosquitto import PASSWORD, USER, running_broker
from tests.support.ports import free_port
from tests.support.waiting import wait_until
from vms_desktop.engine.clip_outcomes import GenerateResult
from vms_desktop.runtime import build_runtime
from vms_desktop.settings import load_settings

PREFIX = "bench"
WARMUP = 20
# Events are stamped in the future: each job is accepted and waits, none is built, so the
# measure is the path of the event alone.
AHEAD = timedelta(minutes=30)


class Acceptances:
    """When the clip service answered each event (its ``generate`` wrapped)."""

    def __init__(self, generate: Callable[..., GenerateResult]) -> None:
        self._generate = generate
        self.at: dict[str, float] = {}
        self._changed = threading.Condition()

    def generate(self, event: Any, **options: Any) -> GenerateResult:
        result = self._generate(event, **options)
        with self._changed:
            self.at[event.id] = time.perf_counter()
            self._changed.notify_all()
        return result

    def wait(self, event_id: str, timeout: float = 10.0) -> float:
        with self._changed:
            if not self._changed.wait_for(lambda: event_id in self.at, timeout):
                raise TimeoutError(f"event {event_id} not accepted")
            return self.at[event_id]


def body(event_id: str, moment: datetime) -> dict[str, Any]:
    stamp = moment.isoformat().replace("+00:00", "Z")
    return {
        "event": {"id": event_id, "camera_id": "demo", "event_type": "bench", "timestamp": stamp}
    }


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def measure(count: int) -> dict[str, dict[str, float]]:
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as folder, running_broker() as broker:
        base = Path(folder)
        port = free_port()
        environ = {
            "LOCAL_STORAGE_PATH": str(base / "clips"),
            "BUFFER_PATH": str(base / "buffer"),
            "STATE_PATH": str(base / "state"),
            "API_PORT": str(port),
            "MQTT_URL": broker.url(),
            "MQTT_TOPIC_PREFIX": PREFIX,
        }
        runtime = build_runtime(load_settings(env_files=[], environ=environ))
        runtime.service.max_pending = 10 * (count + WARMUP)
        accepted = Acceptances(runtime.service.generate)
        runtime.service.generate = accepted.generate  # type: ignore[method-assign]
        runtime.start()
        publisher = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-publisher")
        publisher.username_pw_set(USER, PASSWORD)
        publisher.connect("127.0.0.1", broker.port)
        publisher.loop_start()
        http = httpx.Client(base_url=f"http://127.0.0.1:{port}")
        try:
            assert runtime.mqtt is not None
            wait_until(lambda: runtime.mqtt is not None and runtime.mqtt.connected, 10)
            moment = datetime.now(UTC) + AHEAD
            samples: dict[str, list[float]] = {"mqtt": [], "http": [], "http_answer": []}
            for n in range(WARMUP + count):
                event_id = f"mq-{n}"
                sent = time.perf_counter()
                publisher.publish(f"{PREFIX}/events", json.dumps(body(event_id, moment)), qos=1)
                taken = accepted.wait(event_id) - sent
                event_id = f"http-{n}"
                sent = time.perf_counter()
                answer = http.post("/clips/generate", json=body(event_id, moment))
                answered = time.perf_counter() - sent
                assert answer.status_code == 202, answer.text
                if n >= WARMUP:
                    samples["mqtt"].append(taken)
                    samples["http"].append(accepted.wait(event_id) - sent)
                    samples["http_answer"].append(answered)
        finally:
            http.close()
            publisher.disconnect()
            publisher.loop_stop()
            runtime.stop()
    return {
        name: {
            "p50_ms": 1000 * statistics.median(values),
            "p95_ms": 1000 * percentile(values, 0.95),
            "max_ms": 1000 * max(values),
        }
        for name, values in samples.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200, help="events per channel")
    args = parser.parse_args()
    print(f"# {platform.platform()}, {args.events} events per channel after {WARMUP} warm-up")
    for name, row in measure(args.events).items():
        print(
            f"{name:12s} p50 {row['p50_ms']:7.2f} ms  p95 {row['p95_ms']:7.2f} ms  "
            f"max {row['max_ms']:7.2f} ms"
        )


if __name__ == "__main__":
    main()
