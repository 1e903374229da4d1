"""A durable local queue of finished clips waiting for upload, so a store outage loses nothing."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from vms_desktop.domain.clip import ClipMeta
from vms_desktop.domain.errors import ClipExistsError, StoreError, StoreUnavailableError
from vms_desktop.domain.ids import is_valid_event_id, validate_event_id
from vms_desktop.storage.atomic import (
    cleanup_temp_files,
    fsync_dir,
    publish_file,
    reason,
    write_atomic,
)
from vms_desktop.storage.base import ClipStore

__all__ = ["UploadOutbox"]

log = logging.getLogger(__name__)

CLIP_SUFFIX = ".mp4"
RECORD_SUFFIX = ".json"
# Not ".failed.json": event ids may contain dots, so "x.failed.json" would also be the record
# of a queued clip "x.failed". No valid id's record ends in ".json.failed".
FAILED_SUFFIX = ".json.failed"
DEFAULT_RETRY_INITIAL = 0.5
DEFAULT_RETRY_MAX = 60.0
_HASH_CHUNK = 1 << 20


class _Outcome(Enum):
    DONE = "done"  # uploaded, or set aside for good: go on with the next entry
    TRANSIENT = "transient"  # the store is unreachable: back off, then retry the same entry
    BLOCKED = "blocked"  # refused for a reason an operator must fix: retry slowly


@dataclass
class _Entry:
    meta: ClipMeta
    committed_ns: int
    verified: bool = False


class UploadOutbox:
    """Clips handed to :meth:`submit` are kept in ``directory`` until ``store`` has them.

    Each entry is ``{event_id}.mp4`` plus ``{event_id}.json`` (``ClipMeta.to_dict()``). The
    JSON is written last, atomically, and is the commit record: after a crash an ``.mp4``
    without its JSON is a half-made entry and is removed at :meth:`start`, while committed
    entries survive restarts. A daemon thread uploads entries oldest first:

    - success, or the store already holding the same bytes (a retry after a lost answer):
      the entry is deleted and ``on_uploaded(meta)`` is called;
    - :class:`StoreUnavailableError`: retried with capped exponential back-off plus jitter
      (``retry_initial`` doubling up to ``retry_max`` seconds); a new submit or :meth:`wake`
      cuts the wait short;
    - :class:`ClipExistsError` (different bytes under that id) or a clip file that no longer
      matches its metadata: no retry can help, so the entry is set aside as
      ``{event_id}.json.failed`` (the clip stays beside it for an operator) and
      ``on_failed(meta, message)`` is called;
    - any other :class:`StoreError` (refused credentials, missing bucket, a rejected request):
      such errors are fixed by an operator, not by time, and a clip must not be lost because a
      key expired over a weekend. The entry is kept and retried every ``retry_max`` seconds,
      moved behind the others so one odd clip cannot hold up the rest, and the message is
      shown by :attr:`last_error`; ``on_failed`` is not called, as the clip is not lost.

    ``on_unavailable(message)``, if given, hears of every attempt that found the store
    unreachable (so a health monitor learns of an outage from real traffic). The callbacks run
    on the upload thread and must not block for long.
    """

    def __init__(
        self,
        directory: Path,
        store: ClipStore,
        *,
        on_uploaded: Callable[[ClipMeta], None],
        on_failed: Callable[[ClipMeta, str], None],
        on_unavailable: Callable[[str], None] | None = None,
        retry_max: float = DEFAULT_RETRY_MAX,
        retry_initial: float = DEFAULT_RETRY_INITIAL,
    ) -> None:
        if retry_initial <= 0 or retry_max < retry_initial:
            raise ValueError("need 0 < retry_initial <= retry_max")
        self.directory = Path(directory)
        self.store = store
        self.retry_max = retry_max
        self.retry_initial = retry_initial
        self._on_uploaded = on_uploaded
        self._on_failed = on_failed
        self._on_unavailable = on_unavailable
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        # Serialises submits (file moves) without holding up readers of the queue.
        self._submit_lock = threading.Lock()
        self._queue: dict[str, _Entry] = {}
        self._failed: dict[str, ClipMeta] = {}
        self._kick = False
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._last_error: str | None = None
        self._scanned = False
        self.directory.mkdir(parents=True, exist_ok=True)

    # --- State ---

    @property
    def depth(self) -> int:
        """How many clips wait for upload."""
        with self._lock:
            return len(self._queue)

    @property
    def last_error(self) -> str | None:
        """Why the last upload attempt failed, or None after a success (for health displays)."""
        with self._lock:
            return self._last_error

    @property
    def running(self) -> bool:
        """Whether the upload thread runs."""
        return self._thread is not None and self._thread.is_alive()

    def pending(self) -> list[ClipMeta]:
        """The clips waiting for upload, in upload order."""
        with self._lock:
            return [entry.meta for entry in self._queue.values()]

    def failed(self) -> list[ClipMeta]:
        """The clips set aside (``.json.failed``) because no retry could store them."""
        with self._lock:
            return list(self._failed.values())

    # --- Life cycle ---

    def start(self) -> None:
        """Load the entries on disk (dropping half-made ones) and start the upload thread."""
        if self.running:
            raise RuntimeError("the outbox is already running")
        with self._submit_lock:
            self._scan()
        with self._lock:
            self._stopping = False
        self._thread = threading.Thread(target=self._run, name="upload-outbox", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Stop the upload thread and wait for it (an upload in flight finishes first)."""
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            if not thread.is_alive():
                self._thread = None

    def wake(self) -> None:
        """Try the next upload now instead of waiting out the back-off (e.g. S3 is back)."""
        with self._changed:
            self._kick = True
            self._changed.notify_all()

    # --- Submitting ---

    def submit(self, meta: ClipMeta, clip_file: Path) -> None:
        """Take ``clip_file`` (moved, or copied then removed) into the outbox and queue it.

        Returns once the entry is durable. Submitting a clip that is already queued with the
        same SHA-256 is a no-op (``clip_file`` is removed, the queue has its twin); a different
        clip under a queued or set-aside event id raises :class:`ClipExistsError`. Raises
        :class:`StoreError` when the file does not match ``meta.size`` or cannot be stored.
        """
        event_id = validate_event_id(meta.event_id)
        clip_path = self._clip_path(event_id)
        record_path = self._record_path(event_id)
        with self._submit_lock:
            with self._lock:
                queued = self._queue.get(event_id)
                set_aside = event_id in self._failed or self._failed_path(event_id).exists()
            if queued is not None and queued.meta.sha256 == meta.sha256:
                if Path(clip_file).resolve() != clip_path.resolve():
                    with contextlib.suppress(FileNotFoundError):
                        Path(clip_file).unlink()
                return
            if queued is not None or set_aside:
                raise ClipExistsError(f"the outbox already holds another clip for {event_id}")
            try:
                size = Path(clip_file).stat().st_size
            except OSError as exc:
                raise StoreError(f"clip {event_id}: cannot read the file ({reason(exc)})") from None
            if size != meta.size:
                raise StoreError(f"clip {event_id}: the file's size does not match its metadata")
            if Path(clip_file).resolve() != clip_path.resolve():
                publish_file(Path(clip_file), clip_path)
            record = json.dumps(meta.to_dict(), indent=1, sort_keys=True).encode()
            try:
                write_atomic(record_path, record)
            except BaseException:
                # Without its commit record the clip would be dropped as half-made at the next
                # start: give it back rather than lose it.
                with contextlib.suppress(OSError):
                    publish_file(clip_path, Path(clip_file))
                raise
            committed_ns = _mtime_ns(record_path)
            with self._changed:
                self._queue[event_id] = _Entry(meta, committed_ns)
                self._kick = True
                self._changed.notify_all()
        log.info("clip %s queued for upload", event_id)

    # --- Internals: files ---

    def _clip_path(self, event_id: str) -> Path:
        return self.directory / f"{event_id}{CLIP_SUFFIX}"

    def _record_path(self, event_id: str) -> Path:
        return self.directory / f"{event_id}{RECORD_SUFFIX}"

    def _failed_path(self, event_id: str) -> Path:
        return self.directory / f"{event_id}{FAILED_SUFFIX}"

    def _scan(self) -> None:
        """Rebuild the queue from the directory, the source of truth after a restart."""
        self.directory.mkdir(parents=True, exist_ok=True)
        cleanup_temp_files(self.directory)
        queue: list[tuple[int, str, ClipMeta]] = []
        failed: dict[str, ClipMeta] = {}
        # Every id with a record, readable or not: their clips are kept.
        committed: set[str] = set()
        names = sorted(os.listdir(self.directory))
        for name in names:
            if name.endswith(FAILED_SUFFIX):
                event_id = name[: -len(FAILED_SUFFIX)]
                committed.add(event_id)
                meta = self._load(self.directory / name, event_id)
                if meta is not None:
                    failed[event_id] = meta
            elif name.endswith(RECORD_SUFFIX):
                event_id = name[: -len(RECORD_SUFFIX)]
                committed.add(event_id)
                path = self.directory / name
                meta = self._load(path, event_id)
                if meta is None:
                    if is_valid_event_id(event_id):
                        self._quarantine(event_id)
                    continue
                queue.append((_mtime_ns(path), event_id, meta))
        for name in names:
            event_id = name[: -len(CLIP_SUFFIX)]
            if name.endswith(CLIP_SUFFIX) and event_id not in committed:
                if not is_valid_event_id(event_id):
                    continue
                # A crash between moving the clip in and writing its record: the submit never
                # returned, so its caller still owns the work.
                log.warning("removing the half-made outbox entry of clip %s", event_id)
                with contextlib.suppress(FileNotFoundError):
                    self._clip_path(event_id).unlink()
        with contextlib.suppress(OSError):
            fsync_dir(self.directory)
        queue.sort(key=lambda item: (item[0], item[1]))
        with self._lock:
            self._queue = {event_id: _Entry(meta, ns) for ns, event_id, meta in queue}
            self._failed = failed
        if queue:
            log.info("%d clip(s) waiting in the upload outbox", len(queue))

    def _load(self, path: Path, event_id: str) -> ClipMeta | None:
        if not is_valid_event_id(event_id):
            log.warning("ignoring a foreign file in the upload outbox: %s", ascii(path.name[:80]))
            return None
        try:
            meta = ClipMeta.from_dict(json.loads(path.read_bytes()))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.error("outbox record of clip %s is unreadable (%s)", event_id, type(exc).__name__)
            return None
        if meta.event_id != event_id:
            log.error("outbox record of clip %s names another event", event_id)
            return None
        return meta

    def _quarantine(self, event_id: str) -> None:
        """Move an unreadable record out of the queue (kept for inspection, never retried)."""
        try:
            os.replace(self._record_path(event_id), self._failed_path(event_id))
        except OSError as exc:
            log.error("could not set aside clip %s: %s", event_id, reason(exc))

    def _verify(self, entry: _Entry) -> str | None:
        """Why the entry's clip file does not match its record, or None if it does."""
        if entry.verified:
            return None
        digest = hashlib.sha256()
        size = 0
        try:
            with self._clip_path(entry.meta.event_id).open("rb") as clip:
                while chunk := clip.read(_HASH_CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
        except FileNotFoundError:
            return "the clip file is missing from the outbox"
        except OSError as exc:
            raise StoreError(f"cannot read the clip file ({reason(exc)})") from None
        if size != entry.meta.size or digest.hexdigest() != entry.meta.sha256:
            return "the clip file no longer matches its SHA-256"
        entry.verified = True
        return None

    # --- Internals: the upload thread ---

    def _run(self) -> None:
        failures = 0
        while True:
            with self._changed:
                while not self._stopping and not self._queue:
                    self._changed.wait()
                if self._stopping:
                    return
                entry = next(iter(self._queue.values()))
                self._kick = False
            outcome = self._attempt(entry)
            if outcome is _Outcome.DONE:
                failures = 0
                continue
            failures += 1
            self._pause(entry, outcome, failures)

    def _pause(self, entry: _Entry, outcome: _Outcome, failures: int) -> None:
        if outcome is _Outcome.BLOCKED:
            base = self.retry_max
        else:
            base = min(self.retry_max, self.retry_initial * 2 ** min(failures - 1, 30))
        # Jitter keeps consoles sharing one bucket from retrying in lockstep.
        deadline = time.monotonic() + base * random.uniform(0.5, 1.0)
        with self._changed:
            event_id = entry.meta.event_id
            if outcome is _Outcome.BLOCKED and event_id in self._queue:
                self._queue[event_id] = self._queue.pop(event_id)
            while not self._stopping and not self._kick:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._changed.wait(remaining)

    def _attempt(self, entry: _Entry) -> _Outcome:
        meta = entry.meta
        event_id = meta.event_id
        try:
            problem = self._verify(entry)
            if problem is not None:
                self._set_aside(entry, problem)
                return _Outcome.DONE
            self.store.put(meta, self._clip_path(event_id))
        except StoreUnavailableError as exc:
            self._note_error(event_id, str(exc), logging.INFO)
            if self._on_unavailable is not None:
                try:
                    self._on_unavailable(str(exc))
                except Exception:
                    log.exception("the on_unavailable callback failed")
            return _Outcome.TRANSIENT
        except ClipExistsError as exc:
            self._set_aside(entry, str(exc))
            return _Outcome.DONE
        except StoreError as exc:
            self._note_error(event_id, str(exc), logging.WARNING)
            return _Outcome.BLOCKED
        except Exception:
            # The thread must outlive any bug in a store: an unknown error is not retried fast.
            log.exception("uploading clip %s failed unexpectedly", event_id)
            self._note_error(event_id, "unexpected upload error", logging.DEBUG)
            return _Outcome.BLOCKED
        self._finish(entry)
        return _Outcome.DONE

    def _note_error(self, event_id: str, message: str, level: int) -> None:
        with self._lock:
            repeated = self._last_error == message
            self._last_error = message
        # One line per new problem, not one per retry during a long outage.
        log.log(logging.DEBUG if repeated else level, "clip %s not uploaded: %s", event_id, message)

    def _finish(self, entry: _Entry) -> None:
        event_id = entry.meta.event_id
        # The record goes first: a crash in between leaves a clip without record, which the
        # next start removes; the reverse would leave a record whose clip is gone.
        try:
            self._record_path(event_id).unlink(missing_ok=True)
            self._clip_path(event_id).unlink(missing_ok=True)
            fsync_dir(self.directory)
        except OSError as exc:
            # Harmless: a re-upload after a restart finds the same bytes and succeeds.
            log.warning("could not remove the uploaded clip %s: %s", event_id, reason(exc))
        with self._lock:
            self._queue.pop(event_id, None)
            self._last_error = None
        log.info("clip %s uploaded", event_id)
        try:
            self._on_uploaded(entry.meta)
        except Exception:
            log.exception("the on_uploaded callback failed for clip %s", event_id)

    def _set_aside(self, entry: _Entry, message: str) -> None:
        event_id = entry.meta.event_id
        log.error("clip %s cannot be uploaded and is set aside: %s", event_id, message)
        try:
            os.replace(self._record_path(event_id), self._failed_path(event_id))
            fsync_dir(self.directory)
        except OSError as exc:
            log.error("could not set aside clip %s: %s", event_id, reason(exc))
        with self._lock:
            self._queue.pop(event_id, None)
            self._failed[event_id] = entry.meta
        try:
            self._on_failed(entry.meta, message)
        except Exception:
            log.exception("the on_failed callback failed for clip %s", event_id)


def _mtime_ns(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return time.time_ns()
