"""A SQLite file for records that must survive a crash or a power cut (jobs, bookmarks)."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def open_durable(path: Path, schema: str) -> sqlite3.Connection:
    """A connection to ``path`` (made with ``schema`` if new) whose every commit is on disk.

    Autocommit (each statement whole or absent), WAL so readers never wait for the writer,
    ``synchronous=FULL`` so an acknowledged write survives power loss, and a busy timeout for
    a second process on the same file. Shared across threads: callers serialise with a lock.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("PRAGMA busy_timeout=5000")
    db.executescript(schema)
    return db
