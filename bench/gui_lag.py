"""GUI event-loop lag with 4 and 9 live tiles while clips build (p50, p99), offscreen.

A 10 ms QTimer measures how late the Qt loop runs it; the console is the real main window with
demo cameras (generated and H.264-encoded in process, which costs the CPU a real camera would
not: the figures are pessimistic), the live grid showing every camera, and clips cut from the
buffer back to back the whole time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from PySide6.QtCore import QElapsedTimer, QSettings, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

import vms_desktop.gui  # noqa: E402, F401  (pins the Qt binding)
from tests.support.ports import free_port  # noqa: E402
from vms_desktop.domain.clip import ClipStatus, Event  # noqa: E402
from vms_desktop.gui.bridge import EngineBridge  # noqa: E402
from vms_desktop.gui.main_window import MainWindow  # noqa: E402
from vms_desktop.runtime import build_runtime  # noqa: E402
from vms_desktop.settings import load_settings  # noqa: E402


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def measure(app: QApplication, cameras: int, seconds: float, size: str) -> dict[str, float]:
    work = Path(tempfile.mkdtemp(prefix="vms-lag-"))
    width, height = size.split("x")
    environ = {
        f"CAMERA_CAM{i:02d}_URL": f"demo://?width={width}&height={height}"
        for i in range(1, cameras + 1)
    }
    environ.update(
        LOCAL_STORAGE_PATH=str(work / "clips"),
        BUFFER_PATH=str(work / "buffer"),
        STATE_PATH=str(work / "state"),
        API_PORT=str(free_port()),
        PRE_EVENT_BUFFER_SECONDS="4",
        POST_EVENT_BUFFER_SECONDS="4",
        CLIP_DURATION_SECONDS="8",
    )
    runtime = build_runtime(load_settings(env_files=[], environ=environ))
    runtime.start(with_api=False)
    bridge = EngineBridge(runtime.console)
    window = MainWindow(
        bridge, settings_store=QSettings(str(work / "ui.ini"), QSettings.Format.IniFormat)
    )
    window.resize(1600, 1000)
    window.live.set_layout(4 if cameras <= 4 else 9)
    window.show()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # fill the buffers with pre-event footage
        app.processEvents()
        time.sleep(0.01)

    stop = threading.Event()
    built = [0]

    def build_clips() -> None:
        # One clip after another, each a past window, so an encode runs all the time.
        number = 0
        while not stop.is_set():
            number += 1
            camera = f"cam{(number % cameras) + 1:02d}"
            moment = datetime.now(UTC) - timedelta(seconds=5)
            event_id = f"lag-{number}"
            runtime.service.generate(Event(event_id, camera, "bench", moment))
            while not stop.is_set():
                job = runtime.service.job(event_id)
                if job is not None and job.status.finished:
                    built[0] += job.status is ClipStatus.READY
                    break
                time.sleep(0.05)

    builder = threading.Thread(target=build_clips, daemon=True)
    lags: list[float] = []
    clock = QElapsedTimer()
    timer = QTimer()
    timer.setInterval(10)

    def tick() -> None:
        elapsed = clock.nsecsElapsed() / 1e6
        clock.restart()
        lags.append(max(0.0, elapsed - 10.0))

    timer.timeout.connect(tick)
    cpu0 = time.process_time()
    wall0 = time.monotonic()
    builder.start()
    clock.start()
    timer.start()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.001)
    timer.stop()
    cpu = (time.process_time() - cpu0) / (time.monotonic() - wall0)
    stop.set()
    builder.join(30)
    tiles = window.live.visible_tiles()
    shown = sum(1 for tile in tiles if tile.has_picture)
    window.close()
    bridge.shutdown()
    runtime.stop()
    lags = lags[5:]  # the first ticks include start-up work
    return {
        "cameras": cameras,
        "tiles with a picture": shown,
        "p50": statistics.median(lags),
        "p99": percentile(lags, 0.99),
        "max": max(lags),
        "ticks": len(lags),
        "clips built": built[0],
        "cpu": cpu * 100,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--size", default="640x360", help="demo camera picture size")
    args = parser.parse_args()
    app = QApplication(sys.argv[:1])
    rows = [measure(app, cameras, args.seconds, args.size) for cameras in (4, 9)]
    print(f"\n## GUI event-loop lag ({datetime.now(UTC):%Y-%m-%d}, {args.seconds:g} s each)\n")
    print(
        f"Offscreen main window, demo cameras {args.size} at 15 fps generated and encoded in "
        "the same process, clips (8 s, 640x480) built back to back, a 10 ms QTimer measuring "
        f"lateness. {os.cpu_count()} CPUs.\n"
    )
    print(
        "| Live tiles | Tiles showing | Lag p50 ms | Lag p99 ms | Max ms | Clips built | "
        "Process CPU % |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for row in rows:
        print(
            f"| {row['cameras']} | {row['tiles with a picture']} | {row['p50']:.1f} | "
            f"{row['p99']:.1f} | {row['max']:.1f} | {row['clips built']} | {row['cpu']:.0f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
