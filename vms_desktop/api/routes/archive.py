"""The archive routes: what a camera recorded over a window, HLS playlists of it (the window
and the live edge) for standard players, signed playlist links, and the media spans they list.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.exceptions import HTTPException, RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse

from vms_desktop.api.context import Context, LinkSigner
from vms_desktop.api.errors import error_response
from vms_desktop.api.routes.archive_links import ArchiveLinks, playlist_path
from vms_desktop.api.routes.archive_playlist import LiveNumbering, live_playlist, vod_playlist
from vms_desktop.api.routes.clips import DEFAULT_URL_MINUTES
from vms_desktop.api.schemas import (
    COMMON_ERROR_STATUSES,
    ArchiveUrlOut,
    CameraId,
    ErrorOut,
    RecordingsOut,
    TimeRangeOut,
    UtcDatetime,
)
from vms_desktop.domain.clip import iso
from vms_desktop.domain.clip_query import to_ms
from vms_desktop.domain.errors import InvalidLinkError, UnknownCameraError
from vms_desktop.domain.ids import InvalidIdError, validate_camera_id
from vms_desktop.domain.recording import TimeRange
from vms_desktop.engine.archive import Archive

# The longest window one request may ask about: a day of footage is a playlist of some
# 14,400 six-second spans (about 2 MB), which players still load at once.
MAX_WINDOW = timedelta(hours=24)
# Seconds a player is asked to wait for a camera's first live pieces.
LIVE_RETRY_AFTER = 2
PLAYLIST_TYPE = "application/vnd.apple.mpegurl"
MEDIA_TYPE = "video/mp2t"
# Signed answers are readable from any web page (hls.js in a browser): the signature, not the
# origin, is what grants them.
_SIGNED_HEADERS = {"Access-Control-Allow-Origin": "*"}

CameraInPath = Annotated[CameraId, Path()]
WindowStart = Annotated[UtcDatetime, Query(description="Start of the window, with a time zone.")]
WindowEnd = Annotated[
    UtcDatetime,
    Query(description="End of the window, with a time zone: after start, at most 24 h later."),
]
ExpiryMinutes = Annotated[
    int, Query(ge=1, le=10080, description="URL lifetime, 1 minute to 7 days")
]
LinkExpires = Annotated[
    str | None, Query(max_length=32, description="Expiry of a signed playlist link.")
]
LinkSignature = Annotated[
    str | None, Query(max_length=64, description="Signature of a signed playlist link.")
]

# A playlist route's errors are JSON, not playlists: written out, since FastAPI would list an
# error model under the route's own media type.
_PLAYLIST_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {"content": {PLAYLIST_TYPE: {"schema": {"type": "string"}}}},
    **{
        status: {
            "description": "Error",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}},
        }
        for status in (*COMMON_ERROR_STATUSES, 404)
    },
}


class PlaylistResponse(Response):
    """An HLS playlist."""

    media_type = PLAYLIST_TYPE


def _invalid(field: str, message: str) -> RequestValidationError:
    """A 422 naming a query field, in the form of FastAPI's own."""
    return RequestValidationError(
        [{"loc": ("query", field), "msg": message, "type": "value_error"}]
    )


def _window(start: datetime, end: datetime) -> tuple[float, float]:
    if end <= start:
        raise _invalid("end", "must be after start")
    if end - start > MAX_WINDOW:
        raise _invalid(
            "end", f"must be at most {MAX_WINDOW.total_seconds() / 3600:g} h after start"
        )
    return start.timestamp(), end.timestamp()


def _range(part: TimeRange) -> TimeRangeOut:
    return TimeRangeOut(
        start=_iso(part.start), end=_iso(part.end), duration_seconds=round(part.duration, 3)
    )


def _iso(seconds: float) -> str:
    return iso(datetime.fromtimestamp(seconds, UTC))


def archive_router(archive: Archive, signer: LinkSigner) -> APIRouter:
    """The archive routes over ``archive``, their links signed by ``signer``."""
    router = APIRouter()
    links = ArchiveLinks(signer)
    numbering = LiveNumbering(archive)

    def known(camera_id: str) -> None:
        # Looked at before the window, as the clip routes do: an unknown camera is 404 first.
        if camera_id not in archive.camera_ids():
            raise UnknownCameraError(camera_id)

    def by_link(
        camera_id: str, window: tuple[int, int] | None, expires: str | None, sig: str | None
    ) -> bool:
        """Whether a playlist was asked for by a signed link (403 if it is not valid now)."""
        if expires is None and sig is None:
            return False  # then the request guard has checked the token
        if not links.playlist_granted(camera_id, window, expires or "", sig or ""):
            raise InvalidLinkError("the link is invalid or has expired")
        return True

    @router.get(
        "/cameras/{camera_id}/recordings",
        response_model=RecordingsOut,
        responses={404: {"model": ErrorOut}},
        summary="Recorded ranges and gaps of a camera over a window",
    )
    async def recordings(
        context: Context, camera_id: CameraInPath, start: WindowStart, end: WindowEnd
    ) -> RecordingsOut:
        known(camera_id)
        low, high = _window(start, end)
        coverage = await context.local.run(archive.coverage, camera_id, low, high)
        return RecordingsOut(
            camera_id=camera_id,
            start=iso(start),
            end=iso(end),
            until=_iso(coverage.until),
            recorded_seconds=round(coverage.recorded_seconds, 3),
            ranges=[_range(part) for part in coverage.ranges],
            gaps=[_range(part) for part in coverage.gaps],
        )

    @router.get(
        "/cameras/{camera_id}/archive.m3u8",
        response_class=PlaylistResponse,
        responses=_PLAYLIST_ANSWERS,
        summary="HLS playlist (VOD) of a camera's footage over a window",
    )
    async def archive_playlist(
        context: Context,
        camera_id: CameraInPath,
        start: WindowStart,
        end: WindowEnd,
        expires: LinkExpires = None,
        sig: LinkSignature = None,
    ) -> Response:
        known(camera_id)
        low, high = _window(start, end)
        signed = by_link(camera_id, (to_ms(start), to_ms(end)), expires, sig)
        # Media links outlive the playlist by the window's length: a player started at once
        # can play it all through.
        media_expiry = datetime.now(UTC) + timedelta(
            minutes=DEFAULT_URL_MINUTES, seconds=high - low
        )

        def render() -> str | None:
            spans = archive.media_spans(camera_id, low, high)
            if not spans:
                return None
            return vod_playlist(spans, lambda span: links.media_uri(span, media_expiry))

        body = await context.local.run(render)
        if body is None:
            raise HTTPException(404, f"no footage of camera {camera_id!r} in the window")
        return _playlist(body, signed)

    @router.get(
        "/cameras/{camera_id}/live.m3u8",
        response_class=PlaylistResponse,
        responses=_PLAYLIST_ANSWERS,
        summary="HLS playlist of a camera's newest footage (live)",
    )
    async def live(
        context: Context,
        camera_id: CameraInPath,
        expires: LinkExpires = None,
        sig: LinkSignature = None,
    ) -> Response:
        known(camera_id)
        signed = by_link(camera_id, None, expires, sig)
        media_expiry = datetime.now(UTC) + timedelta(minutes=DEFAULT_URL_MINUTES)

        def render() -> str | None:
            edge = numbering.edge(camera_id)
            if edge is None:
                return None
            return live_playlist(edge, lambda span: links.media_uri(span, media_expiry))

        body = await context.local.run(render)
        if body is None:
            # 404, not 503: nothing is wrong with the service, there is just nothing to play yet.
            return error_response(
                404,
                f"camera {camera_id!r} has no footage yet; try again shortly",
                {"Retry-After": str(LIVE_RETRY_AFTER)},
            )
        return _playlist(body, signed)

    def signed_link(
        request: Request, camera_id: str, window: tuple[int, int] | None, minutes: int
    ) -> JSONResponse:
        expires_at = datetime.now(UTC) + timedelta(minutes=minutes)
        query, expires_at = links.playlist_query(camera_id, window, expires_at)
        # Where the client reached this server: the link works from there.
        base = str(request.base_url).rstrip("/")
        body = ArchiveUrlOut(
            camera_id=camera_id,
            url=f"{base}{playlist_path(camera_id, live=window is None)}?{query}",
            expires_at=iso(expires_at),
            expiry_minutes=minutes,
        )
        return JSONResponse(body.model_dump(mode="json"))

    @router.get(
        "/cameras/{camera_id}/archive-url",
        response_model=ArchiveUrlOut,
        responses={404: {"model": ErrorOut}},
        summary="Get a signed, time-limited URL of a window's HLS playlist",
    )
    async def archive_url(
        request: Request,
        camera_id: CameraInPath,
        start: WindowStart,
        end: WindowEnd,
        expiry_minutes: ExpiryMinutes = DEFAULT_URL_MINUTES,
    ) -> JSONResponse:
        known(camera_id)
        _window(start, end)
        return signed_link(request, camera_id, (to_ms(start), to_ms(end)), expiry_minutes)

    @router.get(
        "/cameras/{camera_id}/live-url",
        response_model=ArchiveUrlOut,
        responses={404: {"model": ErrorOut}},
        summary="Get a signed, time-limited URL of the live HLS playlist",
    )
    async def live_url(
        request: Request,
        camera_id: CameraInPath,
        expiry_minutes: ExpiryMinutes = DEFAULT_URL_MINUTES,
    ) -> JSONResponse:
        known(camera_id)
        return signed_link(request, camera_id, None, expiry_minutes)

    # Its links are made by the playlists, never composed by clients: not in the schema.
    @router.get("/cameras/{camera_id}/media/{file_key}.ts", include_in_schema=False)
    async def media(
        context: Context,
        camera_id: str,
        file_key: str,
        offset: str = "",
        length: str = "",
        expires: str = "",
        sig: str = "",
    ) -> Response:
        try:
            camera_id = validate_camera_id(camera_id)
        except InvalidIdError:
            raise InvalidLinkError("not a camera") from None
        if not file_key.isascii() or not file_key.isdigit() or len(file_key) > 15:
            raise InvalidLinkError("not an archive file")
        key = int(file_key)
        granted = links.media_granted(camera_id, key, offset, length, expires, sig)
        if granted is None or str(key) != file_key:
            raise InvalidLinkError("the link is invalid or has expired")
        known(camera_id)
        first, size = granted
        try:
            # Opened on a worker thread; the chunks are read on Starlette's threads as sent.
            chunks = await context.local.run(archive.read_span, camera_id, key, first, size)
        except FileNotFoundError:
            raise HTTPException(404, "this footage is no longer archived") from None
        headers = {"Content-Length": str(size), "Cache-Control": "private", **_SIGNED_HEADERS}
        return StreamingResponse(chunks, media_type=MEDIA_TYPE, headers=headers)

    return router


def _playlist(body: str, signed: bool) -> Response:
    headers = {"Cache-Control": "no-cache", **(_SIGNED_HEADERS if signed else {})}
    return PlaylistResponse(body, headers=headers)


__all__ = ["LIVE_RETRY_AFTER", "MAX_WINDOW", "archive_router"]
