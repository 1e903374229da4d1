"""Durable record of clip jobs (SQLite), so an accepted event survives a crash or restart."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from vms_desktop.domain.clip import ClipJob, ClipStatus, Event, EventWindow
from vms_desktop.storage.durable_db import open_durable

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    event_id TEXT PRIMARY KEY,
    camera_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    ts_us INTEGER NOT NULL,
    status TEXT NOT NULL,
    progress REAL NOT NULL DEFAULT 0,
    error TEXT NOT NULL DEFAULT '',
    updated_us INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status);
"""

# Columns added after the first release, with their definitions. Added in place to an existing
# file (older versions name their columns explicitly, so they keep reading and writing it).
_ADDED_COLUMNS = {
    "attempts": "INTEGER NOT NULL DEFAULT 0",
    "retry_us": "INTEGER",
    "final": "INTEGER NOT NULL DEFAULT 0",
    # The job's window; NULL in a job accepted before windows were chosen per event.
    "pre_seconds": "REAL",
    "post_seconds": "REAL",
}
_SCHEMA_VERSION = 3

_COLUMNS = (
    "event_id, camera_id, event_type, ts_us, status, progress, error, updated_us, "
    "pre_seconds, post_seconds"
)


def _us(moment: datetime) -> int:
    return round(moment.timestamp() * 1_000_000)


def _moment(us: int) -> datetime:
    return datetime.fromtimestamp(us / 1_000_000, tz=UTC)


@dataclass(frozen=True)
class RetryState:
    """A job's failed attempts, when the next automatic one is due, and whether it is final.

    A final failure can never change (no footage for a window in the past): no attempt is made
    again.
    """

    attempts: int = 0
    retry_at: datetime | None = None
    final: bool = False


class JobStore:
    """Clip jobs by event id; the insert that accepts an event is atomic, so a burst of
    identical requests creates exactly one job.

    One connection guarded by a lock: writes are tiny and SQLite serialises writers anyway.
    """

    def __init__(self, path: Path) -> None:
        self._db = open_durable(path, _SCHEMA)
        self._migrate()
        self._lock = threading.Lock()

    def _migrate(self) -> None:
        """Bring a file made by an older version up to date, in one transaction."""
        present = {row[1] for row in self._db.execute("PRAGMA table_info(jobs)")}
        missing = [name for name in _ADDED_COLUMNS if name not in present]
        if not missing:
            return
        self._db.execute("BEGIN IMMEDIATE")
        try:
            # Read again inside the transaction: another process may have migrated meanwhile.
            present = {row[1] for row in self._db.execute("PRAGMA table_info(jobs)")}
            for name in _ADDED_COLUMNS:
                if name not in present:
                    self._db.execute(f"ALTER TABLE jobs ADD COLUMN {name} {_ADDED_COLUMNS[name]}")
            self._db.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def accept(self, event: Event, window: EventWindow) -> tuple[ClipJob, bool]:
        """The job for ``event`` and its clip's ``window``: a new pending one (True) or the one
        already recorded (False, with the window it was accepted with).
        """
        now = datetime.now(UTC)
        with self._lock:
            cursor = self._db.execute(
                f"INSERT OR IGNORE INTO jobs ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, 0, '', ?, ?, ?)",
                (
                    event.id,
                    event.camera_id,
                    event.event_type,
                    _us(event.timestamp),
                    ClipStatus.PENDING.value,
                    _us(now),
                    window.pre_seconds,
                    window.post_seconds,
                ),
            )
            created = cursor.rowcount == 1
            job = self._get(event.id)
        assert job is not None
        return job, created

    def save(self, job: ClipJob, retry: RetryState | None = None) -> None:
        """Record a job's new state, and its attempts when given (no-op for a deleted job)."""
        with self._lock:
            if retry is None:
                self._db.execute(
                    "UPDATE jobs SET status = ?, progress = ?, error = ?, updated_us = ? "
                    "WHERE event_id = ?",
                    (job.status.value, job.progress, job.error, _us(job.updated_at), job.event.id),
                )
                return
            self._db.execute(
                "UPDATE jobs SET status = ?, progress = ?, error = ?, updated_us = ?, "
                "attempts = ?, retry_us = ?, final = ? WHERE event_id = ?",
                (
                    job.status.value,
                    job.progress,
                    job.error,
                    _us(job.updated_at),
                    retry.attempts,
                    _us(retry.retry_at) if retry.retry_at is not None else None,
                    int(retry.final),
                    job.event.id,
                ),
            )

    def get(self, event_id: str) -> ClipJob | None:
        """The job for an event id, or None."""
        with self._lock:
            return self._get(event_id)

    def retry_state(self, event_id: str) -> RetryState:
        """The failed attempts of a job (none for an unknown id)."""
        with self._lock:
            row = self._db.execute(
                "SELECT attempts, retry_us, final FROM jobs WHERE event_id = ?", (event_id,)
            ).fetchone()
        if row is None:
            return RetryState()
        attempts, retry_us, final = row
        return RetryState(
            attempts=int(attempts),
            retry_at=_moment(retry_us) if retry_us is not None else None,
            final=bool(final),
        )

    def delete(self, event_id: str) -> bool:
        """Forget a job; True if there was one."""
        with self._lock:
            return self._db.execute("DELETE FROM jobs WHERE event_id = ?", (event_id,)).rowcount > 0

    def unfinished(self) -> list[ClipJob]:
        """Jobs neither ready nor failed, oldest event first (to resume after a restart)."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM jobs WHERE status NOT IN (?, ?) ORDER BY ts_us",
                (ClipStatus.READY.value, ClipStatus.FAILED.value),
            ).fetchall()
        return [_job(row) for row in rows]

    def forget_finished_before(self, cutoff: datetime) -> int:
        """Drop records of jobs that finished before ``cutoff``; returns how many."""
        with self._lock:
            return self._db.execute(
                "DELETE FROM jobs WHERE status IN (?, ?) AND updated_us < ?",
                (ClipStatus.READY.value, ClipStatus.FAILED.value, _us(cutoff)),
            ).rowcount

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    def _get(self, event_id: str) -> ClipJob | None:
        row = self._db.execute(
            f"SELECT {_COLUMNS} FROM jobs WHERE event_id = ?", (event_id,)
        ).fetchone()
        return _job(row) if row else None


def _job(
    row: tuple[str, str, str, int, str, float, str, int, float | None, float | None],
) -> ClipJob:
    event_id, camera_id, event_type, ts_us, status, progress, error, updated_us, pre, post = row
    return ClipJob(
        event=Event(event_id, camera_id, event_type, _moment(ts_us)),
        status=ClipStatus(status),
        progress=progress,
        error=error,
        updated_at=_moment(updated_us),
        window=EventWindow(pre, post) if pre is not None and post is not None else None,
    )
