"""The job store: one job per event, its attempts recorded, older files migrated in place."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from vms_desktop.domain.clip import ClipStatus, Event, EventWindow
from vms_desktop.storage.job_store import JobStore, RetryState

# The jobs table as the first release wrote it.
LEGACY_SCHEMA = """
CREATE TABLE jobs (
    event_id TEXT PRIMARY KEY,
    camera_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    ts_us INTEGER NOT NULL,
    status TEXT NOT NULL,
    progress REAL NOT NULL DEFAULT 0,
    error TEXT NOT NULL DEFAULT '',
    updated_us INTEGER NOT NULL
);
CREATE INDEX jobs_status ON jobs (status);
"""


def write_legacy_job_store(path: Path, rows: list[tuple[Event, ClipStatus, str]]) -> None:
    """A ``jobs.sqlite3`` as the first release left it, holding ``(event, status, error)``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path)
    try:
        db.executescript(LEGACY_SCHEMA)
        now_us = round(datetime.now(UTC).timestamp() * 1_000_000)
        for event, status, error in rows:
            db.execute(
                "INSERT INTO jobs VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    event.id,
                    event.camera_id,
                    event.event_type,
                    round(event.timestamp.timestamp() * 1_000_000),
                    status.value,
                    1.0 if status is ClipStatus.READY else 0.0,
                    error,
                    now_us,
                ),
            )
        db.commit()
    finally:
        db.close()


WINDOW = EventWindow(10.0, 20.0)


def event(event_id: str, minute: int = 30) -> Event:
    return Event(event_id, "cam01", "motion", datetime(2025, 5, 31, 10, minute, tzinfo=UTC))


def test_job_store_accepts_an_event_once_and_records_its_attempts(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite3")
    try:
        first, created = store.accept(event("e1"), WINDOW)
        second, created_again = store.accept(event("e1"), WINDOW)
        assert created and not created_again and first == second
        assert store.retry_state("e1") == RetryState()
        due = datetime(2025, 5, 31, 10, 31, 5, tzinfo=UTC)
        store.save(first.moved(ClipStatus.PENDING, error="disk full"), RetryState(2, due))
        assert store.retry_state("e1") == RetryState(2, due)
        store.save(first.moved(ClipStatus.ENCODING, progress=0.5))  # attempts kept
        assert store.retry_state("e1") == RetryState(2, due)
        store.save(first.moved(ClipStatus.FAILED, error="no footage"), RetryState(3, final=True))
        assert store.retry_state("e1") == RetryState(3, None, final=True)
        assert store.retry_state("unknown") == RetryState()
        assert store.unfinished() == []
        assert store.forget_finished_before(datetime.now(UTC) + timedelta(seconds=1)) == 1
    finally:
        store.close()


def test_a_job_store_of_an_older_version_is_migrated_in_place(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    write_legacy_job_store(
        path,
        [
            (event("failed", 1), ClipStatus.FAILED, "could not write"),
            (event("pending", 2), ClipStatus.PENDING, ""),
            (event("ready", 3), ClipStatus.READY, ""),
        ],
    )
    store = JobStore(path)
    try:
        failed = store.get("failed")
        assert failed is not None and failed.status is ClipStatus.FAILED
        assert failed.error == "could not write" and failed.event == event("failed", 1)
        assert failed.window is None  # accepted before windows were chosen: the configured one
        assert store.retry_state("failed") == RetryState()  # not known to be final
        assert [job.event.id for job in store.unfinished()] == ["pending"]
        store.save(failed.moved(ClipStatus.PENDING), RetryState(1))
        assert store.retry_state("failed") == RetryState(1)
    finally:
        store.close()
    JobStore(path).close()  # opening a migrated file again changes nothing

    db = sqlite3.connect(path)
    try:
        columns = [row[1] for row in db.execute("PRAGMA table_info(jobs)")]
        assert columns[:8] == [
            "event_id",
            "camera_id",
            "event_type",
            "ts_us",
            "status",
            "progress",
            "error",
            "updated_us",
        ]
        assert set(columns[8:]) == {"attempts", "retry_us", "final", "pre_seconds", "post_seconds"}
        assert db.execute("PRAGMA user_version").fetchone() == (3,)
        # What an older version runs still works on the migrated file.
        db.execute(
            "INSERT INTO jobs (event_id, camera_id, event_type, ts_us, status, progress, error, "
            "updated_us) VALUES ('old', 'cam01', 'motion', 1, 'pending', 0, '', 1)"
        )
        db.commit()
    finally:
        db.close()
    store = JobStore(path)
    try:
        assert store.retry_state("old") == RetryState()
    finally:
        store.close()


def test_a_job_keeps_the_window_it_was_accepted_with(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    store = JobStore(path)
    try:
        job, _ = store.accept(event("custom"), EventWindow(0.0, 7.5))
        store.save(job.moved(ClipStatus.ENCODING, progress=0.5))
        again, created = store.accept(event("custom"), WINDOW)  # the first window stays
        assert not created and again.window == EventWindow(0.0, 7.5)
    finally:
        store.close()
    store = JobStore(path)  # as after a restart
    try:
        (resumed,) = store.unfinished()
        assert resumed.window == EventWindow(0.0, 7.5) and resumed.progress == 0.5
    finally:
        store.close()


def test_a_job_store_of_the_previous_version_gains_windows_and_keeps_its_jobs(
    tmp_path: Path,
) -> None:
    path = tmp_path / "jobs.sqlite3"
    write_legacy_job_store(path, [(event("waiting", 2), ClipStatus.PENDING, "")])
    db = sqlite3.connect(path)
    try:  # the columns the previous version had added, with a retry recorded
        for name, definition in (
            ("attempts", "INTEGER NOT NULL DEFAULT 0"),
            ("retry_us", "INTEGER"),
            ("final", "INTEGER NOT NULL DEFAULT 0"),
        ):
            db.execute(f"ALTER TABLE jobs ADD COLUMN {name} {definition}")
        db.execute("UPDATE jobs SET attempts = 2")
        db.execute("PRAGMA user_version = 2")
        db.commit()
    finally:
        db.close()
    store = JobStore(path)
    try:
        (job,) = store.unfinished()
        assert job.event == event("waiting", 2) and job.window is None
        assert store.retry_state("waiting").attempts == 2
        fresh, created = store.accept(event("fresh", 3), EventWindow(1.0, 2.0))
        assert created and fresh.window == EventWindow(1.0, 2.0)
    finally:
        store.close()
