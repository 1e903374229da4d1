"""``GET /cameras``: the configured cameras, their state and buffered footage."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from vms_desktop.api.context import Context

router = APIRouter()


@router.get("/cameras", summary="Configured cameras, their state and buffered footage")
def cameras(context: Context) -> list[dict[str, Any]]:
    # A plain function, so FastAPI runs it on a thread: the rows are cached, but a first read
    # may still collect the buffers' state from disk.
    return context.options.cameras()


__all__ = ["router"]
