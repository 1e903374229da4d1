"""Alerts in the console as a user starts it: ``python -m vms_desktop`` with a demo camera."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from pathlib import Path

from tests.support.app import app_environment
from tests.support.waiting import wait_until


def test_the_console_warns_of_an_unreachable_storage_and_of_its_return(tmp_path: Path) -> None:
    env = app_environment(
        tmp_path, QT_QPA_PLATFORM="offscreen", CAMERA_CAM01_URL="demo://?width=320&height=240"
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "vms_desktop"],
        cwd=tmp_path,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    lines: list[str] = []
    # Read on a thread of its own: the test waits for lines without blocking on the pipe.
    reader = threading.Thread(target=lambda: lines.extend(iter(process.stderr.readline, "")))
    reader.start()

    def said(text: str) -> bool:
        return any(text in line for line in list(lines))

    clips = tmp_path / "clips"
    away = tmp_path / "clips-away"
    try:
        wait_until(lambda: said("console open"), timeout=60, what="the console")
        wait_until(clips.is_dir, timeout=10, what="the clip folder")
        clips.rename(away)
        wait_until(lambda: said("alert upload stuck"), timeout=30, what="the stuck alert")
        away.rename(clips)
        wait_until(lambda: said("alert uploads moving"), timeout=20, what="the all-clear")
    finally:
        if away.exists():
            away.rename(clips)
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
        reader.join(10)
        process.stderr.close()
    output = "".join(lines)
    assert process.returncode == 0, output
    assert "Traceback" not in output
    [stuck] = [line for line in lines if "alert upload stuck" in line]
    assert "unreachable" in stuck and "WARNING" in stuck.upper()
