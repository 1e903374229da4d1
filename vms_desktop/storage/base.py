"""What every clip store offers: the ``ClipStore`` protocol and the optional capabilities."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, BinaryIO, Protocol

from vms_desktop.domain.clip import ClipMeta
from vms_desktop.domain.store_state import ClipUrl, StoreHealth


class LinkedFiles(Protocol):
    """A store whose clips the embedded API serves itself, behind signed links."""

    files_prefix: str  # the URL path the signed links start with

    def open_linked(
        self,
        event_id: str,
        expires: str | None,
        content: str | None,
        signature: str | None,
        now: datetime | None = None,
    ) -> tuple[BinaryIO, ClipMeta]:
        """The bytes and metadata of the clip a signed link names."""
        ...


class BucketLifecycle(Protocol):
    """A store that can expire clips by itself (a bucket lifecycle rule)."""

    def apply_lifecycle(self, days: int) -> None:
        """Make stored clips expire ``days`` after they were stored."""
        ...


class ClipStore(Protocol):
    """Where finished clips and their metadata live (the source of truth for the catalogue)."""

    backend: str

    def put(self, meta: ClipMeta, clip_file: Path) -> None:
        """Store a finished clip and its metadata atomically; the metadata commits it.

        Raises :class:`ClipExistsError` if the event id is taken by different bytes; storing the
        same bytes again (a retry) succeeds without a duplicate.
        """
        ...

    def get(self, event_id: str) -> ClipMeta | None:
        """The stored clip's metadata, or None."""
        ...

    def delete(self, event_id: str) -> bool:
        """Remove the clip and its metadata; False if there was none."""
        ...

    def iter_all(self) -> Iterator[ClipMeta]:
        """Every stored clip's metadata (to rebuild the catalogue); skips malformed records."""
        ...

    def url(self, event_id: str, expires_in: timedelta) -> ClipUrl:
        """A URL that fetches the clip's bytes until it expires."""
        ...

    def open(self, event_id: str) -> BinaryIO:
        """The clip's bytes, for verification or a copy."""
        ...

    def health(self) -> StoreHealth:
        """Try the store cheaply and say whether it works."""
        ...

    # ---- capabilities: what only some stores offer (None where not supported) -------------

    def local_path(self, event_id: str) -> Path | None:
        """The clip's file on this computer; None when absent or not kept as a local file."""
        ...

    def local_root(self) -> Path | None:
        """The folder holding the clips on this computer, or None for a remote store."""
        ...

    def linked_files(self) -> LinkedFiles | None:
        """The store's own signed-link serving, if the embedded API serves its files."""
        ...

    def lifecycle(self) -> BucketLifecycle | None:
        """The store's own expiry rules, if it has them."""
        ...

    def close(self) -> None:
        """Release what the store holds (locks, connections); it stays usable."""
        ...


def sha256_of(stream: IO[bytes], chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of everything left in a binary stream (a file or a store's download)."""
    digest = hashlib.sha256()
    while data := stream.read(chunk):
        digest.update(data)
    return digest.hexdigest()


def stored_sha256(store: ClipStore, event_id: str) -> str:
    """Hex SHA-256 of a stored clip's bytes, read back from the store."""
    stream = store.open(event_id)
    try:
        return sha256_of(stream)
    finally:
        stream.close()
