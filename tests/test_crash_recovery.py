"""SIGKILL at each step of a clip's life, then a restart: nothing accepted is lost or half-made.

Each case runs the real entry point with a crash point (``tests/support/crash_child.py``): the
process kills itself with SIGKILL at one step (recording the window, encoding, around the
renames, storing, cataloguing, deleting, cleaning up). Then the application starts again,
plainly, on the same folders, and every accepted event must end with a clip whose bytes match
its SHA-256 (or, for deletions, with no trace), the catalogue must list exactly what the store
holds, and no temp file may remain.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.support.app import app_environment
from tests.support.seaweedfs import SeaweedServer, s3_environment
from tests.support.waiting import wait_until

PRE, POST = 2, 3


@dataclass(frozen=True)
class CrashCase:
    """Where the first run dies, and what it was doing."""

    crash_at: str
    action: str  # "past" / "future" event, "delete" a clip, "cleanup" old clips


CASES = {
    "recording the window": CrashCase(
        "vms_desktop.engine.clip_builder:ClipBuilder.build:during=1.0", "future"
    ),
    "encoding": CrashCase("vms_desktop.engine.clip_builder:ClipBuilder.build:during=0.15", "past"),
    "before the clip's rename": CrashCase(
        "vms_desktop.engine.clip_builder:_publish:before", "past"
    ),
    "after the clip's rename": CrashCase("vms_desktop.engine.clip_builder:_publish:after", "past"),
    "clip stored, record not committed": CrashCase(
        "vms_desktop.storage.local_store:publish_file:after", "past"
    ),
    "record committed, not catalogued": CrashCase(
        "vms_desktop.storage.local_store:commit_temp:after", "past"
    ),
    "catalogued, job not finished": CrashCase(
        "vms_desktop.storage.clip_index:ClipIndex.upsert:after", "past"
    ),
    "deleting": CrashCase("vms_desktop.storage.local_store:fsync_dir:before", "delete"),
    "cleaning up": CrashCase(
        "vms_desktop.engine.clip_service:ClipService.delete:before:2", "cleanup"
    ),
}


class App:
    """One run of the application on the test's folders, reached over its HTTP API."""

    def __init__(self, workdir: Path, env: dict[str, str], crash_at: str | None = None) -> None:
        module = "tests.support.crash_child" if crash_at else "vms_desktop"
        environ = dict(env, **({"CRASH_AT": crash_at} if crash_at else {}))
        self.log = (workdir / f"run-{time.monotonic_ns()}.log").open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", module, "--headless"],
            cwd=Path(__file__).resolve().parent.parent,
            env=environ,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{env['API_PORT']}", timeout=30)
        try:
            wait_until(self._recording, 60, "the camera recording")
        except BaseException:
            self.stop()
            raise

    def _recording(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"the application exited ({self.process.returncode})")
        try:
            cameras = self.client.get("/health").json()["cameras"]
        except (httpx.HTTPError, KeyError, ValueError):
            return False
        return bool(cameras) and cameras[0]["buffered_seconds"] >= PRE + 3

    def post(self, event_id: str, moment: datetime) -> None:
        body = {
            "event": {
                "id": event_id,
                "camera_id": "cam01",
                "event_type": "motion",
                "timestamp": moment.isoformat(),
            }
        }
        response = self.client.post("/clips/generate", json=body)
        assert response.status_code in (200, 202), response.text

    def outcome(self, event_id: str) -> int:
        return self.client.get(f"/clips/{event_id}", follow_redirects=False).status_code

    def killed(self, timeout: float = 60) -> bool:
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        return self.process.returncode == -signal.SIGKILL

    def stop(self) -> None:
        self.client.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(60)
        self.log.close()
        assert "Traceback" not in Path(self.log.name).read_text(), Path(self.log.name).read_text()


@pytest.fixture
def env(tmp_path: Path) -> Iterator[dict[str, str]]:
    yield app_environment(
        tmp_path,
        CAMERA_CAM01_URL="demo://?width=1280&height=720&fps=15",
        PRE_EVENT_BUFFER_SECONDS=str(PRE),
        POST_EVENT_BUFFER_SECONDS=str(POST),
        CLIP_DURATION_SECONDS=str(PRE + POST),
        CLIP_RESOLUTION="1280,720",
        CLIP_PRESET="slow",  # encoding takes long enough to be caught in the middle
    )


def _make_clips(app: App, count: int) -> list[str]:
    ids = []
    for number in range(count):
        event_id = f"made-{number}"
        app.post(event_id, datetime.now(UTC) - timedelta(seconds=POST + 1))
        ids.append(event_id)
    for event_id in ids:
        wait_until(lambda e=event_id: app.outcome(e) == 307, 60, f"clip {event_id}")
    return ids


def _age_clips(clips: Path, event_ids: list[str], days: int) -> None:
    """Make stored clips look ``days`` old (their record's creation time)."""
    for event_id in event_ids:
        record = clips / f"{event_id}.json"
        data = json.loads(record.read_text())
        created = datetime.now(UTC) - timedelta(days=days)
        data["created_at"] = created.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        record.write_text(json.dumps(data))


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_a_kill_at_any_step_loses_nothing_and_leaves_nothing(
    case: CrashCase, env: dict[str, str], tmp_path: Path
) -> None:
    clips = tmp_path / "clips"
    expected_gone: list[str] = []
    expected_ready: list[str] = []
    if case.action in ("delete", "cleanup"):
        setup = App(tmp_path, env)
        try:
            made = _make_clips(setup, 3 if case.action == "cleanup" else 1)
        finally:
            setup.stop()
        if case.action == "cleanup":
            _age_clips(clips, made, days=10)
        expected_gone = made

    first = App(tmp_path, env, crash_at=case.crash_at)
    try:
        if case.action == "past":
            first.post("victim", datetime.now(UTC) - timedelta(seconds=POST + 1))
            expected_ready = ["victim"]
        elif case.action == "future":
            first.post("victim", datetime.now(UTC) + timedelta(seconds=1))
            expected_ready = ["victim"]
        else:
            # The process dies while answering: the request itself may see the connection drop.
            with contextlib.suppress(httpx.HTTPError):
                if case.action == "delete":
                    first.client.delete(f"/clips/{expected_gone[0]}")
                else:
                    first.client.post("/clips/cleanup?days_old=5")
        assert first.killed(), f"the crash point {case.crash_at} was never reached"
    finally:
        first.stop()

    second = App(tmp_path, env)
    try:
        if case.action in ("delete", "cleanup"):
            # An interrupted deletion is completed by asking again; nothing half-gone survives.
            for event_id in expected_gone:
                if case.action == "delete":
                    second.client.delete(f"/clips/{event_id}")
            if case.action == "cleanup":
                second.client.post("/clips/cleanup?days_old=5")
        for event_id in expected_ready:
            wait_until(lambda e=event_id: second.outcome(e) == 307, 90, f"clip {event_id}")
            link = second.client.get(f"/clips/{event_id}/url").json()
            data = httpx.get(link["url"], timeout=30).content
            meta = second.client.get("/clips?limit=500").json()["clips"]
            (stored,) = [m for m in meta if m["event_id"] == event_id]
            assert hashlib.sha256(data).hexdigest() == stored["sha256"]
        for event_id in expected_gone:
            assert second.outcome(event_id) == 404
        listed = {m["event_id"] for m in second.client.get("/clips?limit=500").json()["clips"]}
    finally:
        second.stop()

    in_store = {p.stem for p in clips.glob("*.json")}
    assert listed == in_store
    assert {p.stem for p in clips.glob("*.mp4")} == in_store
    assert in_store >= set(expected_ready)
    assert not in_store & set(expected_gone)
    temps = [p for p in tmp_path.rglob("*.tmp") if "home" not in p.parts]
    assert temps == []
    assert list((tmp_path / "state" / "work").glob("*")) == []


UPLOAD_CASES = {
    "before the upload": "vms_desktop.storage.s3_store:S3ClipStore.put:before",
    "uploaded, queue entry not removed": "vms_desktop.storage.s3_store:S3ClipStore.put:after",
    "upload finished, not catalogued": (
        "vms_desktop.engine.clip_service:ClipService.on_uploaded:before"
    ),
}


@pytest.mark.parametrize("crash_at", list(UPLOAD_CASES.values()), ids=list(UPLOAD_CASES))
def test_a_kill_while_uploading_stores_the_clip_exactly_once(
    crash_at: str, env: dict[str, str], tmp_path: Path, seaweedfs: SeaweedServer, s3_bucket: str
) -> None:
    s3 = env | s3_environment(seaweedfs, s3_bucket)
    first = App(tmp_path, s3, crash_at=crash_at)
    try:
        first.post("victim", datetime.now(UTC) - timedelta(seconds=POST + 1))
        assert first.killed(), f"the crash point {crash_at} was never reached"
    finally:
        first.stop()

    second = App(tmp_path, s3)
    try:
        wait_until(lambda: second.outcome("victim") == 307, 90, "the clip stored")
        (stored,) = second.client.get("/clips?limit=500").json()["clips"]
    finally:
        second.stop()
    bucket = seaweedfs.client()
    objects = bucket.list_objects_v2(Bucket=s3_bucket).get("Contents", [])
    assert [item["Key"] for item in objects] == ["clips/victim.mp4"]
    data = bucket.get_object(Bucket=s3_bucket, Key="clips/victim.mp4")["Body"].read()
    assert hashlib.sha256(data).hexdigest() == stored["sha256"]
    assert list((tmp_path / "state" / "outbox").glob("*")) == []
    assert [p for p in tmp_path.rglob("*.tmp") if "home" not in p.parts] == []
    assert list((tmp_path / "state" / "work").glob("*")) == []
