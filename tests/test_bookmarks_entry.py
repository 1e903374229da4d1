"""Bookmarks through the application as a user starts it: posted, listed after a restart,
deleted, over HTTP.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from tests.support.app import app_environment, headless_app


def test_a_bookmark_is_posted_kept_across_a_restart_and_deleted(tmp_path: Path) -> None:
    environ = app_environment(tmp_path)
    moment = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    with headless_app(tmp_path, environ) as client:
        made = client.post(
            "/bookmarks",
            json={"camera_id": "demo", "timestamp": moment, "note": "gate", "protect": True},
        )
        assert made.status_code == 201, made.text
        bookmark = made.json()
        assert made.headers["location"] == f"/bookmarks/{bookmark['id']}"
        assert client.get("/bookmarks", params={"camera_id": "demo"}).json()["items"] == [bookmark]

    with headless_app(tmp_path, environ) as client:
        listed = client.get("/bookmarks").json()
        assert listed["items"] == [bookmark] and listed["total"] == 1
        assert client.delete(f"/bookmarks/{bookmark['id']}").status_code == 204
        assert client.get("/bookmarks").json()["total"] == 0
        assert client.delete(f"/bookmarks/{bookmark['id']}").status_code == 404
