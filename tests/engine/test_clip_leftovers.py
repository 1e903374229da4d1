"""An encode killed by a crash leaves files in the work folder: the next start removes them."""

from __future__ import annotations

import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from tests.support.app import app_environment
from tests.support.service import start_service
from tests.support.waiting import wait_until
from vms_desktop.domain.clip import ClipStatus

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = {
    "CAMERA_CAM01_URL": "demo://?width=640&height=360",
    "PRE_EVENT_BUFFER_SECONDS": "2",
    "POST_EVENT_BUFFER_SECONDS": "3",
    "CLIP_DURATION_SECONDS": "5",
}


def test_start_up_removes_what_a_killed_encode_left_and_builds_the_clip_again(
    tmp_path: Path,
) -> None:
    env = app_environment(
        tmp_path,
        CRASH_AT="vms_desktop.engine.clip_builder:ClipBuilder.build:during=1.0",
        **SETTINGS,
    )
    with (tmp_path / "first-run.log").open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.crash_child", "--headless"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{env['API_PORT']}") as client:

                def recorded() -> bool:
                    try:
                        cameras = client.get("/health").json()["cameras"]
                    except (httpx.HTTPError, KeyError, ValueError):
                        return False
                    return bool(cameras) and cameras[0]["buffered_seconds"] >= 4

                wait_until(recorded, 60, "the first run to record")
                moment = datetime.now(UTC) - timedelta(seconds=1)
                body = {
                    "event": {
                        "id": "killed",
                        "camera_id": "cam01",
                        "event_type": "motion",
                        "timestamp": moment.isoformat(),
                    }
                }
                assert client.post("/clips/generate", json=body).status_code == 202
            process.wait(60)  # killed one second into the encode
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert process.returncode == -signal.SIGKILL
    work = tmp_path / "state" / "work"
    left = [path.name for path in work.iterdir()]
    assert any(name.endswith(".tmp") for name in left), left
    (work / "notes.txt").write_text("not an encode")  # nothing but our own files goes

    runtime = start_service(tmp_path, with_api=False, **SETTINGS)
    try:
        # Gone once the service has started (the rebuild writes files of its own).
        assert not [name for name in left if (work / name).exists()]
        assert (work / "notes.txt").exists()
        wait_until(
            lambda: (
                (job := runtime.service.job("killed")) is not None
                and job.status is ClipStatus.READY
            ),
            60,
            "the clip built again",
        )
        assert runtime.service.verify("killed")
    finally:
        runtime.stop()
    assert [path.name for path in work.iterdir()] == ["notes.txt"]
