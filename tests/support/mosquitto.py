"""A real Mosquitto broker for tests (passwords, a TLS listener with its own CA) and a client."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from tests.support.ports import free_port
from tests.support.waiting import wait_until

MOSQUITTO = "/usr/sbin/mosquitto"
USER = "vms"
PASSWORD = "broker-Secret-4711"


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate it signs for 127.0.0.1/localhost: (ca, cert, key)."""
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
             "-subj", "/CN=vms test CA", cwd=folder)  # fmt: skip
    _openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr",
             "-subj", "/CN=localhost", cwd=folder)  # fmt: skip
    (folder / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "san.ext",
             cwd=folder)  # fmt: skip
    return folder / "ca.pem", folder / "server.pem", folder / "server.key"


class MosquittoBroker:
    """``mosquitto`` on two free loopback ports: plain and TLS, both requiring a password.

    Its files live in a folder of their own readable by the ``mosquitto`` user (the broker
    drops root privileges to it). ``kill`` and ``start`` again keep the same ports.
    """

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="mosquitto-"))
        self.folder.chmod(0o755)
        self.port = free_port()
        self.tls_port = free_port()
        self.ca, cert, key = make_certificates(self.folder)
        passwords = self.folder / "passwords"
        subprocess.run(
            ["mosquitto_passwd", "-c", "-b", str(passwords), USER, PASSWORD],
            check=True,
            capture_output=True,
        )
        config = self.folder / "mosquitto.conf"
        config.write_text(
            "per_listener_settings false\n"
            "allow_anonymous false\n"
            f"password_file {passwords}\n"
            "persistence false\n"
            "max_queued_messages 10000\n"
            # Without it the broker holds small packets back (Nagle): +40 ms at p95.
            "set_tcp_nodelay true\n"
            f"listener {self.port} 127.0.0.1\n"
            f"listener {self.tls_port} 127.0.0.1\n"
            f"cafile {self.ca}\ncertfile {cert}\nkeyfile {key}\n"
        )
        for path in self.folder.iterdir():
            path.chmod(0o644)
        self.config = config
        self.log = self.folder / "mosquitto.log"
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, *, password: str = PASSWORD, tls: bool = False) -> str:
        """``MQTT_URL`` of this broker."""
        if tls:
            return f"mqtts://{USER}:{password}@127.0.0.1:{self.tls_port}"
        return f"mqtt://{USER}:{password}@127.0.0.1:{self.port}"

    def start(self) -> None:
        """Run the broker and wait until both listeners accept connections."""
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [MOSQUITTO, "-c", str(self.config)], stdout=log, stderr=subprocess.STDOUT
            )
        for port in (self.port, self.tls_port):
            wait_until(lambda p=port: _accepts(p), 10, f"mosquitto listening on {port}")

    def kill(self) -> None:
        """Stop the broker at once (its clients' connections drop)."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None

    def close(self) -> None:
        """Stop and remove everything."""
        self.kill()
        shutil.rmtree(self.folder, ignore_errors=True)


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@contextmanager
def running_broker() -> Iterator[MosquittoBroker]:
    """A started broker, stopped and removed afterwards."""
    broker = MosquittoBroker()
    try:
        broker.start()
        yield broker
    finally:
        broker.close()


@dataclass
class Received:
    """One message a watcher saw."""

    topic: str
    payload: bytes
    retain: bool

    def json(self) -> Any:
        """The payload as JSON."""
        return json.loads(self.payload)


@dataclass
class Watcher:
    """A test's own MQTT client: subscribes, records every message, publishes."""

    client: mqtt.Client
    messages: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def seen(
        self, topic: str, condition: Callable[[Received], bool] = lambda _: True
    ) -> list[Received]:
        """Messages on ``topic`` (``#`` suffix: under it) meeting ``condition``."""
        with self.lock:
            messages = list(self.messages)
        if topic.endswith("#"):
            return [m for m in messages if m.topic.startswith(topic[:-1]) and condition(m)]
        return [m for m in messages if m.topic == topic and condition(m)]

    def wait_for(
        self,
        topic: str,
        condition: Callable[[Received], bool] = lambda _: True,
        timeout: float = 20.0,
    ) -> Received:
        """The first message on ``topic`` meeting ``condition``, waiting for it."""
        found = wait_until(lambda: self.seen(topic, condition), timeout, f"a message on {topic}")
        return found[0]

    def clear(self) -> None:
        """Forget what was seen."""
        with self.lock:
            self.messages.clear()

    def publish(self, topic: str, body: Any, qos: int = 1) -> None:
        """Publish JSON (or bytes as they are) and wait until the broker has it."""
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.client.publish(topic, payload, qos=qos).wait_for_publish(10)


@contextmanager
def watching(broker: MosquittoBroker, *topics: str) -> Iterator[Watcher]:
    """A connected :class:`Watcher` subscribed to ``topics`` (retained messages included)."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"watcher-{time.monotonic_ns()}")
    client.username_pw_set(USER, PASSWORD)
    watcher = Watcher(client)
    subscribed = threading.Semaphore(0)

    def on_message(_c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        with watcher.lock:
            watcher.messages.append(Received(message.topic, message.payload, message.retain))

    def on_connect(c: mqtt.Client, _u: object, _f: object, reason: Any, _p: object) -> None:
        for topic in topics:
            c.subscribe(topic, qos=1)

    def on_subscribe(*_args: object) -> None:
        subscribed.release()

    client.on_message = on_message
    client.on_subscribe = on_subscribe
    client.on_connect = on_connect
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    try:
        for _topic in topics:
            assert subscribed.acquire(timeout=10), "the watcher could not subscribe"
        yield watcher
    finally:
        client.disconnect()
        client.loop_stop()


def environ_for(broker: MosquittoBroker, **extra: str) -> dict[str, str]:
    """MQTT settings for the plain listener with the right password."""
    return {"MQTT_URL": broker.url(), **extra}


__all__ = [
    "PASSWORD",
    "USER",
    "MosquittoBroker",
    "Received",
    "Watcher",
    "environ_for",
    "make_certificates",
    "running_broker",
    "watching",
]
