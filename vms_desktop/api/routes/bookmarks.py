"""The bookmark routes: add, list and delete notes on a camera's moment (optionally protecting
its footage).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from vms_desktop.api.context import Context
from vms_desktop.api.schemas import CameraId, ErrorOut, EventTime, UtcDatetime, page_fields
from vms_desktop.domain.bookmark import (
    BOOKMARK_ID_PATTERN,
    MAX_NOTE_LENGTH,
    Bookmark,
    BookmarkQuery,
)
from vms_desktop.domain.clip import iso
from vms_desktop.engine.bookmarks import BookmarkService

router = APIRouter()

BookmarkId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        pattern=BOOKMARK_ID_PATTERN,
        description="Bookmark id, as the service made it.",
    ),
]


class BookmarkIn(BaseModel):
    """Body of ``POST /bookmarks``."""

    model_config = ConfigDict(extra="forbid")

    camera_id: CameraId
    timestamp: EventTime = Field(
        description="The bookmarked moment, with a time zone.", examples=["2025-05-31T10:30:00Z"]
    )
    end: EventTime | None = Field(
        default=None, description="End of a bookmarked stretch (not before timestamp)."
    )
    note: str = Field(default="", max_length=MAX_NOTE_LENGTH, examples=["delivery van"])
    protect: bool = Field(
        default=False, description="Keep the camera's footage around it until it is deleted."
    )


class BookmarkOut(BaseModel):
    """A bookmark."""

    id: str
    camera_id: str
    timestamp: str
    end: str | None
    note: str
    protect: bool
    created_at: str

    @classmethod
    def of(cls, bookmark: Bookmark) -> BookmarkOut:
        """The API view of a bookmark."""
        return cls(
            id=bookmark.id,
            camera_id=bookmark.camera_id,
            timestamp=iso(bookmark.timestamp),
            end=iso(bookmark.end) if bookmark.end is not None else None,
            note=bookmark.note,
            protect=bookmark.protect,
            created_at=iso(bookmark.created_at),
        )


class BookmarkListOut(BaseModel):
    """A page of bookmarks, newest first."""

    items: list[BookmarkOut]
    total: int
    limit: int
    offset: int
    next_offset: int | None


def _service(context: Context) -> BookmarkService:
    service = context.options.bookmarks
    if service is None:  # the router is only included with a service; kept for the type
        raise HTTPException(404, "bookmarks are not available")
    return service


@router.post(
    "/bookmarks",
    status_code=201,
    response_model=BookmarkOut,
    responses={404: {"model": ErrorOut}},
    summary="Bookmark a moment of a camera",
)
async def add_bookmark(context: Context, body: BookmarkIn) -> Response:
    service = _service(context)
    bookmark = await context.local.run(
        lambda: service.add(
            body.camera_id, body.timestamp, end=body.end, note=body.note, protect=body.protect
        )
    )
    return JSONResponse(
        BookmarkOut.of(bookmark).model_dump(mode="json"),
        status_code=201,
        headers={"Location": f"/bookmarks/{bookmark.id}"},
    )


@router.get(
    "/bookmarks",
    response_model=BookmarkListOut,
    summary="List bookmarks with optional filters",
)
async def list_bookmarks(
    context: Context,
    camera_id: Annotated[CameraId | None, Query()] = None,
    start_date: Annotated[UtcDatetime | None, Query()] = None,
    end_date: Annotated[UtcDatetime | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> BookmarkListOut:
    service = _service(context)
    query = BookmarkQuery(
        camera_id=camera_id, start=start_date, end=end_date, limit=limit, offset=offset
    )
    page = await context.local.run(service.bookmarks, query)
    return BookmarkListOut(
        items=[BookmarkOut.of(bookmark) for bookmark in page.items],
        **page_fields(page.total, limit, offset, len(page.items)),
    )


@router.delete(
    "/bookmarks/{bookmark_id}",
    status_code=204,
    responses={404: {"model": ErrorOut}},
    summary="Delete a bookmark (its footage is no longer protected)",
)
async def delete_bookmark(context: Context, bookmark_id: BookmarkId) -> Response:
    await context.local.run(_service(context).delete, bookmark_id)
    return Response(status_code=204)


__all__ = ["BookmarkIn", "BookmarkListOut", "BookmarkOut", "router"]
