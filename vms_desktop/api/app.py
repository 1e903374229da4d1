"""The HTTP API: the seed's clip endpoints plus ``/cameras``, built by ``create_app``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from pydantic import AwareDatetime
from starlette.exceptions import HTTPException as StarletteHTTPException

from vms_desktop.__version__ import __version__
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
)
from vms_desktop.api.security import RequestGuard
from vms_desktop.domain.clip import ClipStatus, Event, iso
from vms_desktop.domain.ids import InvalidIdError, validate_event_id
from vms_desktop.engine.clip_builder import NoFootageError
from vms_desktop.engine.clip_service import (
    ClipNotFoundError,
    ClipService,
    EventConflictError,
    ServiceBusyError,
)
from vms_desktop.engine.recorder import UnknownCameraError
from vms_desktop.storage.base import StoreError, StoreUnavailableError

log = logging.getLogger(__name__)

MAX_WAIT_SECONDS = 120.0
DEFAULT_URL_MINUTES = 60


@dataclass
class ApiOptions:
    """How the API is exposed."""

    token: str | None = None
    allowed_hosts: set[str] | None = field(
        default_factory=lambda: {"127.0.0.1", "localhost", "[::1]"}
    )
    # Where signed local clip files are served (None: the store is not local).
    files_path: str | None = None
    # (event id, expires, signature) -> the clip file, or None if the link is not valid.
    file_resolver: Callable[[str, str, str], Path | None] | None = None
    health: Callable[[], dict[str, Any]] = dict
    cameras: Callable[[], list[dict[str, Any]]] = list


def _error(status: int, detail: Any, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def create_app(service: ClipService, options: ApiOptions) -> FastAPI:
    """The FastAPI application over a clip service."""
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
        },
    )
    public_prefixes = (options.files_path + "/",) if options.files_path else ()
    app.add_middleware(
        RequestGuard,
        allowed_hosts=options.allowed_hosts,
        token=options.token,
        public_paths=("/health",),
        public_prefixes=public_prefixes,
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
        return _error(503, str(exc), {"Retry-After": "10"})

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
            result = await asyncio.to_thread(service.generate, event)
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
            job = await _wait_for(service, event.id, wait) or job
        meta = service.get(event.id) if job.status is ClipStatus.READY else None
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
        start_date: Annotated[AwareDatetime | None, Query()] = None,
        end_date: Annotated[AwareDatetime | None, Query()] = None,
        event_type: Annotated[EventType | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    ) -> ClipListOut:
        page = await asyncio.to_thread(
            service.clips,
            camera_id=camera_id,
            event_type=event_type,
            start=start_date,
            end=end_date,
            limit=limit,
            offset=offset,
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
        not_ready = _not_ready(service, event_id)
        if not_ready is not None:
            return not_ready
        link = await asyncio.to_thread(
            service.url, event_id, timedelta(minutes=DEFAULT_URL_MINUTES)
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
        not_ready = _not_ready(service, event_id)
        if not_ready is not None:
            return not_ready
        link = await asyncio.to_thread(service.url, event_id, timedelta(minutes=expiry_minutes))
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
        deleted = await asyncio.to_thread(service.delete, event_id)
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
        deleted = await asyncio.to_thread(service.cleanup, days_old)
        cutoff = datetime.now(UTC) - timedelta(days=days_old)
        return CleanupOut(deleted=len(deleted), event_ids=deleted[:1000], cutoff=iso(cutoff))

    @app.get("/health", summary="Health check (no authentication)")
    async def health() -> dict[str, Any]:
        return options.health()

    @app.get("/cameras", summary="Configured cameras, their state and buffered footage")
    async def cameras() -> list[dict[str, Any]]:
        return options.cameras()

    if options.files_path and options.file_resolver is not None:
        resolver = options.file_resolver
        prefix = options.files_path

        @app.get(
            prefix + "/{file_name}",
            include_in_schema=False,
        )
        @app.head(prefix + "/{file_name}", include_in_schema=False)
        async def clip_file(
            request: Request, file_name: str, expires: str = "", signature: str = ""
        ) -> Response:
            event_id = file_name.removesuffix(".mp4")
            try:
                validate_event_id(event_id)
            except InvalidIdError:
                return _error(404, "no such clip")
            if not file_name.endswith(".mp4"):
                return _error(404, "no such clip")
            path = resolver(event_id, expires, signature)
            if path is None:
                return _error(403, "the link is invalid or has expired")
            return FileResponse(path, media_type="video/mp4", filename=file_name)

    return app


def _not_ready(service: ClipService, event_id: str) -> Response | None:
    """The answer for a clip that is not ready (202, 404 or 410), or None when it is."""
    if service.get(event_id) is not None:
        return None
    job = service.job(event_id)
    if job is None:
        return _error(404, f"no clip for event {event_id!r}")
    body = JobOut.of(job).model_dump(mode="json")
    if job.status is ClipStatus.FAILED:
        return JSONResponse(body, status_code=410)
    if job.status is ClipStatus.READY:  # stored meanwhile by another instance and deleted
        return _error(404, f"no clip for event {event_id!r}")
    return JSONResponse(body, status_code=202, headers={"Retry-After": "1"})


async def _wait_for(service: ClipService, event_id: str, seconds: float) -> Any:
    """Poll a job until it finishes or ``seconds`` pass (no thread held while waiting)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    job = service.job(event_id)
    while job is not None and not job.status.finished and loop.time() < deadline:
        await asyncio.sleep(0.1)
        job = service.job(event_id)
    return job


__all__ = ["ApiOptions", "create_app"]
