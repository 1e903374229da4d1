"""Clip actions that need no window: where a clip is read from, a checked copy, readable errors."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from datetime import timedelta
from pathlib import Path

from vms_desktop.domain.clip import ClipMeta
from vms_desktop.domain.errors import ClipNotFoundError, SaveCopyError, StoreError, ThumbnailError
from vms_desktop.engine.clip_service import ClipService
from vms_desktop.storage.atomic import commit_temp, create_temp, reason
from vms_desktop.storage.local_store import LocalClipStore

log = logging.getLogger(__name__)

# Longer than any playback session is likely to be: a remote player keeps re-reading the URL.
SOURCE_URL_EXPIRY = timedelta(hours=2)
_COPY_CHUNK = 1 << 20


def clip_source(service: ClipService, event_id: str) -> str:
    """What a decoder opens for a stored clip: the local file, or a time-limited URL."""
    store = service.store
    if isinstance(store, LocalClipStore):
        path = store.path_of(event_id)
        if path is None:
            raise ClipNotFoundError(event_id)
        return str(path)
    return service.url(event_id, SOURCE_URL_EXPIRY).url


def save_clip_copy(service: ClipService, meta: ClipMeta, destination: Path) -> bool:
    """Copy a stored clip to ``destination`` atomically; returns whether its SHA-256 matched.

    The copy is written to a temp file beside ``destination`` and renamed, so an interrupted
    copy never leaves a truncated video under the chosen name. Reading the clip raises what
    the store raises; writing raises :class:`SaveCopyError`.
    """
    digest = hashlib.sha256()
    with contextlib.closing(service.store.open(meta.event_id)) as reader:
        try:
            fd, temp = create_temp(destination)
        except OSError as exc:
            raise SaveCopyError(f"the copy could not be written: {reason(exc)}") from None
        try:
            with os.fdopen(fd, "wb") as writer:
                while chunk := reader.read(_COPY_CHUNK):
                    digest.update(chunk)
                    writer.write(chunk)
                writer.flush()
                os.fsync(writer.fileno())
            commit_temp(temp, destination)
        except BaseException as exc:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            if isinstance(exc, OSError):
                raise SaveCopyError(f"the copy could not be written: {reason(exc)}") from None
            raise
    return digest.hexdigest() == meta.sha256


def describe_error(exc: BaseException) -> str:
    """A sentence an operator can read for a failed clip action (never a traceback)."""
    if isinstance(exc, ClipNotFoundError):
        return "The clip no longer exists."
    if isinstance(exc, StoreError | ThumbnailError | SaveCopyError):
        return _sentence(str(exc))  # these messages are written to be shown
    if isinstance(exc, FileNotFoundError):
        return "The clip's file is missing."
    if isinstance(exc, OSError):
        return _sentence(reason(exc))
    if isinstance(exc, ValueError):
        return _sentence(str(exc))
    log.error("clip library action failed", exc_info=exc)
    return "Unexpected error; the details are in the log."


def _sentence(text: str) -> str:
    text = text.strip() or "unknown error"
    return text[0].upper() + text[1:] + ("" if text.endswith(".") else ".")


__all__ = ["SOURCE_URL_EXPIRY", "SaveCopyError", "clip_source", "describe_error", "save_clip_copy"]
