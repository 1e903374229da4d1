"""Small real file systems for tests: a tmpfs of a chosen size, made full or read-only on demand."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path


def _run(*command: str) -> None:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {result.stderr.strip()}")


class SmallFilesystem:
    """A mounted tmpfs at :attr:`path`; see :func:`small_filesystem`."""

    def __init__(self, path: Path, size_bytes: int) -> None:
        self.path = path
        self.size_bytes = size_bytes
        self._ballast: list[Path] = []

    @property
    def free_bytes(self) -> int:
        """Bytes an unprivileged writer can still use (what ``df`` shows as available)."""
        return shutil.disk_usage(self.path).free

    def remount(self, *, read_only: bool) -> None:
        """Make the file system read-only (writes fail with EROFS) or writable again."""
        _run("mount", "-o", f"remount,{'ro' if read_only else 'rw'}", str(self.path))

    @contextlib.contextmanager
    def read_only(self) -> Iterator[None]:
        """Read-only inside the block, writable again after it."""
        self.remount(read_only=True)
        try:
            yield
        finally:
            self.remount(read_only=False)

    @contextlib.contextmanager
    def read_only_for_new_writes(self) -> Iterator[None]:
        """Read-only inside the block even while files are open for writing in it.

        A plain read-only remount is refused while something writes (a camera's open segment).
        A read-only bind mount laid over the same folder has no writers of its own, so it is
        accepted: files already open keep writing, and every new file or rename fails with
        EROFS, as when a disk turns read-only under a running recorder.
        """
        _run("mount", "--bind", str(self.path), str(self.path))
        try:
            _run("mount", "-o", "remount,bind,ro", str(self.path))
            yield
        finally:
            _run("umount", str(self.path))

    def fill(self, leave_bytes: int = 0) -> Path:
        """Take all free space but ``leave_bytes`` with a ballast file; returns its path."""
        ballast = self.path / f".ballast-{len(self._ballast)}"
        with ballast.open("wb") as handle:
            chunk = b"\0" * (1 << 16)
            while self.free_bytes > leave_bytes:
                want = min(len(chunk), self.free_bytes - leave_bytes)
                try:
                    handle.write(chunk[: max(want, 1)])
                    handle.flush()
                except OSError:
                    break  # full: the last partial block is all that fit
        self._ballast.append(ballast)
        return ballast

    def release(self) -> None:
        """Delete every ballast file :meth:`fill` made."""
        for ballast in self._ballast:
            ballast.unlink(missing_ok=True)
        self._ballast.clear()


@contextlib.contextmanager
def small_filesystem(size_mb: float, path: Path | None = None) -> Iterator[SmallFilesystem]:
    """Mount a tmpfs of ``size_mb`` megabytes (at ``path``, else a new temp folder).

    Needs root (the test suite runs as root). Always unmounted afterwards, lazily if a file is
    still open in it, so a failing test never leaves a mount behind.
    """
    created = path is None
    mount_point = Path(tempfile.mkdtemp(prefix="small-fs-")) if path is None else path
    mount_point.mkdir(parents=True, exist_ok=True)
    size_bytes = int(size_mb * 1024 * 1024)
    _run("mount", "-t", "tmpfs", "-o", f"size={size_bytes},mode=0755", "tmpfs", str(mount_point))
    try:
        yield SmallFilesystem(mount_point, size_bytes)
    finally:
        with contextlib.suppress(RuntimeError):
            _run("mount", "-o", "remount,rw", str(mount_point))
        try:
            _run("umount", str(mount_point))
        except RuntimeError:
            _run("umount", "-l", str(mount_point))
        if created:
            with contextlib.suppress(OSError):
                os.rmdir(mount_point)
