"""Render the console with real content into docs/screenshots/*.png (run under Xvfb).

Starts the whole service with four demo cameras in a temporary directory, posts events over
HTTP, waits for their clips, opens one in the player, and grabs the window and every panel.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from PySide6.QtCore import QSettings, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

import vms_desktop.gui  # noqa: F401  (pins the Qt binding)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.ports import free_port  # noqa: E402
from vms_desktop.gui.bridge import EngineBridge  # noqa: E402
from vms_desktop.gui.main_window import MainWindow  # noqa: E402
from vms_desktop.gui.resources import stylesheet  # noqa: E402
from vms_desktop.runtime import build_runtime  # noqa: E402
from vms_desktop.settings import load_settings  # noqa: E402


def pump(app: QApplication, seconds: float) -> None:
    """Run the Qt event loop for a while."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.02)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="vms-shots-"))
    environ = {
        "CAMERA_LOBBY_URL": "demo://?width=1280&height=720",
        "CAMERA_LOBBY_NAME": "Lobby",
        "CAMERA_GATE_URL": "demo://?width=1280&height=720",
        "CAMERA_GATE_NAME": "Gate",
        "CAMERA_DOCK_URL": "demo://?width=640&height=480",
        "CAMERA_DOCK_NAME": "Loading dock",
        "CAMERA_GARAGE_URL": f"rtsp://viewer:secret@127.0.0.1:{free_port()}/stream",
        "CAMERA_GARAGE_NAME": "Garage",
        "LOCAL_STORAGE_PATH": str(work / "clips"),
        "BUFFER_PATH": str(work / "buffer"),
        "STATE_PATH": str(work / "state"),
        "API_PORT": str(free_port()),
        "PRE_EVENT_BUFFER_SECONDS": "3",
        "POST_EVENT_BUFFER_SECONDS": "3",
        "CLIP_DURATION_SECONDS": "6",
    }
    settings = load_settings(env_files=[], environ=environ)
    app = QApplication(sys.argv[:1])
    app.setStyleSheet(stylesheet())
    runtime = build_runtime(settings)
    runtime.start()
    assert runtime.api is not None
    bridge = EngineBridge(runtime.console)
    window = MainWindow(
        bridge,
        api_url=runtime.api.base_url,
        settings_store=QSettings(str(work / "console.ini"), QSettings.Format.IniFormat),
    )
    window.resize(1600, 1000)
    window.show()
    pump(app, 8)
    events = [("lobby", "person"), ("gate", "vehicle"), ("dock", "motion"), ("lobby", "loitering")]
    for number, (camera, kind) in enumerate(events, 1):
        moment = datetime.now(UTC) - timedelta(seconds=4)
        body = {
            "event": {
                "id": f"evt-{number:03d}",
                "camera_id": camera,
                "event_type": kind,
                "timestamp": moment.isoformat().replace("+00:00", "Z"),
            }
        }
        httpx.post(runtime.api.base_url + "/clips/generate", json=body, timeout=30)
        pump(app, 1.5)
    # The operator selects the gate camera by clicking its tile, then presses F9.
    QTest.mouseClick(window.live.tile("gate"), Qt.MouseButton.LeftButton)
    window.mark_action.trigger()
    pump(app, 1.0)
    window.timeline.show_last(timedelta(seconds=60))
    window.events.view.resizeColumnsToContents()
    window.grab().save(str(args.out / "console-recording.png"))
    pump(app, 8)
    # Opened from the feed, as an operator does: it plays at once.
    feed = window.events
    for row in range(feed.model.rowCount()):
        job = feed.model.job_at(row)
        if job is not None and job.event.id == "evt-002":
            rect = feed.view.visualRect(feed.model.index(row, 0))
            QTest.mouseClick(feed.view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    pump(app, 2.5)
    print(f"player playing: {window.player.is_playing}")
    window.grab().save(str(args.out / "console.png"))
    window.player.pause()
    window.live.grab().save(str(args.out / "live-grid.png"))
    window.docks["events"].grab().save(str(args.out / "events.png"))
    window.docks["player"].grab().save(str(args.out / "player.png"))
    for name in ("library", "timeline", "dashboard"):
        window.docks[name].raise_()
        pump(app, 2.5)
        window.docks[name].grab().save(str(args.out / f"{name}.png"))
    window.docks["library"].raise_()
    pump(app, 0.5)
    if os.environ.get("DISPLAY"):
        os.system(f"import -window root {args.out / 'screen.png'} 2>/dev/null")
    window.close()
    bridge.shutdown()
    runtime.stop()
    print(f"screenshots in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
