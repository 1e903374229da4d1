"""Crash-safe file publishing: temp file beside the target, fsync, rename, fsync the folder."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import secrets
import stat
import time
from pathlib import Path

from vms_desktop.domain.errors import StorageIOError

log = logging.getLogger(__name__)

TEMP_SUFFIX = ".tmp"

# Windows has neither flag; there the lstat checks the callers make are the only guard.
O_NOFOLLOW: int = getattr(os, "O_NOFOLLOW", 0)
O_BINARY: int = getattr(os, "O_BINARY", 0)
# For reads of names someone else may have planted: opening a FIFO would otherwise block.
O_NONBLOCK: int = getattr(os, "O_NONBLOCK", 0)
_O_DIRECTORY: int = getattr(os, "O_DIRECTORY", 0)

_COPY_CHUNK = 1 << 20

# Link-based no-clobber publishing is impossible on some file systems (FAT, some SMB/FUSE
# mounts); these errors mean "no hard links here", not "the write failed".
_NO_LINKS = frozenset(
    code
    for code in (
        errno.EPERM,
        errno.EMLINK,
        getattr(errno, "ENOTSUP", None),
        getattr(errno, "EOPNOTSUPP", None),
        getattr(errno, "ENOSYS", None),
    )
    if code is not None
)

_REASONS = {
    errno.ENOSPC: "disk full",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.ENOENT: "storage folder missing",
    errno.ENOTDIR: "storage folder missing",
    errno.ELOOP: "refused a symbolic link",
}
if hasattr(errno, "EDQUOT"):
    _REASONS[errno.EDQUOT] = "disk full (quota exceeded)"


def reason(exc: OSError) -> str:
    """A short, path-free description of a failed file operation."""
    if exc.errno in _REASONS:
        return _REASONS[exc.errno]
    if exc.errno is not None:
        return f"I/O error ({errno.errorcode.get(exc.errno, exc.errno)})"
    return "I/O error"


def store_error(exc: OSError, action: str) -> StorageIOError:
    """A :class:`StoreError` for ``exc`` saying what failed and why, without any path."""
    return StorageIOError(f"{action} failed: {reason(exc)}", exc.errno)


def is_temp_name(name: str) -> bool:
    """Whether ``name`` is one of our temp files (``.{name}.{random}.tmp``)."""
    return name.startswith(".") and name.endswith(TEMP_SUFFIX)


def create_temp(destination: Path, mode: int = 0o644) -> tuple[int, Path]:
    """A new, empty temp file beside ``destination`` (same folder, so the rename is atomic).

    Returns the open write descriptor and the temp path. ``O_EXCL`` plus ``O_NOFOLLOW`` mean a
    file or symlink planted at the temp name is never opened or written through.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | O_NOFOLLOW | O_BINARY
    while True:
        temp = destination.with_name(f".{destination.name}.{secrets.token_hex(8)}{TEMP_SUFFIX}")
        try:
            return os.open(temp, flags, mode), temp
        except FileExistsError:
            continue


def _write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def fsync_dir(path: Path) -> None:
    """Make the entries of folder ``path`` (a rename, a new or removed file) durable."""
    if os.name == "nt":
        return  # Windows cannot open folders for fsync; NTFS journals renames itself.
    fd = os.open(path, os.O_RDONLY | _O_DIRECTORY)
    try:
        os.fsync(fd)
    except OSError as exc:
        # Some file systems (certain FUSE and network mounts) refuse fsync on folders.
        if exc.errno not in (errno.EINVAL, errno.EBADF, errno.ENOTSUP):
            raise
    finally:
        os.close(fd)


def _unlink_quietly(path: Path) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def write_temp(destination: Path, data: bytes, *, mode: int = 0o644) -> Path:
    """Write ``data`` into a new temp file beside ``destination``, fsynced, not yet published.

    Raises ``OSError``; no temp file is left behind when it does.
    """
    fd, temp = create_temp(destination, mode)
    try:
        try:
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
    except BaseException:
        _unlink_quietly(temp)
        raise
    return temp


def commit_temp(temp: Path, destination: Path, *, overwrite: bool = True) -> None:
    """Move the fsynced ``temp`` onto ``destination`` and make the rename durable.

    With ``overwrite=False`` an existing ``destination`` (file or symlink) raises
    ``FileExistsError`` and is left alone. ``temp`` is gone afterwards, whatever happened.
    """
    try:
        _place(temp, destination, overwrite=overwrite)
    except BaseException:
        _unlink_quietly(temp)
        raise
    fsync_dir(destination.parent)


def _place(source: Path, destination: Path, *, overwrite: bool) -> None:
    """Rename ``source`` to ``destination`` (same file system), optionally refusing to clobber."""
    if overwrite:
        os.replace(source, destination)  # replaces a symlink itself, never its target
        return
    try:
        # link() fails if the name exists, which makes "publish unless present" one atomic step.
        os.link(source, destination, follow_symlinks=False)
    except OSError as exc:
        if exc.errno not in _NO_LINKS or isinstance(exc, FileExistsError):
            raise
        if os.path.lexists(destination):
            raise FileExistsError(errno.EEXIST, "destination exists") from None
        # Small race window accepted: only file systems without hard links get here.
        os.replace(source, destination)
        return
    os.unlink(source)


def write_atomic(path: Path, data: bytes, *, mode: int = 0o644, overwrite: bool = True) -> None:
    """Replace ``path`` with ``data`` so a crash leaves either the old or the new content.

    Raises :class:`StoreError` (message: disk full, read-only file system, permission denied,
    storage folder missing, ...) and leaves no temp file; ``FileExistsError`` when
    ``overwrite=False`` and ``path`` exists.
    """
    try:
        temp = write_temp(path, data, mode=mode)
        commit_temp(temp, path, overwrite=overwrite)
    except FileExistsError:
        raise
    except OSError as exc:
        raise store_error(exc, f"writing {path.name}") from None


def copy_to_temp(source: Path, destination: Path, *, mode: int = 0o644) -> Path:
    """Copy ``source`` into a new fsynced temp file beside ``destination``; raises ``OSError``."""
    fd, temp = create_temp(destination, mode)
    try:
        try:
            with open(source, "rb") as reader:
                while chunk := reader.read(_COPY_CHUNK):
                    _write_all(fd, chunk)
            os.fsync(fd)
        finally:
            os.close(fd)
    except BaseException:
        _unlink_quietly(temp)
        raise
    return temp


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | O_BINARY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish_file(source: Path, destination: Path, *, overwrite: bool = True) -> None:
    """Move ``source`` (a temp file or any finished file) to ``destination`` atomically.

    On the same file system the file is fsynced and renamed; across file systems it is copied
    into a temp file beside ``destination``, fsynced and renamed, and ``source`` is removed
    only after that succeeded. Either way the folder is fsynced. Raises :class:`StoreError`
    with a path-free reason (``FileExistsError`` when ``overwrite=False`` and ``destination``
    exists); on failure nothing is left at ``destination`` and ``source`` is still there.
    """
    try:
        _fsync_file(source)
        try:
            _place(source, destination, overwrite=overwrite)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            temp = copy_to_temp(source, destination)
            commit_temp(temp, destination, overwrite=overwrite)
            _unlink_quietly(source)
        else:
            fsync_dir(destination.parent)
    except FileExistsError:
        raise
    except OSError as exc:
        raise store_error(exc, f"storing {destination.name}") from None


def cleanup_temp_files(directory: Path, *, older_than: float = 0.0) -> int:
    """Remove our temp files (``.*.tmp``) left in ``directory`` by a crash; returns how many.

    Only regular files older than ``older_than`` seconds are removed, so a write in progress
    in another thread or process is not cut short. Never raises for a missing folder.
    """
    removed = 0
    now = time.time()
    try:
        entries = list(os.scandir(directory))
    except OSError as exc:
        log.warning("temp file cleanup skipped: %s", reason(exc))
        return 0
    for entry in entries:
        if not is_temp_name(entry.name):
            continue
        try:
            info = entry.stat(follow_symlinks=False)
            if not stat.S_ISREG(info.st_mode):
                continue
            if now - max(info.st_mtime, info.st_ctime) < older_than:
                continue
            os.unlink(entry.path)
            removed += 1
        except FileNotFoundError:
            continue
        except OSError as exc:
            log.warning("could not remove a temp file: %s", reason(exc))
    return removed


def remove_unfinished_encodes(work_dir: Path) -> int:
    """Remove clip files an earlier run left half-made in ``work_dir`` (a crash); how many.

    Every unfinished job is built again from the buffer, and the upload outbox keeps its clips in
    a folder of its own, so nothing here is worth keeping.
    """
    removed = cleanup_temp_files(work_dir)
    for leftover in work_dir.glob("*.mp4"):
        with contextlib.suppress(OSError):
            if leftover.is_file() and not leftover.is_symlink():
                leftover.unlink()
                removed += 1
    if removed:
        log.info("removed %d unfinished clip file(s) left by an earlier run", removed)
    return removed
