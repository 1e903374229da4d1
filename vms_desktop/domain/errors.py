"""Every error a caller of the storage, engine or service may catch, and its text for an operator.

The layers below raise these; the API turns them into HTTP answers in one place
(``api/errors.py``) and the console shows ``operator_text``. Each message is safe to show: no
paths, keys, URLs or secrets.
"""

from __future__ import annotations

from vms_desktop.domain.bookmark import InvalidBookmarkError
from vms_desktop.domain.clip import InvalidEventError
from vms_desktop.domain.ids import InvalidIdError

# ---- storage ------------------------------------------------------------------------------


class StoreError(Exception):
    """The store failed; the message is safe to show (no paths, keys or bucket internals)."""


class StoreUnavailableError(StoreError):
    """The store cannot be reached now; the operation may succeed later."""


class ClipExistsError(StoreError):
    """A clip with that event id is already stored (and is left untouched)."""


class CatalogueError(StoreError):
    """The catalogue failed; the message is safe to show (it can be rebuilt from the store)."""


class StorageIOError(StoreError):
    """A file operation failed; ``errno`` keeps the cause for callers that decide on retries."""

    def __init__(self, message: str, errno_code: int | None) -> None:
        super().__init__(message)
        self.errno = errno_code


class InvalidLinkError(Exception):
    """A clip file link whose signature is wrong or whose time is up."""


class SaveCopyError(Exception):
    """A copy of a clip could not be written where the operator chose; the message says why."""


# ---- cameras and media --------------------------------------------------------------------


class SourceError(Exception):
    """A camera source could not be opened or read; the message is safe to show."""


class AuthError(SourceError):
    """The camera refused the credentials."""


class UnknownCameraError(KeyError):
    """No camera with that id is configured."""


class ClipError(Exception):
    """A clip could not be built; the message is safe to show to a user."""


class NoFootageError(ClipError):
    """The buffer holds no footage for the requested window."""


class ClipCancelled(ClipError):
    """The build was cancelled."""


class ThumbnailError(Exception):
    """No thumbnail could be made; the message is safe to show (no paths or URLs)."""


class PlaybackError(Exception):
    """A clip cannot be opened or decoded; the message is fit to show an operator."""


# ---- the clip service ---------------------------------------------------------------------


class EventConflictError(Exception):
    """The event id is taken by a different event."""


class ServiceBusyError(Exception):
    """Too many clips are waiting; try again after ``retry_after`` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many clips in progress; retry in {retry_after} s")
        self.retry_after = retry_after


class ClipNotFoundError(KeyError):
    """No clip or job for that event id."""


class BookmarkNotFoundError(KeyError):
    """No bookmark with that id."""


def operator_text(error: BaseException) -> str:
    """One sentence for the console: what went wrong and, where it helps, what to do."""
    detail = str(error).strip()
    if isinstance(error, StoreUnavailableError):
        return f"The clip storage cannot be reached ({detail}). It is retried automatically."
    if isinstance(error, CatalogueError):
        return f"The clip catalogue failed ({detail}). It is rebuilt from the storage at start."
    if isinstance(error, StoreError):
        return f"The clip storage failed: {detail}"
    if isinstance(error, ClipNotFoundError):
        return "That clip is no longer stored (it was deleted or expired)."
    if isinstance(error, BookmarkNotFoundError):
        return "That bookmark no longer exists (it was deleted)."
    if isinstance(error, ServiceBusyError):
        return f"Too many clips are being made; try again in {error.retry_after} s."
    if isinstance(error, AuthError):
        return f"The camera refused the user name or password: {detail}"
    if isinstance(
        error,
        (
            SaveCopyError,
            SourceError,
            UnknownCameraError,
            ClipError,
            ThumbnailError,
            PlaybackError,
            EventConflictError,
            InvalidIdError,
            InvalidEventError,
            InvalidBookmarkError,
            InvalidLinkError,
        ),
    ):
        return detail[:1].upper() + detail[1:] if detail else type(error).__name__
    if isinstance(error, OSError):
        return f"A file or network operation failed: {error.strerror or detail}"
    # Anything else is a defect; its text may carry internals, so the log has the details.
    return f"Unexpected error ({type(error).__name__}); the log has the details."


__all__ = [
    "AuthError",
    "BookmarkNotFoundError",
    "CatalogueError",
    "ClipCancelled",
    "ClipError",
    "ClipExistsError",
    "ClipNotFoundError",
    "EventConflictError",
    "InvalidBookmarkError",
    "InvalidEventError",
    "InvalidIdError",
    "InvalidLinkError",
    "NoFootageError",
    "PlaybackError",
    "SaveCopyError",
    "ServiceBusyError",
    "SourceError",
    "StorageIOError",
    "StoreError",
    "StoreUnavailableError",
    "ThumbnailError",
    "UnknownCameraError",
    "operator_text",
]
