"""The application as a user starts it: ``python -m vms_desktop``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.support.app import app_environment, run_app
from tests.support.ports import free_port


def test_headless_records_the_demo_camera_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "vms_desktop", "--headless"],
        cwd=tmp_path,
        env=app_environment(tmp_path),
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    lines: list[str] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        lines.append(line)
        if "camera demo: recording" in line:
            break
    time.sleep(3)
    process.send_signal(signal.SIGTERM)
    _, rest = process.communicate(timeout=30)
    output = "".join(lines) + rest
    assert process.returncode == 0, output
    assert "recording 1 camera(s)" in output and "stopped" in output
    segments = list((tmp_path / "buffer" / "demo").glob("*.ts"))
    assert segments and not [p for p in segments if ".open." in p.name]
    assert "Traceback" not in output


def test_a_bad_setting_stops_start_up_with_one_clear_message(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "CLIP_RESOLUTION=640\nCAMERA_CAM01_URL=rtsp://admin:hunter2secret@cam/stream\n"
    )
    result = run_app(tmp_path, "--headless")
    assert result.returncode == 2
    assert "CLIP_RESOLUTION" in result.stderr
    assert "Traceback" not in result.stderr and "hunter2secret" not in result.stderr


def test_version() -> None:
    from vms_desktop import __version__

    result = subprocess.run(
        [sys.executable, "-m", "vms_desktop", "--version"], capture_output=True, text=True
    )
    assert result.returncode == 0 and __version__ in result.stdout


def test_verify_command_finds_a_flipped_byte(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from vms_desktop.domain.clip import ClipStatus, Event
    from vms_desktop.runtime import build_runtime
    from vms_desktop.settings import load_settings

    env = app_environment(
        tmp_path,
        CAMERA_CAM01_URL="demo://?width=320&height=240",
        PRE_EVENT_BUFFER_SECONDS="1",
        POST_EVENT_BUFFER_SECONDS="1",
        CLIP_DURATION_SECONDS="2",
    )
    runtime = build_runtime(load_settings(env_files=[], environ=env))
    runtime.start(with_api=False)
    try:
        time.sleep(2.5)
        moment = datetime.now(UTC)
        runtime.service.generate(Event("check-1", "cam01", "motion", moment))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            job = runtime.service.job("check-1")
            if job is not None and job.status is ClipStatus.READY:
                break
            time.sleep(0.1)
    finally:
        runtime.stop()

    def verify() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "vms_desktop", "verify"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    good = verify()
    assert good.returncode == 0, good.stdout + good.stderr
    assert "OK" in good.stdout and "1 of 1 clips verified" in good.stdout
    clip = tmp_path / "clips" / "check-1.mp4"
    data = bytearray(clip.read_bytes())
    data[len(data) // 2] ^= 0xFF
    clip.write_bytes(bytes(data))
    bad = verify()
    assert bad.returncode == 1 and "CORRUPT  check-1" in bad.stdout


def test_the_console_serves_the_api_on_the_qt_loop(tmp_path: Path) -> None:
    import httpx

    port = free_port()
    env = app_environment(
        tmp_path,
        QT_QPA_PLATFORM="offscreen",
        API_PORT=str(port),
        CAMERA_CAM01_URL="demo://?width=320&height=240",
        PRE_EVENT_BUFFER_SECONDS="1",
        POST_EVENT_BUFFER_SECONDS="1",
        CLIP_DURATION_SECONDS="2",
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
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        lines.append(line)
        if "console open" in line or not line:
            break
    try:
        assert "console open" in lines[-1], "".join(lines)
        base = f"http://127.0.0.1:{port}"
        time.sleep(2)
        from datetime import UTC, datetime

        stamp = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        event = {"id": "qt-1", "camera_id": "cam01", "event_type": "motion", "timestamp": stamp}
        response = httpx.post(f"{base}/clips/generate?wait=30", json={"event": event}, timeout=60)
        assert response.status_code == 200 and response.json()["status"] == "ready"
        assert httpx.get(f"{base}/health", timeout=10).json()["cameras"][0]["id"] == "cam01"
    finally:
        process.send_signal(signal.SIGTERM)
        _, rest = process.communicate(timeout=60)
    output = "".join(lines) + rest
    assert process.returncode == 0, output
    assert "Traceback" not in output


def test_config_example_prints_the_documented_settings(tmp_path: Path) -> None:
    result = run_app(tmp_path, "config-example")
    assert result.returncode == 0
    assert result.stdout == (Path(__file__).resolve().parent.parent / ".env.example").read_text()


def test_install_desktop_entry_points_the_menu_at_the_command(tmp_path: Path) -> None:
    bin_dir = Path(sys.executable).parent
    environ = app_environment(tmp_path, XDG_DATA_HOME=str(tmp_path / "data"))
    environ["PATH"] = f"{bin_dir}{os.pathsep}{environ.get('PATH', '')}"
    command = [sys.executable, "-m", "vms_desktop", "install-desktop-entry"]
    installed = subprocess.run(command, env=environ, capture_output=True, text=True, timeout=60)
    assert installed.returncode == 0, installed.stderr
    entry = tmp_path / "data" / "applications" / "vms_desktop.desktop"
    assert f"wrote {entry}" in installed.stdout
    assert f"Exec={(bin_dir / 'vms-desktop').resolve()}" in entry.read_text()
    assert (
        tmp_path / "data" / "icons" / "hicolor" / "256x256" / "apps" / "vms_desktop.png"
    ).exists()

    removed = subprocess.run(
        [*command, "--remove"], env=environ, capture_output=True, text=True, timeout=60
    )
    assert removed.returncode == 0 and f"removed {entry}" in removed.stdout
    assert not entry.exists()
