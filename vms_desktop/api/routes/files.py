"""The signed clip-file download of a local store: whole files or one byte range, GET or HEAD."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from vms_desktop.api.clip_file import ClipFileResponse
from vms_desktop.api.context import Context, FileOpener
from vms_desktop.domain.ids import InvalidIdError, validate_event_id

_SUFFIX = ".mp4"


def files_router(prefix: str, opener: FileOpener) -> APIRouter:
    """The download route for files linked under ``prefix``, opened by ``opener``.

    Kept out of the OpenAPI document: its links are made by the API, never composed by clients.
    """
    router = APIRouter()

    @router.get(prefix + "/{file_name}", include_in_schema=False)
    @router.head(prefix + "/{file_name}", include_in_schema=False)
    async def clip_file(
        context: Context,
        request: Request,
        file_name: str,
        expires: str = "",
        content: str = "",
        signature: str = "",
    ) -> Response:
        event_id = file_name.removesuffix(_SUFFIX)
        try:
            validate_event_id(event_id)
        except InvalidIdError:
            raise HTTPException(404, "no such clip") from None
        if not file_name.endswith(_SUFFIX):
            raise HTTPException(404, "no such clip")
        try:
            # Opening checks the signature and reads local metadata: off the loop, on the
            # store pool, whether or not a remote store answers.
            stream, meta = await context.in_store(
                opener, event_id, expires, content, signature, needs_store=False
            )
        except FileNotFoundError:
            raise HTTPException(404, "the clip this link names is gone") from None
        return ClipFileResponse(
            stream,
            size=meta.size,
            filename=file_name,
            etag=f'"{meta.sha256}"',
            request_headers=request.headers,
            head=request.method == "HEAD",
            read=context.local.run,
        )

    return router


__all__ = ["files_router"]
