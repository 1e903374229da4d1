"""Builds the running service from settings: stores, catalogue, engine, clip service, API."""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from vms_desktop.api.app import ApiOptions, create_app
from vms_desktop.api.notice_json import ServiceLinks, notice_json
from vms_desktop.api.server import ApiServer
from vms_desktop.domain.camera import CameraState, CameraStatus
from vms_desktop.domain.errors import StoreError
from vms_desktop.engine.bookmarks import BookmarkService, stored_protection
from vms_desktop.engine.clip_builder import ClipSpec
from vms_desktop.engine.clip_service import ClipService
from vms_desktop.engine.clock import SYSTEM_CLOCK, WallClock, to_datetime
from vms_desktop.engine.embedded_console import EmbeddedConsole
from vms_desktop.engine.health import HealthMonitor
from vms_desktop.engine.notices import HealthNotices, NoticeHub
from vms_desktop.engine.recorder import Recorder, RecorderOptions
from vms_desktop.engine.sources import Timeouts
from vms_desktop.engine.thumbnails import ThumbnailMaker
from vms_desktop.engine.webhooks import WebhookSender
from vms_desktop.settings import Settings
from vms_desktop.storage.base import ClipStore
from vms_desktop.storage.bookmark_store import BookmarkStore
from vms_desktop.storage.clip_index import ClipIndex
from vms_desktop.storage.job_store import JobStore
from vms_desktop.storage.local_store import LocalClipStore
from vms_desktop.storage.signing import UrlSigner, load_or_create_key
from vms_desktop.storage.webhook_queue import WebhookQueue

if TYPE_CHECKING:
    from vms_desktop.api.mqtt_bridge import MqttBridge
    from vms_desktop.storage.outbox import UploadOutbox

log = logging.getLogger(__name__)

_LOOPBACK_NAMES = {"127.0.0.1", "localhost", "[::1]", "::1"}
URL_KEY_FILE = "url-signing.key"
WEBHOOK_QUEUE_FILE = "webhooks.sqlite3"


def recorder_options(settings: Settings) -> RecorderOptions:
    """How the engine records, from the settings."""
    return RecorderOptions(
        buffer_root=settings.buffer_path,
        retention_seconds=settings.retention_seconds,
        retention_by_camera=settings.retention_by_camera,
        max_bytes_per_camera=settings.buffer_max_bytes,
        max_total_bytes=settings.recording_max_bytes,
        segment_seconds=settings.buffer_segment_seconds,
        min_free_bytes=settings.buffer_min_free_mb * 1024 * 1024,
        timeouts=Timeouts(
            connect=settings.camera_connect_timeout_seconds,
            read=settings.camera_stall_timeout_seconds,
        ),
        stall_timeout=settings.camera_stall_timeout_seconds,
        reconnect_max=settings.camera_reconnect_max_seconds,
        auth_retry=settings.camera_auth_retry_seconds,
    )


def clip_spec(settings: Settings) -> ClipSpec:
    """The clip format, from the settings."""
    return ClipSpec(
        pre_seconds=settings.pre_event_buffer_seconds,
        post_seconds=settings.post_event_buffer_seconds,
        fps=settings.clip_fps,
        width=settings.clip_width,
        height=settings.clip_height,
        preset=settings.clip_preset,
        crf=settings.clip_crf,
    )


def api_origin(settings: Settings) -> str:
    """``http://host:port`` clients use to reach the API."""
    host = settings.api_host
    if host in ("0.0.0.0", "::"):
        host = "127.0.0.1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{settings.api_port}"


def clip_base_url(settings: Settings) -> str:
    """Where local clips are published: CLIP_BASE_URL, else ``<API origin>/clips``."""
    return (settings.clip_base_url or f"{api_origin(settings)}/clips").rstrip("/")


@dataclass
class Runtime:
    """Every long-lived part of the service, started and stopped in order."""

    settings: Settings
    recorder: Recorder
    store: ClipStore
    index: ClipIndex
    jobs: JobStore
    service: ClipService
    health: HealthMonitor
    outbox: UploadOutbox | None = None
    bookmarks: BookmarkService | None = None
    notices: NoticeHub = field(default_factory=NoticeHub)
    webhooks: WebhookSender | None = None
    health_notices: HealthNotices | None = None
    api: ApiServer | None = None
    mqtt: MqttBridge | None = None
    started: list[str] = field(default_factory=list)
    _console: EmbeddedConsole | None = field(default=None, init=False, repr=False)

    @property
    def console(self) -> EmbeddedConsole:
        """What the operator console talks to (made on first use, thumbnails cached in the
        state folder).
        """
        if self._console is None:
            self._console = EmbeddedConsole(
                self.recorder,
                self.service,
                self.health,
                ThumbnailMaker(self.settings.state_path / "thumbnails"),
                bookmarks=self.bookmarks,
            )
        return self._console

    def start(self, *, with_api: bool = True) -> None:
        """Record, resume jobs, drain the upload queue, listen for requests."""
        if self.settings.s3_apply_lifecycle:
            lifecycle = self.store.lifecycle()
            if lifecycle is not None:
                try:
                    lifecycle.apply_lifecycle(self.settings.retention_days)
                    log.info(
                        "bucket lifecycle: clips expire after %d days", self.settings.retention_days
                    )
                except StoreError as exc:
                    log.warning("bucket lifecycle rule not applied: %s", exc)
        self.recorder.start()
        self.started.append("recorder")
        if self.outbox is not None:
            # Loaded first, so a job that was uploading when the service stopped is found in
            # the queue instead of being built again.
            self.outbox.start()
            self.started.append("outbox")
        if self.webhooks is not None:
            # Before the clip service resumes jobs, so their outcomes are sent too.
            self.webhooks.start()
            self.started.append("webhooks")
        self.service.start()
        self.started.append("service")
        self.health.start()
        self.started.append("health")
        self.health_notices = HealthNotices(self.notices, self.health.snapshot)
        self.health_notices.start()
        if self.settings.mqtt_broker is not None:
            # Imported here: only a configuration with MQTT_URL loads paho.
            from vms_desktop.api.mqtt_bridge import bridge_from_settings

            self.mqtt = bridge_from_settings(self.settings, self.service, self.notices, self.health)
            self.mqtt.start()
            self.started.append("mqtt")
        if with_api:
            self.api = self.make_api_server()
            self.api.start()
            self.started.append("api")

    def make_api_server(self) -> ApiServer:
        """The API listener (bound, not yet serving): run it with ``start()`` or ``serve()``."""
        self.api = ApiServer(self._app(), self.settings.api_host, self.settings.api_port)
        return self.api

    def stop(self) -> None:
        """Stop in reverse order: no new requests, finish or record jobs, close recordings."""
        if self.api is not None:
            self.api.stop()
        if self.health_notices is not None:
            self.health_notices.stop()
            self.health_notices = None
        if self.mqtt is not None:
            self.mqtt.stop()
            self.mqtt = None
        if "health" in self.started:
            self.health.stop()
        if "service" in self.started:
            self.service.stop()
        if "outbox" in self.started and self.outbox is not None:
            self.outbox.stop()
        if "recorder" in self.started:
            self.recorder.stop()
        if self.webhooks is not None:
            # After the engine, so its last changes are queued; before the catalogue closes,
            # which their JSON reads.
            self.webhooks.stop()
        self.jobs.close()
        if self.bookmarks is not None:
            self.bookmarks.store.close()
        self.index.close()
        self.store.close()
        self.started.clear()

    def _app(self) -> object:
        settings = self.settings
        token = settings.api_token.get_secret_value() if settings.api_token else None
        hosts: set[str] | None = None
        if settings.api_is_loopback:
            hosts = set(_LOOPBACK_NAMES)
            base_host = urlsplit(clip_base_url(settings)).hostname
            if base_host:
                hosts.add(base_host)
        health = self.health
        options = ApiOptions(
            token=token,
            allowed_hosts=hosts,
            health=health.snapshot,
            cameras=health.cameras,
            store_unavailable=lambda: health.store_unavailable,
            store_failed=health.store_failed,
            bookmarks=self.bookmarks,
            archive=self.recorder.archive,
            # Archive links are signed with the key of local clip links, whatever the store.
            link_signer=UrlSigner(load_or_create_key(settings.state_path / URL_KEY_FILE)),
            notices=self.notices,
        )
        linked = self.store.linked_files()
        if linked is not None:
            options.files_path = linked.files_prefix
            options.file_opener = linked.open_linked
        return create_app(self.service, options)


def build_store(settings: Settings, *, recover: bool = False) -> ClipStore:
    """The clip store the settings name (local folder or S3 bucket).

    With ``recover`` a local folder is cleared of what a crash left half-written (only the
    service that writes there asks for it; a one-off command must not).
    """
    state = settings.state_path
    state.mkdir(parents=True, exist_ok=True)
    if settings.video_storage_type == "s3":
        # Imported here: boto3 takes a noticeable part of start-up and local storage skips it.
        from vms_desktop.storage.s3_store import S3ClipStore

        assert settings.s3_bucket_name is not None
        return S3ClipStore(
            settings.s3_bucket_name,
            region=settings.aws_region,
            endpoint_url=settings.s3_endpoint_url,
            access_key=_secret(settings.aws_access_key_id),
            secret_key=_secret(settings.aws_secret_access_key),
        )
    signer = UrlSigner(load_or_create_key(state / URL_KEY_FILE))
    local = LocalClipStore(settings.local_storage_path, clip_base_url(settings), signer)
    if recover:
        local.recover()
    return local


def build_runtime(settings: Settings, *, clock: WallClock | None = None) -> Runtime:
    """Assemble the service described by the settings (nothing runs until ``start``).

    ``clock`` runs the engine as if at another moment (the system's time by default).
    """
    clock = clock or SYSTEM_CLOCK
    state = settings.state_path
    store = build_store(settings, recover=True)
    outbox: UploadOutbox | None = None
    spec = clip_spec(settings)
    bookmark_store = BookmarkStore(state / "bookmarks.sqlite3")
    # A protected moment keeps the footage a clip of it would read; the buffers know it from
    # the start, as loading them prunes.
    margins = {"before": spec.pre_seconds, "after": spec.post_seconds}
    protected = stored_protection(bookmark_store, **margins)
    if protected:
        log.info(
            "footage of %d protected bookmark(s) kept in the buffer",
            sum(len(spans) for spans in protected.values()),
        )
    options = dataclasses.replace(recorder_options(settings), protected=protected)
    recorder = Recorder(settings.active_cameras, options, clock)
    index = ClipIndex(state / "catalogue.sqlite3")
    jobs = JobStore(state / "jobs.sqlite3")
    service_box: list[ClipService] = []
    health_box: list[HealthMonitor] = []
    if settings.video_storage_type == "s3":
        from vms_desktop.storage.outbox import UploadOutbox

        outbox = UploadOutbox(
            state / "outbox",
            store,
            on_uploaded=lambda meta: service_box[0].on_uploaded(meta),
            on_failed=lambda meta, reason: service_box[0].on_upload_failed(meta, reason),
            on_unavailable=lambda detail: health_box[0].store_failed(detail),
        )
    service = ClipService(
        recorder,
        store,
        index,
        jobs,
        spec,
        state / "work",
        outbox=outbox,
        retention_days=settings.retention_days,
        retention_interval=settings.retention_interval_minutes * 60.0,
        # A shared bucket changes under us; a local folder only by this process.
        sync_interval=60.0 if outbox is not None else 600.0,
        clock=clock,
    )
    service_box.append(service)
    health = HealthMonitor(recorder, service, store)
    health_box.append(health)
    if outbox is not None:
        # Waiting clips go up as soon as the store answers again, not after their back-off.
        health.on_store_recovered(outbox.wake)
    bookmarks = BookmarkService(bookmark_store, recorder.buffers, **margins)
    # Notices are dated on the engine's clock, like the jobs and footage they speak of.
    notices = NoticeHub(now=lambda: to_datetime(clock.now()))
    service.add_listener(notices.publish_job)
    recorder.add_listener(_changed_states(notices))
    webhooks = build_webhooks(settings, service, health)
    if webhooks is not None:
        notices.subscribe(webhooks.on_notice)
    return Runtime(
        settings,
        recorder,
        store,
        index,
        jobs,
        service,
        health,
        outbox,
        bookmarks=bookmarks,
        notices=notices,
        webhooks=webhooks,
    )


def build_webhooks(
    settings: Settings, service: ClipService, health: HealthMonitor
) -> WebhookSender | None:
    """The webhook sender WEBHOOK_URLS asks for (None when unset), over its durable queue."""
    if not settings.webhook_urls:
        return None
    deliveries = WebhookQueue(settings.state_path / WEBHOOK_QUEUE_FILE, settings.webhook_urls)
    links = ServiceLinks(service, health.cameras)
    secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
    waiting = deliveries.waiting()
    log.info(
        "webhooks to %d URL(s)%s%s",
        len(settings.webhook_urls),
        ", signed" if secret else ", unsigned (no WEBHOOK_SECRET)",
        f", {waiting} waiting from the last run" if waiting else "",
    )
    return WebhookSender(deliveries, lambda notice: notice_json(notice, links), secret=secret)


def _changed_states(notices: NoticeHub) -> Callable[[CameraStatus], None]:
    """A camera status listener publishing only changes of state (workers also report
    progress such as frame rates, which is no news).
    """
    last: dict[str, CameraState] = {}
    lock = threading.Lock()

    def listener(status: CameraStatus) -> None:
        with lock:
            if last.get(status.camera_id) is status.state:
                return
            last[status.camera_id] = status.state
        notices.publish_camera(status)

    return listener


def _secret(value: object) -> str | None:
    getter = getattr(value, "get_secret_value", None)
    return str(getter()) if getter is not None else None
