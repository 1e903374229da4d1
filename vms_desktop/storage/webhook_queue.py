"""The webhook queue: one durable row per delivery per URL, numbered, bounded, retried in order."""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from vms_desktop.domain.redaction import redact_url
from vms_desktop.storage.durable_db import open_durable

log = logging.getLogger(__name__)

DEFAULT_MAX_PER_URL = 10_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    target TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    body BLOB NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    due REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS deliveries_by_target ON deliveries (target, id);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO counters VALUES ('sequence', 0);
"""


def target_key(url: str) -> str:
    """The key a URL's rows are filed under (the URL itself, credentials included, stays off
    the disk).
    """
    return hashlib.sha256(url.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Delivery:
    """One request to send: its row, where to, the exact body and how often it was tried."""

    row: int
    url: str
    sequence: int
    body: bytes
    attempts: int
    due: float


class WebhookQueue:
    """Deliveries waiting for their URL, oldest first per URL; survives restarts.

    ``sequence`` numbers the webhook events across restarts (a receiver drops a repeat by it).
    Each URL holds at most ``max_per_url`` deliveries: beyond, the oldest are dropped and logged.
    """

    def __init__(
        self, path: Path, urls: Iterable[str], *, max_per_url: int = DEFAULT_MAX_PER_URL
    ) -> None:
        self._urls = {target_key(url): url for url in urls}
        self.max_per_url = max_per_url
        self._lock = threading.Lock()
        self._db = open_durable(path, _SCHEMA)
        self._forget_unknown_targets()

    @property
    def urls(self) -> list[str]:
        """The URLs deliveries go to."""
        return list(self._urls.values())

    def add(self, body_of: Callable[[int], bytes]) -> int:
        """Number a new webhook event and queue ``body_of(sequence)`` for every URL; returns the
        sequence.
        """
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute("UPDATE counters SET value = value + 1 WHERE name = 'sequence'")
                (sequence,) = db.execute(
                    "SELECT value FROM counters WHERE name = 'sequence'"
                ).fetchone()
                body = body_of(sequence)
                db.executemany(
                    "INSERT INTO deliveries (target, sequence, body, due) VALUES (?, ?, ?, 0)",
                    [(target, sequence, body) for target in self._urls],
                )
                dropped = {target: self._trim(target) for target in self._urls}
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        for target, count in dropped.items():
            if count:
                log.warning(
                    "webhook queue for %s full (%d): dropped the %d oldest",
                    self._shown(target),
                    self.max_per_url,
                    count,
                )
        return int(sequence)

    def heads(self) -> list[Delivery]:
        """The oldest waiting delivery of each URL (they go out in order, one after another)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT d.id, d.target, d.sequence, d.body, d.attempts, d.due FROM deliveries d "
                "JOIN (SELECT target, MIN(id) AS first FROM deliveries GROUP BY target) h "
                "ON d.id = h.first ORDER BY d.id"
            ).fetchall()
        return [
            Delivery(row, self._urls[target], sequence, bytes(body), attempts, due)
            for row, target, sequence, body, attempts, due in rows
            if target in self._urls
        ]

    def done(self, delivery: Delivery) -> None:
        """The delivery is over (accepted or refused for good)."""
        with self._lock:
            self._db.execute("DELETE FROM deliveries WHERE id = ?", (delivery.row,))

    def retry(self, delivery: Delivery, due: float) -> None:
        """Try the delivery again at ``due`` (Unix time)."""
        with self._lock:
            self._db.execute(
                "UPDATE deliveries SET attempts = attempts + 1, due = ? WHERE id = ?",
                (due, delivery.row),
            )

    def waiting(self, url: str | None = None) -> int:
        """Deliveries waiting (for ``url``, or in all)."""
        with self._lock:
            if url is None:
                (count,) = self._db.execute("SELECT COUNT(*) FROM deliveries").fetchone()
            else:
                (count,) = self._db.execute(
                    "SELECT COUNT(*) FROM deliveries WHERE target = ?", (target_key(url),)
                ).fetchone()
        return int(count)

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._db.close()

    def _trim(self, target: str) -> int:
        """Drop the oldest of ``target``'s rows beyond the bound (lock and transaction held)."""
        (count,) = self._db.execute(
            "SELECT COUNT(*) FROM deliveries WHERE target = ?", (target,)
        ).fetchone()
        excess = int(count) - self.max_per_url
        if excess <= 0:
            return 0
        self._db.execute(
            "DELETE FROM deliveries WHERE id IN (SELECT id FROM deliveries WHERE target = ? "
            "ORDER BY id LIMIT ?)",
            (target, excess),
        )
        return excess

    def _forget_unknown_targets(self) -> None:
        """Drop the deliveries of URLs no longer configured."""
        with self._lock:
            marks = ",".join("?" * len(self._urls))
            cursor: sqlite3.Cursor = self._db.execute(
                f"DELETE FROM deliveries WHERE target NOT IN ({marks})",
                tuple(self._urls),
            )
        if cursor.rowcount:
            log.info("dropped %d webhook deliveries to URLs no longer configured", cursor.rowcount)

    def _shown(self, target: str) -> str:
        return redact_url(self._urls.get(target, target))


__all__ = ["DEFAULT_MAX_PER_URL", "Delivery", "WebhookQueue", "target_key"]
