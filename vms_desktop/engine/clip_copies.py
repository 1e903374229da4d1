"""Where a stored clip is read from for playback, and a checked copy of it saved elsewhere."""

from __future__ import annotations

import contextlib
import hashlib
import os
from datetime import timedelta
from pathlib import Path

from vms_desktop.domain.clip import ClipMeta
from vms_desktop.domain.errors import ClipNotFoundError, SaveCopyError
from vms_desktop.storage.atomic import commit_temp, create_temp, reason
from vms_desktop.storage.base import ClipStore

# Longer than any playback session is likely to be: a remote player keeps re-reading the URL.
SOURCE_URL_EXPIRY = timedelta(hours=2)
_COPY_CHUNK = 1 << 20


def playback_source(store: ClipStore, event_id: str) -> str:
    """What a decoder opens for a stored clip: its local file, or a time-limited URL."""
    if store.local_root() is not None:
        path = store.local_path(event_id)
        if path is None:
            raise ClipNotFoundError(event_id)
        return str(path)
    try:
        return store.url(event_id, SOURCE_URL_EXPIRY).url
    except FileNotFoundError:
        raise ClipNotFoundError(event_id) from None


def save_clip_copy(store: ClipStore, meta: ClipMeta, destination: Path) -> bool:
    """Copy a stored clip to ``destination`` atomically; returns whether its SHA-256 matched.

    The copy is written to a temp file beside ``destination`` and renamed, so an interrupted
    copy never leaves a truncated video under the chosen name. Reading the clip raises what
    the store raises; writing raises :class:`SaveCopyError`.
    """
    digest = hashlib.sha256()
    with contextlib.closing(store.open(meta.event_id)) as reader:
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
