"""``GET /health``: the service's state, answered without authentication."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from vms_desktop.api.context import Context

router = APIRouter()


@router.get("/health", summary="Health check (no authentication)")
def health(context: Context) -> dict[str, Any]:
    # A plain function, so FastAPI runs it on a thread: the snapshot is cached, but a first
    # read may still collect the buffers' state from disk.
    return context.options.health()


__all__ = ["router"]
