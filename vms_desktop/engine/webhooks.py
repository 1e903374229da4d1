"""Webhook delivery: queues clip and camera notices durably and POSTs them, signed, in order."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import queue
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from vms_desktop.domain.clip import ClipStatus, iso
from vms_desktop.domain.notice import Notice, NoticeKind
from vms_desktop.domain.redaction import redact_url
from vms_desktop.storage.webhook_queue import Delivery, WebhookQueue

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-VMS-Signature"
# Statuses of a receiver that may answer differently later (timeout, rate limit).
_RETRIED_CLIENT_STATUSES = {408, 429}

NoticeRenderer = Callable[[Notice], Mapping[str, Any]]


def webhook_type(notice: Notice) -> str | None:
    """The webhook event a notice makes (``clip.ready``, ``clip.failed``, ``camera.state``),
    or None for one not sent (a job still running, health).
    """
    if notice.kind is NoticeKind.CLIP and notice.job is not None:
        if notice.job.status is ClipStatus.READY:
            return "clip.ready"
        if notice.job.status is ClipStatus.FAILED:
            return "clip.failed"
    if notice.kind is NoticeKind.CAMERA:
        return "camera.state"
    return None


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-VMS-Signature`` value: ``t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">``."""
    signed = f"{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential back-off between attempts of one delivery."""

    first: float = 2.0
    cap: float = 300.0

    def delay(self, attempts: int) -> float:
        """Seconds before the next try after ``attempts`` failed ones (1, 2, ...)."""
        return float(min(self.cap, self.first * 2 ** max(0, attempts - 1)))


class WebhookSender:
    """One background thread that files notices in the queue and delivers them.

    The notice listener only hands the notice over (never blocks the engine); rendering,
    the queue's disk writes and the HTTP requests all happen on the sender's thread.
    """

    def __init__(
        self,
        deliveries: WebhookQueue,
        render: NoticeRenderer,
        *,
        secret: str | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.queue = deliveries
        self._render = render
        self._secret = secret
        self._retry = retry or RetryPolicy()
        self._clock = clock
        self._incoming: queue.SimpleQueue[Notice] = queue.SimpleQueue()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._timeout = timeout
        # The standard library's client: a runtime dependency less in the bundle; redirects are
        # not followed (a receiver that moved answers 3xx, which counts as refused).
        self._opener = urllib.request.build_opener(_NoRedirects)
        self._thread = threading.Thread(target=self._run, name="webhooks", daemon=True)

    def on_notice(self, notice: Notice) -> None:
        """The hub's listener: take the notice over (on the publisher's thread, never blocking)."""
        if webhook_type(notice) is not None:
            self._incoming.put(notice)
            self._wake.set()

    def start(self) -> None:
        """Deliver in the background, beginning with what an earlier run left queued."""
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """File the notices handed over so far, then end (an attempt under way finishes)."""
        self._stopping.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        else:
            self._file_incoming()
        self.queue.close()

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self._file_incoming()
                wait = self._deliver_due()
            except Exception:  # a bug must not end deliveries for good
                log.exception("webhook delivery failed")
                wait = 5.0
            self._wake.wait(wait)
            self._wake.clear()
        self._file_incoming()

    def _file_incoming(self) -> None:
        while True:
            try:
                notice = self._incoming.get_nowait()
            except queue.Empty:
                return
            kind = webhook_type(notice)
            assert kind is not None
            data = self._render(notice)
            at = iso(notice.at)

            def body_of(sequence: int, kind: str = kind, data: Any = data, at: str = at) -> bytes:
                envelope = {"type": kind, "sequence": sequence, "at": at, "data": data}
                return json.dumps(envelope, separators=(",", ":")).encode()

            self.queue.add(body_of)

    def _deliver_due(self) -> float:
        """Send every URL's due head in turn; the seconds until the next one is due."""
        next_due = 3600.0
        progressed = True
        while progressed and not self._stopping.is_set():
            progressed = False
            for delivery in self.queue.heads():
                if self._stopping.is_set() or not self._incoming.empty():
                    return 0.0
                now = self._clock()
                if delivery.due > now:
                    next_due = min(next_due, delivery.due - now)
                    continue
                if self._attempt(delivery):
                    progressed = True
                else:
                    next_due = min(next_due, self._retry.delay(delivery.attempts + 1))
        return max(0.0, next_due)

    def _attempt(self, delivery: Delivery) -> bool:
        """Try once; True when the delivery is over (accepted or refused for good)."""
        headers = {"Content-Type": "application/json", "User-Agent": "vms_desktop-webhooks"}
        if self._secret:
            headers[SIGNATURE_HEADER] = signature(self._secret, int(self._clock()), delivery.body)
        shown = redact_url(delivery.url)
        request = urllib.request.Request(
            delivery.url, data=delivery.body, headers=headers, method="POST"
        )
        status: int | None
        try:
            with self._opener.open(request, timeout=self._timeout) as answer:
                status = int(answer.status)
            reason = f"HTTP {status}"
        except urllib.error.HTTPError as exc:
            status = int(exc.code)
            reason = f"HTTP {status}"
            exc.close()
        except (OSError, ValueError) as exc:  # refused, unreachable, timed out, bad answer
            status = None
            reason = redact_url(f"{type(exc).__name__}: {exc}")
        if status is not None and 200 <= status < 300:
            self.queue.done(delivery)
            return True
        if status is not None and status < 500 and status not in _RETRIED_CLIENT_STATUSES:
            log.warning(
                "webhook %d to %s refused (%s): not sent again", delivery.sequence, shown, reason
            )
            self.queue.done(delivery)
            return True
        attempts = delivery.attempts + 1
        delay = self._retry.delay(attempts)
        self.queue.retry(delivery, self._clock() + delay)
        log.info(
            "webhook %d to %s not delivered (%s, attempt %d): again in %.0f s",
            delivery.sequence,
            shown,
            reason,
            attempts,
            delay,
        )
        return False


__all__ = ["SIGNATURE_HEADER", "RetryPolicy", "WebhookSender", "signature", "webhook_type"]


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Turns every redirect into an HTTPError carrying its 3xx status."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None
