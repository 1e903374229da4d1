"""Clips on the local file system: ``{event_id}.mp4`` plus a companion ``{event_id}.json``."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import logging
import os
import shutil
import stat
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

from vms_desktop.domain.clip import ClipMeta
from vms_desktop.domain.errors import (
    ClipExistsError,
    InvalidIdError,
    InvalidLinkError,
    StoreError,
    StoreUnavailableError,
)
from vms_desktop.domain.ids import is_valid_event_id, validate_event_id
from vms_desktop.domain.store_state import MAX_URL_EXPIRY, ClipUrl, StoreHealth
from vms_desktop.storage.atomic import (
    O_BINARY,
    O_NOFOLLOW,
    O_NONBLOCK,
    cleanup_temp_files,
    commit_temp,
    create_temp,
    fsync_dir,
    is_temp_name,
    publish_file,
    reason,
    store_error,
    write_temp,
)
from vms_desktop.storage.base import BucketLifecycle, LinkedFiles
from vms_desktop.storage.signing import UrlSigner, content_tag

log = logging.getLogger(__name__)

MIN_URL_EXPIRY = timedelta(minutes=1)
CLIP_SUFFIX = ".mp4"
META_SUFFIX = ".json"

# Event ids start with a letter or a digit, so no event id can ever be "_files": file URLs under
# this segment can never collide with the API's /clips/{event_id} routes, whatever ids arrive.
FILES_SEGMENT = "_files"

# A companion record is a few hundred bytes; anything far larger was not written by us.
_MAX_META_BYTES = 1 << 20
_DEFAULT_MIN_FREE = 1 << 20
_DEFAULT_RECOVER_AGE = timedelta(minutes=1)


class _Kind(Enum):
    MISSING = "missing"
    FILE = "file"
    OTHER = "other"  # a symlink, folder, device, ...: never read, written or removed


def _kind(path: Path) -> _Kind:
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return _Kind.MISSING
    return _Kind.FILE if stat.S_ISREG(info.st_mode) else _Kind.OTHER


def _human(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class RecoveryResult:
    """What :meth:`LocalClipStore.recover` removed."""

    temp_files: int
    orphan_clips: int


class _Malformed(Exception):
    """A companion record that cannot be used (reason in the message, no path)."""


class LocalClipStore:
    """A :class:`~vms_desktop.storage.base.ClipStore` in one folder, served by our HTTP server.

    Files are named only from validated event ids and are never reached through symbolic
    links: a symlink (or any non-regular file) planted under a clip's name counts as absent
    for reads and blocks writes. Writers in one process are serialized by a lock; two
    processes writing the same folder are not coordinated (share S3 for that).
    """

    backend = "local"

    def __init__(
        self,
        root: Path,
        base_url: str,
        signer: UrlSigner,
        *,
        create: bool = True,
        min_free_bytes: int = _DEFAULT_MIN_FREE,
    ) -> None:
        """Serve ``root`` under ``base_url`` (``CLIP_BASE_URL``, e.g. ``http://host:8000/clips``).

        With ``create`` a missing ``root`` is made now; later writes never recreate it, so a
        mount that disappears is reported instead of silently filling the disk under it.
        """
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("CLIP_BASE_URL must be an http:// or https:// URL")
        if parts.query or parts.fragment:
            raise ValueError("CLIP_BASE_URL must not have a query or a fragment")
        self.root = Path(os.path.abspath(root))
        self._base_url = base_url.rstrip("/")
        self.files_prefix = f"{parts.path.rstrip('/')}/{FILES_SEGMENT}"
        self.signer = signer
        self._min_free = min_free_bytes
        self._lock = threading.Lock()
        self._claim: int | None = None  # the folder's lock file, while this instance owns it
        if create:
            try:
                self.root.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                log.warning("clip folder could not be created: %s", reason(exc))

    def claim(self) -> bool:
        """Try to become the folder's only writer (an advisory lock on the folder itself, held
        until :meth:`close`; no file is added to the folder).

        The owner knows no other process is writing there, so it may clean up everything a
        crash left at once instead of waiting for it to age.
        """
        if self._claim is not None:
            return True
        try:
            fd = os.open(self.root, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        except OSError as exc:
            log.warning("clip folder lock not taken: %s", reason(exc))
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._claim = fd
        return True

    def close(self) -> None:
        """Give up the folder's lock (the store stays usable)."""
        if self._claim is not None:
            os.close(self._claim)
            self._claim = None

    def __repr__(self) -> str:
        return f"LocalClipStore(files_prefix={self.files_prefix!r})"

    # ---- names ---------------------------------------------------------------------------

    def _paths(self, event_id: str) -> tuple[Path, Path]:
        """The clip and record paths for a validated id (raises ``InvalidIdError``)."""
        event_id = validate_event_id(event_id)
        clip = self.root / f"{event_id}{CLIP_SUFFIX}"
        record = self.root / f"{event_id}{META_SUFFIX}"
        # The id pattern already excludes separators and "..": this guards against a future
        # loosening of that pattern rather than against any id accepted today.
        if clip.parent != self.root or record.parent != self.root:
            raise InvalidIdError("event id", event_id, "must name a file inside the clip folder")
        return clip, record

    def file_url_path(self, event_id: str) -> str:
        """The URL path our server serves the clip at, and the one its signature covers."""
        validate_event_id(event_id)
        return f"{self.files_prefix}/{event_id}{CLIP_SUFFIX}"

    def verify_file_access(
        self,
        event_id: str,
        expires: str | None,
        signature: str | None,
        now: datetime | None = None,
        *,
        content: str | None = None,
    ) -> bool:
        """Whether a link's ``expires``, ``content`` and ``signature`` grant access to the clip
        stored now (a link made for a clip since deleted or replaced does not).

        Without ``content`` the link is checked against the stored clip's own tag.
        """
        if not is_valid_event_id(event_id):
            return False
        try:
            meta = self.get(event_id)
        except StoreError:
            return False
        if meta is None:
            return False
        tag = content_tag(meta.sha256)
        if content is not None and content != tag:
            return False
        return self.signer.verify(self.file_url_path(event_id), expires, tag, signature, now)

    def open_linked(
        self,
        event_id: str,
        expires: str | None,
        content: str | None,
        signature: str | None,
        now: datetime | None = None,
    ) -> tuple[BinaryIO, ClipMeta]:
        """The bytes of the clip a signed link names, with its metadata, for serving.

        Raises :class:`InvalidLinkError` for a wrong or expired signature, and
        ``FileNotFoundError`` when the clip it was made for is gone or was replaced by another
        under the same id. The clip is opened before its record is checked: bytes opened
        before a replacement are the named clip's, and a replacement opened instead fails the
        check, so no other clip's bytes are ever served.
        """
        if not is_valid_event_id(event_id) or not self.signer.verify(
            self.file_url_path(event_id), expires, content, signature, now
        ):
            raise InvalidLinkError("the link is invalid or has expired")
        stream = self.open(event_id)
        try:
            meta = self.get(event_id)
            size = os.fstat(stream.fileno()).st_size
            if meta is None or content_tag(meta.sha256) != content or meta.size != size:
                raise FileNotFoundError(errno.ENOENT, "the clip this link names is gone")
        except BaseException:
            stream.close()
            raise
        return stream, meta

    def _missing_root(self) -> bool:
        return not os.path.isdir(self.root)

    def _absent(self) -> None:
        """Raise if the folder itself is gone, so "no such clip" is not claimed for a lost mount."""
        if self._missing_root():
            raise StoreUnavailableError("clip storage unavailable: storage folder missing")

    # ---- records -------------------------------------------------------------------------

    def _load_record(self, event_id: str, record: Path) -> ClipMeta | None:
        """The metadata in ``record``; None if absent; ``_Malformed`` or ``OSError`` otherwise."""
        try:
            fd = os.open(record, os.O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_BINARY)
        except FileNotFoundError:
            return None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise _Malformed("record is a symbolic link") from None
            raise
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise _Malformed("record is not a regular file")
            if info.st_size > _MAX_META_BYTES:
                raise _Malformed("record is too large")
            data = os.read(fd, _MAX_META_BYTES + 1)
        finally:
            os.close(fd)
        try:
            meta = ClipMeta.from_dict(json.loads(data))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise _Malformed(f"record is malformed ({type(exc).__name__})") from None
        if meta.event_id != event_id:
            raise _Malformed("record names another event id")
        return meta

    def get(self, event_id: str) -> ClipMeta | None:
        """The stored clip's metadata, or None (also for a record whose clip is missing).

        Raises ``InvalidIdError`` for an invalid id and :class:`StoreError` when the folder
        cannot be read.
        """
        clip, record = self._paths(event_id)
        try:
            meta = self._load_record(event_id, record)
        except _Malformed as exc:
            log.warning("clip %s ignored: %s", event_id, exc)
            return None
        except OSError as exc:
            raise store_error(exc, f"reading clip {event_id}") from None
        if meta is None:
            self._absent()
            return None
        if _kind(clip) is not _Kind.FILE:
            log.warning("clip %s has a record but no clip file", event_id)
            return None
        return meta

    def iter_all(self) -> Iterator[ClipMeta]:
        """Every committed clip's metadata; malformed and orphan records are skipped (logged).

        Raises :class:`StoreError` if the folder cannot be listed: an empty answer would make a
        catalogue sync forget every clip.
        """
        try:
            entries = os.scandir(self.root)
        except OSError as exc:
            raise store_error(exc, "listing clips") from None
        with entries:
            for entry in entries:
                name = entry.name
                if not name.endswith(META_SUFFIX) or is_temp_name(name):
                    continue
                event_id = name[: -len(META_SUFFIX)]
                if not is_valid_event_id(event_id):
                    log.warning(
                        "file %s in the clip folder ignored: not an event id", ascii(name[:60])
                    )
                    continue
                clip, record = self._paths(event_id)
                try:
                    meta = self._load_record(event_id, record)
                    if meta is not None and _kind(clip) is not _Kind.FILE:
                        raise _Malformed("its clip file is missing")
                except _Malformed as exc:
                    log.warning("clip %s skipped: %s", event_id, exc)
                    continue
                except OSError as exc:
                    log.warning("clip %s skipped: %s", event_id, reason(exc))
                    continue
                if meta is not None:
                    yield meta

    # ---- writing -------------------------------------------------------------------------

    def put(self, meta: ClipMeta, clip_file: Path) -> None:
        """Move ``clip_file`` into the store, then commit it by writing its record last.

        On success ``clip_file`` is gone (moved, or removed when this exact clip was already
        stored); on failure it is left where it was. Raises :class:`ClipExistsError` when the
        id holds different bytes, :class:`StoreError` when ``clip_file`` does not match
        ``meta`` (size or SHA-256) or the write fails (disk full, read-only, ...).
        """
        event_id = meta.event_id
        clip, record = self._paths(event_id)
        self._check_source(meta, clip_file)
        text = json.dumps(meta.to_dict(), indent=2, ensure_ascii=True) + "\n"
        with self._lock:
            try:
                existing = self._load_record(event_id, record)
            except _Malformed as exc:
                if _kind(record) is _Kind.OTHER:
                    raise StoreError(f"storing clip {event_id} refused: {exc}") from None
                log.warning("clip %s: replacing an unusable record (%s)", event_id, exc)
                existing = None
            except OSError as exc:
                raise store_error(exc, f"storing clip {event_id}") from None
            if existing is not None and existing.sha256 != meta.sha256:
                raise ClipExistsError(f"clip {event_id} is already stored with different content")
            clip_kind = _kind(clip)
            if clip_kind is _Kind.OTHER:
                raise StoreError(
                    f"storing clip {event_id} refused: its name is taken by a non-file"
                )
            if existing is not None and clip_kind is _Kind.FILE:
                self._consume(clip_file)  # a retry of a stored clip: nothing to change
                return
            self._absent()
            if existing is not None:
                # The record survived but its clip was lost: put the same bytes back.
                publish_file(clip_file, clip)
                return
            self._publish(event_id, clip_file, clip, record, text.encode("ascii"))

    def _publish(self, event_id: str, source: Path, clip: Path, record: Path, data: bytes) -> None:
        # The record is written (and fsynced) before the clip moves, so a full disk fails
        # here, while nothing is published yet; only its rename, the commit, comes last.
        try:
            temp_record = write_temp(record, data)
        except OSError as exc:
            raise store_error(exc, f"storing clip {event_id}") from None
        try:
            publish_file(source, clip)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp_record)
            raise
        try:
            commit_temp(temp_record, record)
        except OSError as exc:
            self._unpublish(clip, source)
            raise store_error(exc, f"storing clip {event_id}") from None

    @staticmethod
    def _unpublish(clip: Path, source: Path) -> None:
        """Take a clip back out after its commit failed, returning it to the caller if we can."""
        try:
            os.replace(clip, source)
        except OSError:
            try:
                os.unlink(clip)
            except OSError as exc:
                log.warning("an uncommitted clip stays until recovery: %s", reason(exc))

    @staticmethod
    def _check_source(meta: ClipMeta, clip_file: Path) -> None:
        try:
            with open(clip_file, "rb") as reader:
                size = os.fstat(reader.fileno()).st_size
                digest = hashlib.file_digest(reader, "sha256").hexdigest()
        except OSError as exc:
            raise StoreError(f"reading the clip to store failed: {reason(exc)}") from None
        if size != meta.size:
            raise StoreError(f"clip {meta.event_id} size does not match its metadata")
        if digest != meta.sha256:
            raise StoreError(f"clip {meta.event_id} checksum does not match its metadata")

    @staticmethod
    def _consume(clip_file: Path) -> None:
        try:
            os.unlink(clip_file)
        except OSError as exc:
            log.warning("could not remove the duplicate clip file: %s", reason(exc))

    def delete(self, event_id: str) -> bool:
        """Remove the record first (uncommitting the clip), then the clip; False if neither was.

        Non-regular files under a clip's names (planted symlinks) are left alone.
        """
        clip, record = self._paths(event_id)
        removed = False
        with self._lock:
            try:
                for path in (record, clip):
                    kind = _kind(path)
                    if kind is _Kind.OTHER:
                        log.warning("clip %s: a non-file under its name was left alone", event_id)
                    elif kind is _Kind.FILE:
                        os.unlink(path)
                        fsync_dir(self.root)
                        removed = True
            except FileNotFoundError:
                pass  # removed concurrently by another process: the outcome is the same
            except OSError as exc:
                raise store_error(exc, f"deleting clip {event_id}") from None
            if not removed:
                self._absent()
        return removed

    # ---- reading -------------------------------------------------------------------------

    def path_of(self, event_id: str) -> Path | None:
        """The committed clip's file (a regular file, not a symlink), or None.

        Prefer :meth:`open` for serving: it opens without following symlinks, which a path
        handed to another opener cannot guarantee.
        """
        clip, record = self._paths(event_id)
        if _kind(record) is _Kind.FILE and _kind(clip) is _Kind.FILE:
            return clip
        return None

    def local_path(self, event_id: str) -> Path | None:
        """The committed clip's file (see :meth:`path_of`)."""
        return self.path_of(event_id)

    def local_root(self) -> Path | None:
        """The clip folder."""
        return self.root

    def linked_files(self) -> LinkedFiles | None:
        """This store: the embedded API serves its files behind signed links."""
        return self

    def lifecycle(self) -> BucketLifecycle | None:
        """None: a folder has no expiry rules of its own (retention deletes clips)."""
        return None

    def open(self, event_id: str) -> BinaryIO:
        """The committed clip's bytes (seekable); ``FileNotFoundError`` if there is none."""
        clip, record = self._paths(event_id)
        if _kind(record) is not _Kind.FILE:
            raise FileNotFoundError(errno.ENOENT, f"no clip {event_id}")
        try:
            fd = os.open(clip, os.O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_BINARY)
        except FileNotFoundError:
            raise FileNotFoundError(errno.ENOENT, f"no clip {event_id}") from None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise FileNotFoundError(errno.ENOENT, f"no clip {event_id}") from None
            raise store_error(exc, f"reading clip {event_id}") from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise FileNotFoundError(errno.ENOENT, f"no clip {event_id}")
        if O_NONBLOCK:
            os.set_blocking(fd, True)  # only needed to open safely; reads stay ordinary
        return os.fdopen(fd, "rb")

    def url(self, event_id: str, expires_in: timedelta) -> ClipUrl:
        """A signed URL for the clip stored now, on our server, valid for ``expires_in``
        (1 min .. 7 days); ``FileNotFoundError`` if no clip is stored under ``event_id``.

        The URL names this clip's bytes: once the clip is deleted or replaced by another under
        the same id, the server answers 404 to it.
        """
        if not MIN_URL_EXPIRY <= expires_in <= MAX_URL_EXPIRY:
            raise ValueError("URL expiry must be between 1 minute and 7 days")
        path = self.file_url_path(event_id)
        meta = self.get(event_id)
        if meta is None:
            raise FileNotFoundError(errno.ENOENT, f"no clip {event_id}")
        # Whole seconds, so the reported expiry is exactly the signed one.
        expires_at = (datetime.now(UTC) + expires_in).replace(microsecond=0)
        query = self.signer.sign(path, expires_at, content_tag(meta.sha256))
        return ClipUrl(
            f"{self._base_url}/{FILES_SEGMENT}/{event_id}{CLIP_SUFFIX}?{query}", expires_at
        )

    # ---- state ---------------------------------------------------------------------------

    def health(self) -> StoreHealth:
        """Whether the folder exists and takes writes, with the free space; never raises."""
        try:
            return self._health()
        except Exception:  # /health must answer whatever the file system does
            log.exception("clip storage health check failed")
            return StoreHealth(self.backend, False, "storage check failed")

    def _health(self) -> StoreHealth:
        try:
            info = os.stat(self.root)  # the folder itself may be a symlink to a mount point
        except OSError as exc:
            return StoreHealth(self.backend, False, reason(exc))
        if not stat.S_ISDIR(info.st_mode):
            return StoreHealth(self.backend, False, "storage path is not a folder")
        try:
            fd, probe = create_temp(self.root / ".health")
            try:
                os.write(fd, b"\0")  # a new empty file still fits on a full disk; a byte does not
            finally:
                os.close(fd)
                os.unlink(probe)
        except OSError as exc:
            return StoreHealth(self.backend, False, f"not writable: {reason(exc)}")
        try:
            usage = shutil.disk_usage(self.root)
        except OSError as exc:
            return StoreHealth(self.backend, False, reason(exc))
        free, total = usage.free, usage.total
        space = f"{_human(free)} free of {_human(total)}"
        if free < self._min_free:
            return StoreHealth(self.backend, False, f"disk full ({space})")
        return StoreHealth(self.backend, True, space)

    def recover(self, *, min_age: timedelta = _DEFAULT_RECOVER_AGE) -> RecoveryResult:
        """Start-up clean-up: temp files and uncommitted clips (no record) older than ``min_age``.

        The age guard spares writes still in progress in another process; the folder's owner
        (:meth:`claim`) knows there is none and removes them whatever their age. Never raises.
        """
        seconds = 0.0 if self.claim() else min_age.total_seconds()
        with self._lock:
            temps = cleanup_temp_files(self.root, older_than=seconds)
            orphans = 0
            try:
                entries = list(os.scandir(self.root))
            except OSError as exc:
                log.warning("clip folder recovery skipped: %s", reason(exc))
                return RecoveryResult(temps, 0)
            now = time.time()
            for entry in entries:
                name = entry.name
                event_id = name[: -len(CLIP_SUFFIX)]
                if not name.endswith(CLIP_SUFFIX) or not is_valid_event_id(event_id):
                    continue
                clip, record = self._paths(event_id)
                try:
                    info = entry.stat(follow_symlinks=False)
                    if not stat.S_ISREG(info.st_mode) or os.path.lexists(record):
                        continue
                    # ctime moves when the clip is renamed in, so a clip moved from an old
                    # file a moment ago is not mistaken for an old orphan.
                    if now - max(info.st_mtime, info.st_ctime) < seconds:
                        continue
                    os.unlink(clip)
                    orphans += 1
                    log.info("removed uncommitted clip %s", event_id)
                except FileNotFoundError:
                    continue
                except OSError as exc:
                    log.warning("could not remove uncommitted clip %s: %s", event_id, reason(exc))
            if orphans:
                try:
                    fsync_dir(self.root)
                except OSError as exc:
                    log.warning("clip folder sync failed: %s", reason(exc))
        if temps or orphans:
            log.info("clip folder recovery: %d temp files, %d uncommitted clips", temps, orphans)
        return RecoveryResult(temps, orphans)
