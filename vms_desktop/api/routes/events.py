"""``GET /events/stream``: the engine's notices as Server-Sent Events, resumable by sequence."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Query
from fastapi.responses import StreamingResponse

from vms_desktop.api.context import Context
from vms_desktop.api.notice_json import NoticeLinks, notice_json
from vms_desktop.domain.notice import Notice
from vms_desktop.engine.notices import NoticeHub

log = logging.getLogger(__name__)

KEEP_ALIVE_SECONDS = 15.0
# Notices a client may have waiting; one further behind is dropped (it resumes by its id).
CLIENT_QUEUE = 1000


class StreamCloser:
    """Ends every open stream at shutdown, from any thread, so the server need not wait."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._closers: set[Callable[[], None]] = set()
        self._closed = False

    def add(self, close: Callable[[], None]) -> Callable[[], None]:
        """Register a stream's thread-safe ``close``; returns the function removing it."""
        with self._lock:
            if self._closed:
                close()
            self._closers.add(close)
        return lambda: self._discard(close)

    def close_all(self) -> None:
        """Close the open streams and any opened from now on."""
        with self._lock:
            self._closed = True
            closers = list(self._closers)
        for close in closers:
            close()

    def _discard(self, close: Callable[[], None]) -> None:
        with self._lock:
            self._closers.discard(close)


def _frame(notice_id: int, kind: str, data: dict[str, Any]) -> str:
    return f"id: {notice_id}\nevent: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def _resume_point(header: str | None, query: int | None) -> int | None:
    raw = header if header is not None else (str(query) if query is not None else None)
    if raw is None or raw.strip() == "":
        return None
    try:
        value = int(raw.strip())
    except ValueError:
        raise HTTPException(422, "Last-Event-ID must be a notice sequence number") from None
    if value < 0:
        raise HTTPException(422, "Last-Event-ID must not be negative")
    return value


class ClientQueue:
    """A stream's bounded queue, fed from publishers' threads without ever waiting."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.queue: asyncio.Queue[Notice | None] = asyncio.Queue(CLIENT_QUEUE + 1)
        self.overflowed = False

    def offer(self, notice: Notice) -> None:
        """From any thread: queue the notice on the loop (never blocks)."""
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody listens
            self.loop.call_soon_threadsafe(self._put, notice)

    def close(self) -> None:
        """From any thread: end the stream."""
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(self._put, None)

    def _put(self, notice: Notice | None) -> None:
        if self.overflowed:
            return
        if notice is not None and self.queue.qsize() >= CLIENT_QUEUE:
            self.overflowed = True
            notice = None  # the end marker takes the last place
        self.queue.put_nowait(notice)


def events_router(hub: NoticeHub, links: NoticeLinks | None, closer: StreamCloser) -> APIRouter:
    """The stream route over ``hub``; ``closer`` ends the open streams at shutdown."""
    router = APIRouter()

    @router.get(
        "/events/stream",
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}}}},
        summary="Clip, camera and health changes as Server-Sent Events",
    )
    async def stream(
        context: Context,
        last_event_id: Annotated[
            str | None, Header(alias="Last-Event-ID", include_in_schema=False)
        ] = None,
        resume_after: Annotated[
            int | None,
            Query(alias="last_event_id", ge=0, description="Resume after this notice"),
        ] = None,
    ) -> StreamingResponse:
        after = _resume_point(last_event_id, resume_after)
        client = ClientQueue(asyncio.get_running_loop())
        start = hub.last_sequence if after is None else after
        missed, unsubscribe = hub.subscribe_since(start, client.offer)
        forget = closer.add(client.close)

        async def frames() -> AsyncIterator[str]:
            try:
                if missed is None:
                    # The notices after `after` are no longer all held: the client re-reads
                    # the state it keeps (GET /clips, /cameras) and goes on from here.
                    reset = {"last_event_id": after, "current": hub.last_sequence}
                    yield f"event: reset\ndata: {json.dumps(reset)}\n\n"
                else:
                    for notice in missed:
                        yield await render(notice)
                yield ": connected\n\n"
                while True:
                    try:
                        item = await asyncio.wait_for(client.queue.get(), KEEP_ALIVE_SECONDS)
                    except TimeoutError:
                        yield ": keep-alive\n\n"
                        continue
                    if item is None:
                        if client.overflowed:
                            log.warning("event stream client too slow: dropped")
                        return
                    yield await render(item)
            finally:
                unsubscribe()
                forget()

        async def render(notice: Notice) -> str:
            # Rendering may read the local catalogue: on a thread, never on the loop.
            data = await context.local.run(notice_json, notice, links)
            return _frame(notice.sequence, notice.kind.value, data)

        return StreamingResponse(
            frames(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    return router


__all__ = ["CLIENT_QUEUE", "KEEP_ALIVE_SECONDS", "ClientQueue", "StreamCloser", "events_router"]
