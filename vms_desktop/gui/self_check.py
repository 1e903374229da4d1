"""The console's part of the self-test: open the main window offscreen, see it work, close it."""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

from vms_desktop.engine.console_port import Console
from vms_desktop.gui.bridge import EngineBridge
from vms_desktop.gui.main_window import MainWindow
from vms_desktop.gui.qt_logging import route_qt_messages
from vms_desktop.gui.resources import stylesheet


class ConsoleCheckError(RuntimeError):
    """The console opened but did not do what it should."""


def _wait_until(app: QApplication, condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        app.processEvents()
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def open_and_close_console(
    console: Console,
    camera_id: str,
    event_id: str,
    timeout: float,
) -> str:
    """Show the main window, wait for a live picture, play a recorded moment in the archive,
    wait for the clip in the library, then close.
    """
    route_qt_messages()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setStyleSheet(stylesheet())
    with tempfile.TemporaryDirectory(prefix="vms_desktop-console-") as scratch:
        # A scratch layout file: the self-test must not change the operator's saved layout.
        layout = QSettings(str(Path(scratch) / "console.ini"), QSettings.Format.IniFormat)
        bridge = EngineBridge(console)
        started = time.monotonic()
        window = MainWindow(bridge, settings_store=layout)
        try:
            window.resize(1280, 800)
            window.show()
            tile = window.live.tile(camera_id)
            if not _wait_until(app, lambda: tile.has_picture, timeout):
                raise ConsoleCheckError(f"no live picture from {camera_id!r} after {timeout:.0f} s")
            live_after = time.monotonic() - started
            archive = _play_archive(app, console, window, camera_id, timeout)
            listed = ""
            if event_id:
                model = window.library.model
                if not _wait_until(app, lambda: model.row_of(event_id) is not None, timeout):
                    raise ConsoleCheckError(f"clip {event_id} is not in the clip library")
                listed = ", the clip is in the library"
            shot = window.grab()
            if shot.isNull() or shot.width() < 640:
                raise ConsoleCheckError("the window did not draw")
            size = f"{shot.width()}x{shot.height()}"
        finally:
            window.close()
            bridge.shutdown()
            window.deleteLater()
            app.processEvents()
    platform = app.platformName()
    return (
        f"{platform} window {size}, {camera_id!r} live after {live_after:.1f} s, "
        f"{archive}{listed}, closed"
    )


def _play_archive(
    app: QApplication, console: Console, window: MainWindow, camera_id: str, timeout: float
) -> str:
    """Play the camera's recorded footage from its first second in the archive player."""
    ranges: list[float] = []

    def recorded() -> bool:
        now = time.time()
        found = console.coverage(camera_id, now - 3600, now).ranges
        ranges[:] = [found[0].start] if found and found[0].duration >= 1.0 else []
        return bool(ranges)

    if not _wait_until(app, recorded, timeout):
        raise ConsoleCheckError(f"no recorded second of {camera_id!r} to play")
    moment = ranges[0] + 0.5
    window.play_archive(camera_id, moment)
    shown = window.archive
    shown.pause()
    asked = shown.moment
    if not _wait_until(app, lambda: shown.shown_moment is not None, timeout):
        raise ConsoleCheckError(f"the archive of {camera_id!r} shows no picture")
    offset = (shown.shown_moment or 0.0) - asked
    if not -0.5 <= offset <= 0.001:
        raise ConsoleCheckError(f"the archive showed a picture {offset:+.3f} s off the moment")
    window.archive.close_archive()
    return f"the archive plays ({offset * 1000:+.0f} ms)"
