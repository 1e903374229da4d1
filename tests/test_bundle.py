"""The frozen application: built by ``make bundle``, run as an operator or a server would run it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.support.ports import free_port
from tests.support.waiting import wait_until
from tests.support.xvfb import XvfbDisplay
from vms_desktop.__version__ import __version__

ROOT = Path(__file__).resolve().parent.parent
BUNDLE = ROOT / "dist" / "vms_desktop"
EXECUTABLE = BUNDLE / "vms-desktop"
SIZE_LIMIT_MB = 300
# Qt modules the console needs; anything else in the bundle is dead weight.
QT_LIBRARIES = {
    "Core",
    "Gui",
    "Widgets",
    "DBus",
    "OpenGL",
    "OpenGLWidgets",
    "XcbQpa",
    "WaylandClient",
    "WlShellIntegration",
}

pytestmark = pytest.mark.timeout(1800)


@pytest.fixture(scope="module")
def bundle() -> Path:
    """The bundle, (re)built by ``make bundle`` if any of its inputs changed."""
    result = subprocess.run(
        ["make", "-s", "bundle"], cwd=ROOT, capture_output=True, text=True, timeout=1700
    )
    if result.returncode != 0:
        pytest.fail(f"make bundle failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return EXECUTABLE


def user_environment(home: Path, **extra: str) -> dict[str, str]:
    """A user with nothing configured: own home, no display, only the system PATH."""
    environ = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "LANG": "C.UTF-8",
    }
    environ.update(extra)
    return environ


def run_frozen(
    *args: str, cwd: Path, environ: dict[str, str], timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(EXECUTABLE), *args],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_frozen_self_test_passes(bundle: Path, tmp_path: Path) -> None:
    result = run_frozen("--self-test", cwd=tmp_path, environ=user_environment(tmp_path))
    print(result.stdout)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "self-test PASSED: 10 of 10 checks passed" in result.stdout
    assert "(bundle: " in result.stdout
    for check in (
        "resources",
        "clip generated via HTTP",
        "clip download and SHA-256",
        "clip decodes as H.264 MP4",
        "GUI offscreen: open, live picture, close",
    ):
        assert re.search(rf"^PASS  {re.escape(check)} ", result.stdout, re.M), check
    assert "Traceback" not in result.stderr


def test_frozen_self_test_fails_when_a_check_fails(bundle: Path, tmp_path: Path) -> None:
    # A broken per-user .env: the app would not start, so the self-test must not pass.
    environ = user_environment(tmp_path)
    (tmp_path / ".config" / "vms_desktop").mkdir(parents=True)
    (tmp_path / ".config" / "vms_desktop" / ".env").write_text("CLIP_FPS=fast\n")
    result = run_frozen("--self-test", "--headless", cwd=tmp_path, environ=environ)
    assert result.returncode == 1
    assert re.search(r"^FAIL  user configuration .*CLIP_FPS", result.stdout, re.M)
    assert "self-test FAILED" in result.stdout


def test_frozen_app_reads_the_env_in_the_working_directory_then_the_user_one(
    bundle: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    work = tmp_path / "somewhere else"
    work.mkdir(parents=True)
    user_env = home / ".config" / "vms_desktop" / ".env"
    user_env.parent.mkdir(parents=True)
    user_env.write_text("CAMERA_LOBBY_URL=rtsp://192.0.2.1/stream\nVIDEO_STORAGE_TYPE=local\n")
    environ = user_environment(home)

    only_user = run_frozen("--self-test", "--headless", cwd=work, environ=environ)
    assert only_user.returncode == 0, only_user.stdout + only_user.stderr
    assert "PASS  user configuration" in only_user.stdout
    assert f"{user_env}; 1 camera(s), local storage" in only_user.stdout

    (work / ".env").write_text("CAMERA_DOOR_URL=rtsp://192.0.2.2/stream\n")
    both = run_frozen("--self-test", "--headless", cwd=work, environ=environ)
    assert both.returncode == 0, both.stdout + both.stderr
    assert f"{work / '.env'}, {user_env}; 2 camera(s)" in both.stdout


def test_frozen_version_and_example_configuration(bundle: Path, tmp_path: Path) -> None:
    environ = user_environment(tmp_path)
    version = run_frozen("--version", cwd=tmp_path, environ=environ)
    assert version.stdout.strip() == f"vms-desktop {__version__}"
    assert (BUNDLE / "VERSION").read_text().strip() == __version__
    example = run_frozen("config-example", cwd=tmp_path, environ=environ)
    assert example.returncode == 0
    assert example.stdout == (ROOT / ".env.example").read_text()


def test_bundle_holds_what_it_needs_and_nothing_qt_it_does_not(bundle: Path) -> None:
    size_mb = sum(p.stat().st_size for p in BUNDLE.rglob("*") if p.is_file() and not p.is_symlink())
    assert size_mb / 1e6 <= SIZE_LIMIT_MB
    for name in ("LICENSE", "THIRD_PARTY_NOTICES.md", ".env.example", "vms_desktop.desktop"):
        assert (BUNDLE / name).is_file(), name
    assert (BUNDLE / "licenses" / "common" / "LGPL-3").is_file()
    assert (BUNDLE / "licenses" / "av").is_dir()
    internal = BUNDLE / "_internal"
    dangling = [str(p) for p in internal.rglob("*") if p.is_symlink() and not p.exists()]
    assert dangling == []
    qt = {
        m.group(1)
        for p in internal.rglob("libQt6*.so*")
        if (m := re.match(r"libQt6(\w+?)\.so", p.name))
    }
    assert qt == QT_LIBRARIES
    plugins = {p.parent.name for p in (internal / "PySide6" / "Qt" / "plugins").rglob("*.so")}
    assert {"platforms", "xcbglintegrations", "imageformats"} <= plugins
    assert not plugins & {"sqldrivers", "qmltooling", "multimedia", "tls", "designer"}
    assert not (internal / "PySide6" / "Qt" / "translations").exists()


def test_notices_name_every_library_the_bundle_copied(bundle: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "check_notices.py"), "--bundle", str(BUNDLE)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr


def test_every_library_in_the_bundle_finds_its_dependencies(bundle: Path) -> None:
    internal = BUNDLE / "_internal"
    environ = {"LD_LIBRARY_PATH": str(internal), "PATH": "/usr/bin:/bin"}
    missing: list[str] = []
    libraries = [
        p
        for p in internal.rglob("*.so*")
        if p.is_file() and not p.is_symlink() and "libqwayland" not in p.name
    ]
    assert len(libraries) > 100
    for library in libraries:
        listing = subprocess.run(
            ["ldd", str(library)], env=environ, capture_output=True, text=True
        ).stdout
        missing += [
            f"{library.name}: {line.strip()}"
            for line in listing.splitlines()
            if "not found" in line
        ]
    assert missing == []


@pytest.fixture
def display() -> Iterator[XvfbDisplay]:
    server = XvfbDisplay()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_frozen_console_shows_the_demo_camera_live_under_xvfb(
    bundle: Path, display: XvfbDisplay, tmp_path: Path
) -> None:
    port = free_port()
    environ = user_environment(
        tmp_path,
        DISPLAY=display.name,
        API_PORT=str(port),
        LOCAL_STORAGE_PATH=str(tmp_path / "clips"),
        BUFFER_PATH=str(tmp_path / "buffer"),
        STATE_PATH=str(tmp_path / "state"),
    )
    log_path = tmp_path / "console.log"
    with log_path.open("w") as log:
        console = subprocess.Popen(
            [str(EXECUTABLE)], cwd=tmp_path, env=environ, stdout=log, stderr=subprocess.STDOUT
        )

    def recording() -> bool:
        assert console.poll() is None, "the console exited"
        try:
            cameras = httpx.get(f"http://127.0.0.1:{port}/cameras", timeout=2).json()
        except httpx.HTTPError:
            return False
        return any(c["state"] == "recording" for c in cameras)

    try:
        try:
            wait_until(recording, 60, "a camera recording", poll=0.3)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{log_path.read_text()}") from None
        time.sleep(3)  # first keyframe and the first painted picture
        first = display.screenshot(tmp_path / "first.png").astype(np.int16)
        time.sleep(1.0)
        second = display.screenshot(tmp_path / "second.png").astype(np.int16)
        # The window covers the screen with more than one colour, and the live tile moves.
        assert float(first.std()) > 20
        changed = np.abs(first - second).max(axis=2) > 40
        assert changed.mean() > 0.001, "nothing on the screen moved in a second"
        console.send_signal(signal.SIGTERM)
        assert console.wait(timeout=30) == 0
    finally:
        if console.poll() is None:
            console.kill()
            console.wait()
    text = log_path.read_text()
    assert "Traceback" not in text
    assert not re.search(r"\b(ERROR|CRITICAL)\b", text), text
    assert os.path.getsize(tmp_path / "first.png") > 10_000
