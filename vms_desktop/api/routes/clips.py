"""The clip routes: generate, list, fetch (redirect or URL), delete and clean up."""

from __future__ import annotations

from datetime import timedelta
from functools import partial
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import JSONResponse, RedirectResponse, Response

from vms_desktop.api.context import Context
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
    page_fields,
)
from vms_desktop.domain.clip import ClipStatus, Event, iso
from vms_desktop.domain.clip_query import ClipQuery

MAX_WAIT_SECONDS = 120.0
DEFAULT_URL_MINUTES = 60
# Listed clips at most in a cleanup's answer (the count is always complete).
_CLEANUP_IDS_SHOWN = 1000

router = APIRouter()


@router.post(
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
    context: Context,
    body: GenerateRequest,
    wait: Annotated[
        float,
        Query(ge=0, le=MAX_WAIT_SECONDS, description="Seconds to wait for the clip (0-120)"),
    ] = 0,
) -> Response:
    raw = body.event
    event = Event(raw.id, raw.camera_id, raw.event_type, raw.timestamp)
    try:
        result = await context.local.run(
            partial(
                context.service.generate,
                event,
                pre_seconds=body.pre_event_seconds,
                post_seconds=body.post_event_seconds,
            )
        )
    except ValueError as exc:  # the service's word for an event it cannot take
        raise HTTPException(422, str(exc)) from None
    job = result.job
    if wait > 0 and not job.status.finished:
        job = await context.wait_for_job(event.id, wait) or job
    meta = result.meta
    if job.status is ClipStatus.READY and meta is None:
        meta, _ = await context.local.run(context.service.local_lookup, event.id)
    status = 200 if job.status.finished else 202
    return JSONResponse(
        JobOut.of(job, meta).model_dump(mode="json"),
        status_code=status,
        headers={"Location": f"/clips/{event.id}"} if status == 202 else None,
    )


@router.get(
    "/clips",
    response_model=ClipListOut,
    summary="List clips with optional filters",
)
async def list_clips(
    context: Context,
    camera_id: Annotated[CameraId | None, Query()] = None,
    start_date: Annotated[UtcDatetime | None, Query()] = None,
    end_date: Annotated[UtcDatetime | None, Query()] = None,
    event_type: Annotated[EventType | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> ClipListOut:
    query = ClipQuery(
        camera_id=camera_id,
        event_type=event_type,
        start=start_date,
        end=end_date,
        limit=limit,
        offset=offset,
    )
    page = await context.local.run(context.service.clips, query)
    return ClipListOut(
        clips=[ClipOut.of(meta) for meta in page.items],
        **page_fields(page.total, limit, offset, len(page.items)),
    )


@router.get(
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
async def get_clip(context: Context, event_id: Annotated[EventId, ...]) -> Response:
    await context.find(event_id)
    # Signing needs no answer from the store, so it goes ahead while the store is down.
    link = await context.in_store(
        context.service.link,
        event_id,
        timedelta(minutes=DEFAULT_URL_MINUTES),
        needs_store=False,
    )
    return RedirectResponse(link.url, status_code=307)


@router.get(
    "/clips/{event_id}/url",
    response_model=UrlOut,
    responses={202: {"model": JobOut}, 404: {"model": ErrorOut}, 410: {"model": JobOut}},
    summary="Get a direct, time-limited clip URL",
)
async def clip_url(
    context: Context,
    event_id: Annotated[EventId, ...],
    expiry_minutes: Annotated[
        int, Query(ge=1, le=10080, description="URL lifetime, 1 minute to 7 days")
    ] = DEFAULT_URL_MINUTES,
) -> Response:
    await context.find(event_id)
    link = await context.in_store(
        context.service.link, event_id, timedelta(minutes=expiry_minutes), needs_store=False
    )
    body = UrlOut(
        event_id=event_id,
        url=link.url,
        expires_at=iso(link.expires_at),
        expiry_minutes=expiry_minutes,
    )
    return JSONResponse(body.model_dump(mode="json"))


@router.delete(
    "/clips/{event_id}",
    response_model=DeletedOut,
    responses={404: {"model": ErrorOut}},
    summary="Delete a clip",
)
async def delete_clip(context: Context, event_id: Annotated[EventId, ...]) -> Response:
    if not await context.in_store(context.service.delete, event_id):
        raise HTTPException(404, f"no clip for event {event_id!r}")
    return JSONResponse(DeletedOut(event_id=event_id, deleted=True).model_dump())


@router.post(
    "/clips/cleanup",
    response_model=CleanupOut,
    summary="Delete clips older than a number of days",
)
async def cleanup(
    context: Context,
    days_old: Annotated[int, Query(ge=1, le=36500, description="Age in days (at least 1)")],
) -> CleanupOut:
    result = await context.in_store(context.service.delete_older_than, days_old)
    return CleanupOut(
        deleted=len(result.deleted),
        event_ids=result.deleted[:_CLEANUP_IDS_SHOWN],
        cutoff=iso(result.cutoff),
    )


__all__ = ["DEFAULT_URL_MINUTES", "MAX_WAIT_SECONDS", "router"]
