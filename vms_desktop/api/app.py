"""The HTTP API application: the seed's clip endpoints plus ``/cameras``, composed from routers."""

from __future__ import annotations

from fastapi import FastAPI

from vms_desktop.__version__ import __version__
from vms_desktop.api.context import ApiContext, ApiOptions
from vms_desktop.api.errors import install_error_answers
from vms_desktop.api.notice_json import ServiceLinks
from vms_desktop.api.routes import bookmarks, cameras, clips, health
from vms_desktop.api.routes.archive import archive_router
from vms_desktop.api.routes.archive_links import is_signed_request
from vms_desktop.api.routes.events import StreamCloser, events_router
from vms_desktop.api.routes.files import files_router
from vms_desktop.api.schemas import COMMON_ERROR_STATUSES, ErrorOut
from vms_desktop.api.security import RequestGuard
from vms_desktop.engine.clip_service import ClipService


def create_app(service: ClipService, options: ApiOptions) -> FastAPI:
    """The FastAPI application over a clip service.

    No route blocks the event loop: each either runs on a thread or awaits its blocking calls
    on the pools of :class:`ApiContext`. Call :func:`release` once the server has stopped.
    """
    app = FastAPI(
        title="vms_desktop",
        version=__version__,
        description="Clips around surveillance events: generate, fetch, list, delete, clean up; "
        "the recorded archive as ranges and gaps, and as HLS playlists for standard players.",
        responses={status: {"model": ErrorOut} for status in COMMON_ERROR_STATUSES},
    )
    context = ApiContext.of(service, options)
    app.state.context = context
    public_prefixes = (options.files_path + "/",) if options.files_path else ()
    app.add_middleware(
        RequestGuard,
        allowed_hosts=options.allowed_hosts,
        token=options.token,
        public_paths=("/health",),
        public_prefixes=public_prefixes,
        signed=is_signed_request if options.archive is not None else None,
        throttle=options.throttle,
    )
    install_error_answers(app)
    app.include_router(clips.router)
    app.include_router(health.router)
    app.include_router(cameras.router)
    if options.bookmarks is not None:
        app.include_router(bookmarks.router)
    if options.archive is not None and options.link_signer is not None:
        app.include_router(archive_router(options.archive, options.link_signer))
    if options.files_path and options.file_opener is not None:
        app.include_router(files_router(options.files_path, options.file_opener))
    if options.notices is not None:
        closer = StreamCloser()
        app.state.streams = closer
        links = ServiceLinks(service, options.cameras)
        app.include_router(events_router(options.notices, links, closer))
    return app


def close_streams(app: object) -> None:
    """End the open event streams (from any thread), so that shutdown need not wait for them."""
    closer = getattr(getattr(app, "state", None), "streams", None)
    if isinstance(closer, StreamCloser):
        closer.close_all()


def release(app: object) -> None:
    """Let the API's worker threads end; calls still running finish on their own."""
    context = getattr(getattr(app, "state", None), "context", None)
    if isinstance(context, ApiContext):
        context.close()


__all__ = ["ApiOptions", "close_streams", "create_app", "release"]
