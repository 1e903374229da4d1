"""Every error the API answers, turned into its HTTP status, headers and JSON body in one place."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from vms_desktop.api.offload import PoolFullError
from vms_desktop.api.schemas import JobOut
from vms_desktop.domain.clip import ClipJob, ClipStatus
from vms_desktop.domain.errors import (
    BookmarkNotFoundError,
    ClipNotFoundError,
    EventConflictError,
    InvalidBookmarkError,
    InvalidLinkError,
    NoFootageError,
    ServiceBusyError,
    StoreError,
    StoreUnavailableError,
    UnknownCameraError,
)

log = logging.getLogger(__name__)

# Seconds a client is asked to wait when the store does not answer or is saturated.
STORE_RETRY_AFTER = 10
BUSY_RETRY_AFTER = 5
# Seconds a client is asked to wait before asking again after a clip that is still being made.
PENDING_RETRY_AFTER = 1
# FastAPI's own answer echoes the rejected input, which may be huge or hold secrets.
_MAX_PROBLEMS = 20
_MAX_PROBLEM_TEXT = 300


class ClipNotReadyError(Exception):
    """The clip asked for is not ready: still being made (202) or failed (410)."""

    def __init__(self, job: ClipJob) -> None:
        super().__init__(job.event.id)
        self.job = job


def error_response(status: int, detail: Any, headers: dict[str, str] | None = None) -> JSONResponse:
    """The API's error body: ``{"detail": ...}`` with ``status``."""
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


@dataclass(frozen=True)
class _Answer:
    """How one class of error is answered: its status, its detail and its headers."""

    status: int
    detail: Callable[[Exception], Any]
    headers: Callable[[Exception], dict[str, str] | None] = lambda _: None


def _text(exc: Exception) -> str:
    return str(exc)


def _retry_after(seconds: int) -> Callable[[Exception], dict[str, str]]:
    return lambda _: {"Retry-After": str(seconds)}


def _busy_retry_after(exc: Exception) -> dict[str, str]:
    return {
        "Retry-After": str(
            exc.retry_after if isinstance(exc, ServiceBusyError) else BUSY_RETRY_AFTER
        )
    }


def _unknown_camera(exc: Exception) -> str:
    camera_id = exc.args[0] if exc.args else ""
    return f"unknown camera {camera_id!r}"


# The class nearest an exception's own (along its MRO) decides the answer, so a subclass
# listed here (StoreUnavailableError) wins over its base (StoreError).
_ANSWERS: dict[type[Exception], _Answer] = {
    ClipNotFoundError: _Answer(404, lambda _: "no such clip"),
    BookmarkNotFoundError: _Answer(404, lambda _: "no such bookmark"),
    InvalidBookmarkError: _Answer(422, _text),
    UnknownCameraError: _Answer(404, _unknown_camera),
    InvalidLinkError: _Answer(403, lambda _: "the link is invalid or has expired"),
    EventConflictError: _Answer(409, _text),
    NoFootageError: _Answer(422, _text),
    ServiceBusyError: _Answer(429, _text, _busy_retry_after),
    StoreUnavailableError: _Answer(503, _text, _retry_after(STORE_RETRY_AFTER)),
    PoolFullError: _Answer(
        503, lambda _: "the service is busy; try again shortly", _retry_after(BUSY_RETRY_AFTER)
    ),
    StoreError: _Answer(502, _text),
}


def answer_for(exc: Exception) -> JSONResponse | None:
    """The answer to a known error (one of the classes above or a subclass), else None."""
    for cls in type(exc).__mro__:
        answer = _ANSWERS.get(cls)
        if answer is not None:
            return error_response(answer.status, answer.detail(exc), answer.headers(exc))
    return None


async def _on_known(request: Request, exc: Exception) -> JSONResponse:
    response = answer_for(exc)
    return response if response is not None else await _on_bug(request, exc)


async def _on_not_ready(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ClipNotReadyError)
    job = exc.job
    body = JobOut.of(job).model_dump(mode="json")
    if job.status is ClipStatus.FAILED:
        return JSONResponse(body, status_code=410)
    return JSONResponse(body, status_code=202, headers={"Retry-After": str(PENDING_RETRY_AFTER)})


async def _on_invalid(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [
        {
            "loc": [str(part) for part in error.get("loc", ())],
            "msg": str(error.get("msg", "invalid"))[:_MAX_PROBLEM_TEXT],
            "type": str(error.get("type", "value_error")),
        }
        for error in exc.errors()
    ]
    return error_response(422, problems[:_MAX_PROBLEMS])


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return error_response(exc.status_code, exc.detail, getattr(exc, "headers", None))


async def _on_bug(request: Request, exc: Exception) -> JSONResponse:
    # The text of an unexpected error may carry paths or internals: the log has it, not the client.
    log.exception("unexpected error in %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal error")


def install_error_answers(app: FastAPI) -> None:
    """Make ``app`` answer every error as this module says."""
    app.add_exception_handler(RequestValidationError, _on_invalid)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(ClipNotReadyError, _on_not_ready)
    for cls in _ANSWERS:
        app.add_exception_handler(cls, _on_known)
    app.add_exception_handler(Exception, _on_bug)


__all__ = [
    "BUSY_RETRY_AFTER",
    "STORE_RETRY_AFTER",
    "ClipNotReadyError",
    "answer_for",
    "error_response",
    "install_error_answers",
]
