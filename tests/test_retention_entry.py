"""The archive's disk budget through the application as a user starts it: the demo camera's
footage stays within a tiny ``RECORDING_MAX_GB``, and ``/health`` and ``/cameras`` say so.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from tests.engine.test_retention import archive_bytes
from tests.support.app import app_environment, headless_app
from tests.support.waiting import wait_until

GB = 1024**3
BUDGET_GB = 0.0005  # about 537 kB: a dozen seconds of the demo camera's footage
BUDGET = round(BUDGET_GB * GB)


def archive(client: httpx.Client) -> dict[str, Any]:
    body = client.get("/health").json()
    assert isinstance(body["archive"], dict)
    return body


def test_the_archive_stays_within_a_tiny_budget_and_health_reports_it(tmp_path: Path) -> None:
    environ = app_environment(
        tmp_path,
        RECORDING_MAX_GB=str(BUDGET_GB),
        RECORDING_RETENTION_HOURS="2",
        BUFFER_SEGMENT_SECONDS="1",
        BUFFER_MIN_FREE_MB="0",
        # A protected bookmark keeps 20 s of footage: more than the budget holds.
        PRE_EVENT_BUFFER_SECONDS="10",
        POST_EVENT_BUFFER_SECONDS="10",
    )
    root = tmp_path / "buffer"
    samples: list[int] = []
    with headless_app(tmp_path, environ) as client:

        def budget_binding() -> bool:
            samples.append(archive_bytes(root))
            return archive(client)["archive"]["evicted_for_budget"] >= 5

        wait_until(budget_binding, 90, "the budget to evict footage", poll=0.2)
        for _ in range(20):  # a few more seconds of recording, watched closely
            samples.append(archive_bytes(root))
            time.sleep(0.2)
        assert max(samples) <= BUDGET, (max(samples), BUDGET)

        health = archive(client)
        assert health["archive"]["budget_bytes"] == BUDGET
        assert 0 < health["archive"]["used_bytes"] <= BUDGET
        assert health["archive"]["over_budget"] is False
        camera = health["cameras"][0]
        assert camera["id"] == "demo" and camera["state"] == "recording"
        assert camera["retention_hours"] == 2
        assert 0 < camera["archive_bytes"] <= BUDGET
        oldest = datetime.fromisoformat(camera["oldest"].replace("Z", "+00:00"))
        # The budget, not the two hours, decides how far back the footage goes.
        assert (datetime.now(UTC) - oldest).total_seconds() < 60
        row = client.get("/cameras").json()[0]["buffer"]
        assert row["retention_seconds"] == 7200 and row["retention_hours"] == 2
        assert row["budget_bytes"] == BUDGET and row["over_budget"] is False
        assert row["max_bytes"] is None

        # Protected footage outgrows the budget: it is kept, recording goes on, health says so.
        moment = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        made = client.post(
            "/bookmarks", json={"camera_id": "demo", "timestamp": moment, "protect": True}
        )
        assert made.status_code == 201, made.text
        wait_until(lambda: archive(client)["archive"]["over_budget"], 60, "over budget reported")
        newest = client.get("/cameras").json()[0]["buffer"]["newest"]
        wait_until(
            lambda: client.get("/cameras").json()[0]["buffer"]["newest"] > newest,
            20,
            "recording to go on",
        )
        held = archive(client)
        assert held["archive"]["used_bytes"] > BUDGET
        assert held["cameras"][0]["state"] == "recording"
    log = (tmp_path / "headless.log").read_text()
    assert log.count("archive over its budget") == 1, log
