"""The HTTP API: the seed's clip endpoints plus ``/cameras``, built by ``create_app``."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated, Any, BinaryIO, TypeVar

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from vms_desktop.__version__ import __version__
from vms_desktop.api.auth_throttle import AuthThrottle
from vms_desktop.api.clip_file import ClipFileResponse
from vms_desktop.api.offload import PoolFullError, WorkerPool
from vms_desktop.api.schemas import (
    CameraId,
    CleanupOut,
    ClipListOut,
    ClipOut,
    DeletedOut,
    ErrorOut,
    EventId,
    EventType,
    GenerateRequest,
    JobOut,
    UrlOut,
    UtcDatetime,
)
from vms_desktop.api.security import RequestGuard
from vms_desktop.domain.clip import ClipJob, ClipMeta, ClipStatus, Event, iso
from vms_desktop.domain.clip_query import ClipQuery
from vms_desktop.domain.errors import (
    ClipNotFoundError,
    EventConflictError,
    InvalidIdError,
    InvalidLinkError,
    NoFootageError,
    ServiceBusyError,
    StoreError,
    StoreUnavailableError,
    UnknownCameraError,
)
from vms_desktop.domain.ids import validate_event_id
from vms_desktop.engine.clip_service import ClipService
from vms_desktop.engine.clock import to_datetime

log = logging.getLogger(__name__)

_T = TypeVar("_T")

MAX_WAIT_SECONDS = 120.0
DEFAULT_URL_MINUTES = 60
# Seconds a client is asked to wait when the store does not answer or is saturated.
STORE_RETRY_AFTER = 10
BUSY_RETRY_AFTER = 5

FileOpener = Callable[[str, str, str, str], tuple[BinaryIO, ClipMeta]]
"""(event id, expires, content, signature) -> the linked clip's open file and metadata; raises
``InvalidLinkError`` (403) or ``FileNotFoundError`` (404)."""


def _never() -> bool:
    return False


def _ignore(detail: str) -> None:
    return None


@dataclass
class ApiOptions:
    """How the API is exposed, and what it asks of the rest of the service."""

    token: str | None = None
    allowed_hosts: set[str] | None = field(
        default_factory=lambda: {"127.0.0.1", "localhost", "[::1]"}
    )
    # Where signed local clip files are served (None: the store is not local).
    files_path: str | None = None
    file_opener: FileOpener | None = None
    health: Callable[[], dict[str, Any]] = dict
    cameras: Callable[[], list[dict[str, Any]]] = list
    # Whether the store is known not to answer now: calls that need it get 503 at once.
    store_unavailable: Callable[[], bool] = _never
    # Told (with a safe reason) when a store call found the store unavailable.
    store_failed: Callable[[str], None] = _ignore
    # Threads for catalogue and job lookups (local SQLite) and for store calls; store calls
    # beyond `store_threads + store_waiting` are answered 503 instead of queueing.
    local_threads: int = 4
    store_threads: int = 4
    store_waiting: int = 8
    throttle: AuthThrottle | None = None


def _error(status: int, detail: Any, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def create_app(service: ClipService, options: ApiOptions) -> FastAPI:
    """The FastAPI application over a clip service.

    No route blocks the event loop: catalogue and job lookups run on one pool of threads,
    store calls on another, bounded one, so a hung store can neither stall the loop nor take
    the threads the catalogue answers need. Call :func:`release` once the server has stopped.
    """
    # Many more local calls may wait than store calls: they finish at local-disk speed.
    local = WorkerPool("local", options.local_threads, max_waiting=256)
    remote = WorkerPool("store", options.store_threads, options.store_waiting)

    async def in_store(call: Callable[..., _T], *args: Any, needs_store: bool = True) -> _T:
        """Run a store call on the store pool; 503 at once if it needs a store known down."""
        if needs_store and options.store_unavailable():
            raise StoreUnavailableError("storage is not answering; try again later")
        try:
            return await remote.run(call, *args)
        except StoreUnavailableError as exc:
            options.store_failed(str(exc))
            raise

    async def find(event_id: str) -> ClipMeta | Response:
        """The stored clip, or the answer for one that is not ready (202, 404 or 410)."""
        meta, job = await local.run(service.local_lookup, event_id)
        if meta is not None:
            return meta
        if job is not None and job.status is not ClipStatus.READY:
            return _not_ready(job)
        # Unknown here (or ready yet not catalogued): another instance sharing the store may
        # have stored it.
        meta = await in_store(service.lookup_store, event_id)
        if meta is None:
            return _error(404, f"no clip for event {event_id!r}")
        return meta

    app = FastAPI(
        title="vms_desktop",
        version=__version__,
        description="Clips around surveillance events: generate, fetch, list, delete, clean up.",
        responses={
            400: {"model": ErrorOut},
            401: {"model": ErrorOut},
            403: {"model": ErrorOut},
            413: {"model": ErrorOut},
            415: {"model": ErrorOut},
            422: {"model": ErrorOut},
            429: {"model": ErrorOut},
            503: {"model": ErrorOut},
        },
    )
    public_prefixes = (options.files_path + "/",) if options.files_path else ()
    app.state.pools = (local, remote)
    app.add_middleware(
        RequestGuard,
        allowed_hosts=options.allowed_hosts,
        token=options.token,
        public_paths=("/health",),
        public_prefixes=public_prefixes,
        throttle=options.throttle,
    )

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's default echoes the rejected input, which may be huge or hold secrets.
        problems = [
            {
                "loc": [str(part) for part in error.get("loc", ())],
                "msg": str(error.get("msg", "invalid"))[:300],
                "type": str(error.get("type", "value_error")),
            }
            for error in exc.errors()
        ]
        return _error(422, problems[:20])

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(exc.status_code, exc.detail, getattr(exc, "headers", None))

    @app.exception_handler(ClipNotFoundError)
    async def on_missing(request: Request, exc: ClipNotFoundError) -> JSONResponse:
        return _error(404, "no such clip")

    @app.exception_handler(StoreUnavailableError)
    async def on_store_down(request: Request, exc: StoreUnavailableError) -> JSONResponse:
        return _error(503, str(exc), {"Retry-After": str(STORE_RETRY_AFTER)})

    @app.exception_handler(PoolFullError)
    async def on_saturated(request: Request, exc: PoolFullError) -> JSONResponse:
        return _error(
            503, "the service is busy; try again shortly", {"Retry-After": str(BUSY_RETRY_AFTER)}
        )

    @app.exception_handler(StoreError)
    async def on_store_error(request: Request, exc: StoreError) -> JSONResponse:
        return _error(502, str(exc))

    @app.exception_handler(Exception)
    async def on_bug(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error in %s %s", request.method, request.url.path)
        return _error(500, "internal error")

    @app.post(
        "/clips/generate",
        status_code=202,
        response_model=JobOut,
        responses={
            200: {"model": JobOut},
            404: {"model": ErrorOut},
            409: {"model": ErrorOut},
            429: {"model": ErrorOut},
        },
        summary="Generate a video clip for an event",
    )
    async def generate(
        body: GenerateRequest,
        wait: Annotated[
            float,
            Query(ge=0, le=MAX_WAIT_SECONDS, description="Seconds to wait for the clip (0-120)"),
        ] = 0,
    ) -> Response:
        raw = body.event
        event = Event(raw.id, raw.camera_id, raw.event_type, raw.timestamp)
        try:
            result = await local.run(service.generate, event)
        except UnknownCameraError:
            return _error(404, f"unknown camera {event.camera_id!r}")
        except EventConflictError as exc:
            return _error(409, str(exc))
        except ServiceBusyError as exc:
            return _error(429, str(exc), {"Retry-After": str(exc.retry_after)})
        except NoFootageError as exc:
            return _error(422, str(exc))
        except ValueError as exc:
            return _error(422, str(exc))
        job = result.job
        if wait > 0 and not job.status.finished:
            job = await _wait_for(local, service, event.id, wait) or job
        meta = result.meta
        if job.status is ClipStatus.READY and meta is None:
            meta, _ = await local.run(service.local_lookup, event.id)
        status = 200 if job.status.finished else 202
        return JSONResponse(
            JobOut.of(job, meta).model_dump(mode="json"),
            status_code=status,
            headers={"Location": f"/clips/{event.id}"} if status == 202 else None,
        )

    @app.get(
        "/clips",
        response_model=ClipListOut,
        summary="List clips with optional filters",
    )
    async def list_clips(
        camera_id: Annotated[CameraId | None, Query()] = None,
        start_date: Annotated[UtcDatetime | None, Query()] = None,
        end_date: Annotated[UtcDatetime | None, Query()] = None,
        event_type: Annotated[EventType | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    ) -> ClipListOut:
        page = await local.run(
            functools.partial(
                service.clips,
                ClipQuery(
                    camera_id=camera_id,
                    event_type=event_type,
                    start=start_date,
                    end=end_date,
                    limit=limit,
                    offset=offset,
                ),
            )
        )
        following = offset + len(page.items)
        return ClipListOut(
            clips=[ClipOut.of(meta) for meta in page.items],
            total=page.total,
            limit=limit,
            offset=offset,
            next_offset=following if following < page.total else None,
        )

    @app.get(
        "/clips/{event_id}",
        status_code=307,
        responses={
            202: {"model": JobOut, "description": "the clip is being made"},
            307: {"description": "redirect to the clip's URL"},
            404: {"model": ErrorOut},
            410: {"model": JobOut, "description": "the clip failed"},
        },
        summary="Get a video clip (redirect to its URL)",
    )
    async def get_clip(event_id: Annotated[EventId, ...]) -> Response:
        found = await find(event_id)
        if isinstance(found, Response):
            return found
        # Signing needs no answer from the store, so it goes ahead while the store is down.
        link = await in_store(
            service.link, event_id, timedelta(minutes=DEFAULT_URL_MINUTES), needs_store=False
        )
        return RedirectResponse(link.url, status_code=307)

    @app.get(
        "/clips/{event_id}/url",
        response_model=UrlOut,
        responses={202: {"model": JobOut}, 404: {"model": ErrorOut}, 410: {"model": JobOut}},
        summary="Get a direct, time-limited clip URL",
    )
    async def clip_url(
        event_id: Annotated[EventId, ...],
        expiry_minutes: Annotated[
            int, Query(ge=1, le=10080, description="URL lifetime, 1 minute to 7 days")
        ] = DEFAULT_URL_MINUTES,
    ) -> Response:
        found = await find(event_id)
        if isinstance(found, Response):
            return found
        link = await in_store(
            service.link, event_id, timedelta(minutes=expiry_minutes), needs_store=False
        )
        body = UrlOut(
            event_id=event_id,
            url=link.url,
            expires_at=iso(link.expires_at),
            expiry_minutes=expiry_minutes,
        )
        return JSONResponse(body.model_dump(mode="json"))

    @app.delete(
        "/clips/{event_id}",
        response_model=DeletedOut,
        responses={404: {"model": ErrorOut}},
        summary="Delete a clip",
    )
    async def delete_clip(event_id: Annotated[EventId, ...]) -> Response:
        deleted = await in_store(service.delete, event_id)
        if not deleted:
            return _error(404, f"no clip for event {event_id!r}")
        return JSONResponse(DeletedOut(event_id=event_id, deleted=True).model_dump())

    @app.post(
        "/clips/cleanup",
        response_model=CleanupOut,
        summary="Delete clips older than a number of days",
    )
    async def cleanup(
        days_old: Annotated[int, Query(ge=1, le=36500, description="Age in days (at least 1)")],
    ) -> CleanupOut:
        deleted = await in_store(service.cleanup, days_old)
        cutoff = to_datetime(service.clock.now()) - timedelta(days=days_old)
        return CleanupOut(deleted=len(deleted), event_ids=deleted[:1000], cutoff=iso(cutoff))

    @app.get("/health", summary="Health check (no authentication)")
    async def health() -> dict[str, Any]:
        return options.health()

    @app.get("/cameras", summary="Configured cameras, their state and buffered footage")
    async def cameras() -> list[dict[str, Any]]:
        return options.cameras()

    if options.files_path and options.file_opener is not None:
        opener = options.file_opener
        prefix = options.files_path

        @app.get(
            prefix + "/{file_name}",
            include_in_schema=False,
        )
        @app.head(prefix + "/{file_name}", include_in_schema=False)
        async def clip_file(
            request: Request,
            file_name: str,
            expires: str = "",
            content: str = "",
            signature: str = "",
        ) -> Response:
            event_id = file_name.removesuffix(".mp4")
            try:
                validate_event_id(event_id)
            except InvalidIdError:
                return _error(404, "no such clip")
            if not file_name.endswith(".mp4"):
                return _error(404, "no such clip")
            try:
                stream, meta = await in_store(
                    opener, event_id, expires, content, signature, needs_store=False
                )
            except InvalidLinkError:
                return _error(403, "the link is invalid or has expired")
            except FileNotFoundError:
                return _error(404, "the clip this link names is gone")
            return ClipFileResponse(
                stream,
                size=meta.size,
                filename=file_name,
                etag=f'"{meta.sha256}"',
                request_headers=request.headers,
                head=request.method == "HEAD",
                read=local.run,
            )

    return app


def release(app: object) -> None:
    """Let the API's worker threads end; calls still running finish on their own."""
    for pool in getattr(getattr(app, "state", None), "pools", ()):
        pool.close()


def _not_ready(job: ClipJob) -> Response:
    """The answer for a clip still being made (202) or that failed (410), from its job."""
    body = JobOut.of(job).model_dump(mode="json")
    if job.status is ClipStatus.FAILED:
        return JSONResponse(body, status_code=410)
    return JSONResponse(body, status_code=202, headers={"Retry-After": "1"})


async def _wait_for(pool: WorkerPool, service: ClipService, event_id: str, seconds: float) -> Any:
    """Poll a job until it finishes or ``seconds`` pass (no thread held while waiting)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    job = await pool.run(service.job, event_id)
    while job is not None and not job.status.finished and loop.time() < deadline:
        await asyncio.sleep(0.1)
        job = await pool.run(service.job, event_id)
    return job


__all__ = ["ApiOptions", "create_app", "release"]
