"""What the routes share: the clip service, the options and the pools that keep the loop free."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, BinaryIO, Protocol, TypeVar, cast

from fastapi import Depends, HTTPException, Request

from vms_desktop.api.auth_throttle import AuthThrottle
from vms_desktop.api.errors import ClipNotReadyError
from vms_desktop.api.offload import WorkerPool
from vms_desktop.domain.clip import ClipJob, ClipMeta, ClipStatus
from vms_desktop.domain.errors import StoreUnavailableError
from vms_desktop.engine.archive import Archive
from vms_desktop.engine.bookmarks import BookmarkService
from vms_desktop.engine.clip_service import ClipService
from vms_desktop.engine.notices import NoticeHub

_T = TypeVar("_T")

FileOpener = Callable[[str, str, str, str], tuple[BinaryIO, ClipMeta]]
"""(event id, expires, content, signature) -> the linked clip's open file and metadata; raises
``InvalidLinkError`` (403) or ``FileNotFoundError`` (404)."""


class LinkSigner(Protocol):
    """Signs and checks expiring links (the local store's ``UrlSigner``)."""

    def sign(self, path: str, expires_at: datetime, content: str) -> str:
        """The query ``expires=...&content=...&signature=...`` granting ``GET path``."""
        ...

    def verify(
        self,
        path: str,
        expires: str | None,
        content: str | None,
        signature: str | None,
        now: datetime | None = None,
    ) -> bool:
        """Whether ``signature`` grants ``GET path`` for ``content`` now."""
        ...


# How often a request waiting for its clip looks at the job again.
_JOB_POLL_SECONDS = 0.1


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
    # Bookmarks (None: the /bookmarks routes are not served).
    bookmarks: BookmarkService | None = None
    # The recorded footage and the key its links are signed with (None: no archive routes).
    archive: Archive | None = None
    link_signer: LinkSigner | None = None
    # The engine's notices (None: no /events/stream).
    notices: NoticeHub | None = None


@dataclass
class ApiContext:
    """The service and options behind the routes, and the two pools their blocking calls use.

    Catalogue and job lookups (local SQLite, local files) run on ``local``; store calls on
    ``remote``, which is bounded, so a hung store can neither stall the loop nor take the
    threads the catalogue answers need.
    """

    service: ClipService
    options: ApiOptions
    local: WorkerPool
    remote: WorkerPool

    @classmethod
    def of(cls, service: ClipService, options: ApiOptions) -> ApiContext:
        """A context with fresh pools sized by ``options``."""
        return cls(
            service,
            options,
            # Many more local calls may wait than store calls: they finish at local-disk speed.
            WorkerPool("local", options.local_threads, max_waiting=256),
            WorkerPool("store", options.store_threads, options.store_waiting),
        )

    def close(self) -> None:
        """Let the pools' threads end; calls still running finish on their own."""
        self.local.close()
        self.remote.close()

    async def in_store(self, call: Callable[..., _T], *args: Any, needs_store: bool = True) -> _T:
        """Run a store call on the store pool; 503 at once if it needs a store known down."""
        if needs_store and self.options.store_unavailable():
            raise StoreUnavailableError("storage is not answering; try again later")
        try:
            return await self.remote.run(call, *args)
        except StoreUnavailableError as exc:
            self.options.store_failed(str(exc))
            raise

    async def find(self, event_id: str) -> ClipMeta:
        """The stored clip; :class:`ClipNotReadyError` for one still being made or failed, and
        404 for one neither catalogued, nor being made, nor in the store.
        """
        meta, job = await self.local.run(self.service.local_lookup, event_id)
        if meta is not None:
            return meta
        if job is not None and job.status is not ClipStatus.READY:
            raise ClipNotReadyError(job)
        # Unknown here (or ready yet not catalogued): another instance sharing the store may
        # have stored it.
        meta = await self.in_store(self.service.lookup_store, event_id)
        if meta is None:
            raise HTTPException(404, f"no clip for event {event_id!r}")
        return meta

    async def wait_for_job(self, event_id: str, seconds: float) -> ClipJob | None:
        """Poll a job until it finishes or ``seconds`` pass (no thread held while waiting)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        job = await self.local.run(self.service.job, event_id)
        while job is not None and not job.status.finished and loop.time() < deadline:
            await asyncio.sleep(_JOB_POLL_SECONDS)
            job = await self.local.run(self.service.job, event_id)
        return job


async def api_context(request: Request) -> ApiContext:
    """The context of the app serving ``request`` (a coroutine: FastAPI runs a plain function
    dependency on a thread, and this only reads an attribute).
    """
    return cast(ApiContext, request.app.state.context)


Context = Annotated[ApiContext, Depends(api_context)]
"""A route parameter receiving the :class:`ApiContext`."""


__all__ = ["ApiContext", "ApiOptions", "Context", "FileOpener", "LinkSigner", "api_context"]
