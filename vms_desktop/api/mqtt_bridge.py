"""The MQTT bridge: events in from ``<prefix>/events``; clip, camera and health states out."""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode
from pydantic import ValidationError

from vms_desktop.api.errors import answer_for
from vms_desktop.api.mqtt_topics import (
    OFFLINE,
    ONLINE,
    Topics,
    discovery_messages,
    error_payload,
    event_id_of,
    node_id,
    parse_event,
    validation_detail,
)
from vms_desktop.api.notice_json import NoticeLinks, ServiceLinks, notice_json
from vms_desktop.api.schemas import GenerateRequest
from vms_desktop.domain.clip import Event
from vms_desktop.domain.errors import ServiceBusyError
from vms_desktop.domain.notice import Notice, NoticeKind
from vms_desktop.engine.clip_service import ClipService, GenerateResult
from vms_desktop.engine.health import HealthMonitor
from vms_desktop.engine.notices import NoticeHub
from vms_desktop.settings import Settings
from vms_desktop.settings.mqtt import MqttBroker

log = logging.getLogger(__name__)

HEALTH_INTERVAL_SECONDS = 30.0
KEEPALIVE_SECONDS = 30
RECONNECT_MIN_SECONDS = 1
RECONNECT_MAX_SECONDS = 30
# Notices waiting for the publisher: past this the oldest are dropped (a camera's or the
# health's next state replaces them) rather than the engine ever waiting on MQTT.
_NOTICE_BACKLOG = 10_000
# Messages paho keeps for the broker while it is away.
_OUTBOUND_BACKLOG = 5_000
# Events handed to the clip service at once (its calls touch SQLite).
_INTAKE_THREADS = 2
# Longest pause before an event the clip queue had no room for is offered again.
BUSY_RETRY_SECONDS = 2.0
_REPUBLISH = object()
_STOP = object()


@dataclass(frozen=True)
class BridgeOptions:
    """How the bridge names itself and what it publishes."""

    prefix: str = "vms"
    client_id: str | None = None
    ha_discovery: bool = False
    health_interval: float = HEALTH_INTERVAL_SECONDS
    reconnect_min: int = RECONNECT_MIN_SECONDS
    reconnect_max: int = RECONNECT_MAX_SECONDS


def default_client_id() -> str:
    """``vms-desktop-<host name>``: stable across restarts, so the broker keeps our session."""
    host = "".join(c if c.isalnum() or c in "_-." else "-" for c in socket.gethostname())
    return f"vms-desktop-{host or 'host'}"[:64]


class MqttBridge:
    """Carries events in and notices out over one MQTT connection.

    paho's network thread receives and validates messages; the clip service is called from a
    small pool (it may wait on SQLite) and each event is acknowledged once the service has
    answered, so an event the broker delivers again is the same job (generation is
    idempotent on the event id). Notices are queued by the hub's listener and rendered and
    published from the bridge's own thread. The broker being away never stops recording:
    paho reconnects with back-off and every current state is published again on reconnect.
    """

    def __init__(
        self,
        broker: MqttBroker,
        service: ClipService,
        notices: NoticeHub,
        *,
        health: Callable[[], dict[str, Any]],
        cameras: Callable[[], list[dict[str, Any]]],
        links: NoticeLinks | None = None,
        options: BridgeOptions | None = None,
    ) -> None:
        self.broker = broker
        self.service = service
        self.notices = notices
        self.options = options or BridgeOptions()
        self.topics = Topics(self.options.prefix)
        self.client_id = self.options.client_id or default_client_id()
        self._health = health
        self._cameras = cameras
        self._links = links
        self._backlog: queue.Queue[object] = queue.Queue(_NOTICE_BACKLOG)
        self._intake = ThreadPoolExecutor(_INTAKE_THREADS, thread_name_prefix="mqtt-intake")
        self._publisher: threading.Thread | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._connected = threading.Event()
        self._stopping = threading.Event()
        self._failure: str | None = None
        # Bumped on each connection: a message id only acknowledges on the connection it
        # came in on.
        self._generation = 0
        self._lock = threading.Lock()
        # Events taken so far: "accepted" (a new job), "repeated" (the job already there),
        # "refused" (an answer on the errors topic), "deferred" (no room yet: offered again).
        self.counts: Counter[str] = Counter()
        self.client = self._make_client()

    # ---- life cycle ----------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """Whether the broker has accepted the connection."""
        return self._connected.is_set()

    def start(self) -> None:
        """Connect in the background (a broker down now is retried) and start publishing."""
        self._unsubscribe = self.notices.subscribe(self._on_notice)
        self._publisher = threading.Thread(target=self._publish_loop, name="mqtt-out", daemon=True)
        self._publisher.start()
        log.info("MQTT: connecting to %s as %s", self.broker.display_url, self.client_id)
        self.client.connect_async(self.broker.host, self.broker.port, KEEPALIVE_SECONDS)
        self.client.loop_start()

    def stop(self, timeout: float = 5.0) -> None:
        """Say ``offline``, disconnect and stop every thread of the bridge."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self._stopping.set()
        self._intake.shutdown(wait=True, cancel_futures=True)
        if self._publisher is not None:
            self._put(_STOP)
            self._publisher.join(timeout)
            self._publisher = None
        if self.connected:
            info = self.client.publish(self.topics.available, OFFLINE, qos=1, retain=True)
            # The connection may go meanwhile: the last will says the same.
            with contextlib.suppress(RuntimeError, ValueError):
                info.wait_for_publish(timeout)
        self.client.disconnect()
        self.client.loop_stop()
        self._connected.clear()

    # ---- connection ----------------------------------------------------------------------

    def _make_client(self) -> mqtt.Client:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            # The broker keeps our subscription and unacknowledged events while we are away.
            clean_session=False,
            manual_ack=True,
        )
        broker = self.broker
        if broker.username is not None:
            client.username_pw_set(broker.username, broker.password)
        if broker.tls:
            client.tls_set(ca_certs=str(broker.ca_file) if broker.ca_file else None)
        client.will_set(self.topics.available, OFFLINE, qos=1, retain=True)
        client.reconnect_delay_set(self.options.reconnect_min, self.options.reconnect_max)
        client.max_queued_messages_set(_OUTBOUND_BACKLOG)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        return client

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        properties: object,
    ) -> None:
        if reason.is_failure:
            self._report_failure(f"the broker refused the connection: {reason}")
            return
        with self._lock:
            self._generation += 1
        self._failure = None
        self._connected.set()
        log.info("MQTT: connected to %s", self.broker.display_url)
        client.subscribe(self.topics.events, qos=1)
        client.publish(self.topics.available, ONLINE, qos=1, retain=True)
        self._put(_REPUBLISH)

    def _on_connect_fail(self, client: mqtt.Client, userdata: object) -> None:
        # paho calls this from the handler of the connection's error, which says why (refused,
        # unknown host, a certificate its CA does not sign...).
        error = sys.exc_info()[1]
        why = f": {error}" if error is not None else ""
        self._report_failure(f"the broker cannot be reached{why}")

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        properties: object,
    ) -> None:
        was_connected = self.connected
        self._connected.clear()
        if was_connected and reason.is_failure:
            log.warning(
                "MQTT: connection to %s lost (%s); reconnecting", self.broker.display_url, reason
            )

    def _report_failure(self, why: str) -> None:
        # Logged once per cause: paho retries with back-off, the app records meanwhile.
        if why != self._failure:
            self._failure = why
            log.error(
                "MQTT: %s (%s); recording and clips go on, retrying every %d s at most",
                why,
                self.broker.display_url,
                self.options.reconnect_max,
            )

    # ---- events in -----------------------------------------------------------------------

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            generation = self._generation
        try:
            request = parse_event(message.payload)
        except (ValidationError, ValueError) as exc:
            detail: Any = validation_detail(exc) if isinstance(exc, ValidationError) else "not JSON"
            self._refuse(422, detail, event_id_of(message.payload))
            self._ack(message, generation)
            return
        # While stopping the pool refuses it: the broker delivers it again next time.
        with contextlib.suppress(RuntimeError):
            self._intake.submit(self._accept, request, message, generation)

    def _accept(self, request: GenerateRequest, message: mqtt.MQTTMessage, generation: int) -> None:
        raw = request.event
        event = Event(raw.id, raw.camera_id, raw.event_type, raw.timestamp)
        try:
            result = self._generate(event, request)
        except ValueError as exc:
            self._refuse(422, str(exc), event.id)
        except Exception as exc:
            answer = answer_for(exc)
            if answer is None:
                log.exception("MQTT: event %s failed unexpectedly", event.id)
                self._refuse(500, "internal error", event.id)
            else:
                self._refuse(answer.status_code, json.loads(bytes(answer.body))["detail"], event.id)
        else:
            if result is None:
                return  # stopping: unacknowledged, the broker delivers it again next session
            self._count("accepted" if result.created else "repeated")
        self._ack(message, generation)

    def _generate(self, event: Event, request: GenerateRequest) -> GenerateResult | None:
        """The service's answer, waiting while its queue is full (None: stopped meanwhile)."""
        while True:
            try:
                return self.service.generate(
                    event,
                    pre_seconds=request.pre_event_seconds,
                    post_seconds=request.post_event_seconds,
                )
            except ServiceBusyError as exc:
                # A publisher cannot be told to come back later as an HTTP client can: the
                # event waits here, unacknowledged, which also slows the broker's deliveries.
                self._count("deferred")
                log.info("MQTT: event %s waits for room in the clip queue", event.id)
                pause = min(max(float(exc.retry_after), 0.2), BUSY_RETRY_SECONDS)
                if self._stopping.wait(pause):
                    return None

    def _count(self, outcome: str) -> None:
        with self._lock:
            self.counts[outcome] += 1

    def _refuse(self, status: int, detail: Any, event_id: str | None) -> None:
        self._count("refused")
        log.warning("MQTT: event %s refused (%d): %s", event_id or "(no id)", status, detail)
        self.client.publish(self.topics.errors, error_payload(status, detail, event_id), qos=1)

    def _ack(self, message: mqtt.MQTTMessage, generation: int) -> None:
        with self._lock:
            current = generation == self._generation
        if current and message.qos > 0:
            self.client.ack(message.mid, message.qos)

    # ---- states out ----------------------------------------------------------------------

    def _on_notice(self, notice: Notice) -> None:
        self._put(notice)

    def _put(self, item: object) -> None:
        # Never waits: when full, the oldest goes (a newer state of the same thing follows).
        while True:
            try:
                self._backlog.put_nowait(item)
                return
            except queue.Full:
                with contextlib.suppress(queue.Empty):
                    self._backlog.get_nowait()

    def _publish_loop(self) -> None:
        interval = self.options.health_interval
        # A deadline, not the queue's timeout: a steady flow of notices must not starve health.
        due = time.monotonic() + interval
        while True:
            try:
                item = self._backlog.get(timeout=max(0.0, due - time.monotonic()))
            except queue.Empty:
                item = None
            try:
                if item is _STOP:
                    return
                if item is _REPUBLISH:
                    self._publish_all()
                elif isinstance(item, Notice):
                    self._publish_notice(item)
                if time.monotonic() >= due:
                    due = time.monotonic() + interval
                    self._publish_health()
            except Exception:  # a bad render must not end the channel
                log.exception("MQTT: publishing failed")

    def _publish_notice(self, notice: Notice) -> None:
        body = json.dumps(notice_json(notice, self._links))
        if notice.kind is NoticeKind.CLIP:
            self.client.publish(self.topics.clip(notice.subject), body, qos=1)
        elif notice.kind is NoticeKind.CAMERA:
            self.client.publish(self.topics.camera_state(notice.subject), body, qos=1, retain=True)
        else:
            self.client.publish(self.topics.health, body, qos=1, retain=True)

    def _publish_health(self) -> None:
        if self.connected:
            self.client.publish(self.topics.health, json.dumps(self._health()), qos=0, retain=True)

    def _publish_all(self) -> None:
        """Every current state, as after a (re)connection the broker may have lost them."""
        rows = self._cameras()
        for row in rows:
            camera_id = str(row.get("id"))
            self.client.publish(
                self.topics.camera_state(camera_id), json.dumps(row), qos=1, retain=True
            )
        if self.options.ha_discovery:
            node = node_id(self.client_id)
            for topic, config in discovery_messages(
                self.topics, node, [str(row.get("id")) for row in rows]
            ):
                self.client.publish(topic, json.dumps(config), qos=1, retain=True)
        self._publish_health()


def bridge_from_settings(
    settings: Settings, service: ClipService, notices: NoticeHub, health: HealthMonitor
) -> MqttBridge:
    """The bridge MQTT_URL and the other MQTT settings describe (not yet started)."""
    broker = settings.mqtt_broker
    if broker is None:
        raise ValueError("MQTT_URL is not set")
    options = BridgeOptions(
        prefix=settings.mqtt_topic_prefix,
        client_id=settings.mqtt_client_id,
        ha_discovery=settings.mqtt_ha_discovery,
    )
    return MqttBridge(
        broker,
        service,
        notices,
        health=health.snapshot,
        cameras=health.cameras,
        links=ServiceLinks(service, health.cameras),
        options=options,
    )


__all__ = ["BridgeOptions", "MqttBridge", "bridge_from_settings", "default_client_id"]
