"""The console never waits on storage: no catalogue, store or disk call runs on the GUI thread,
and the window keeps turning while the store and the catalogue hang.
"""

from __future__ import annotations

import itertools
import shutil
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtWidgets import QMessageBox
from pytestqt.qtbot import QtBot

from tests.gui.test_library import add_clip
from tests.support.service import start_service
from vms_desktop.gui.bridge import EngineBridge
from vms_desktop.gui.main_window import MainWindow
from vms_desktop.runtime import Runtime
from vms_desktop.storage.clip_index import ClipIndex
from vms_desktop.storage.local_store import LocalClipStore

_T = TypeVar("_T")


class StorageGuard:
    """Records storage calls made on the GUI thread, and holds other threads' calls while hung.

    A call on the GUI thread is recorded and let through (the test fails instead of hanging).
    """

    def __init__(self) -> None:
        self.armed = False
        self.violations: list[str] = []
        self.calls_held = 0
        self._released = threading.Event()
        self._released.set()

    def hang(self) -> None:
        self._released.clear()

    def release(self) -> None:
        self._released.set()

    def check(self, what: str) -> None:
        if not self.armed:
            return
        if threading.current_thread() is threading.main_thread():
            stack = "".join(traceback.format_stack(limit=8)[:-2])
            self.violations.append(f"{what} on the GUI thread\n{stack}")
            return
        if not self._released.is_set():
            self.calls_held += 1
            self._released.wait(60)


GUARD = StorageGuard()


class GuardedIndex(ClipIndex):
    """The real catalogue; every SQLite call passes the guard first."""

    def _run(self, action: str, work: Callable[[Any], _T]) -> _T:
        GUARD.check(f"catalogue: {action}")
        return super()._run(action, work)


class GuardedStore(LocalClipStore):
    """The real local store; every read and write passes the guard first."""

    def get(self, event_id: str) -> Any:
        GUARD.check("store.get")
        return super().get(event_id)

    def iter_all(self) -> Any:
        GUARD.check("store.iter_all")
        return super().iter_all()

    def put(self, meta: Any, clip_file: Path) -> None:
        GUARD.check("store.put")
        super().put(meta, clip_file)

    def delete(self, event_id: str) -> bool:
        GUARD.check("store.delete")
        return super().delete(event_id)

    def path_of(self, event_id: str) -> Path | None:
        GUARD.check("store.path_of")
        return super().path_of(event_id)

    def open(self, event_id: str) -> Any:
        GUARD.check("store.open")
        return super().open(event_id)

    def url(self, event_id: str, expires_in: timedelta) -> Any:
        GUARD.check("store.url")
        return super().url(event_id, expires_in)


@pytest.fixture
def guarded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    """A started service whose catalogue, store and disk checks go through :data:`GUARD`."""
    runtime = start_service(
        tmp_path, with_api=False, CAMERA_CAM01_URL="demo://?width=320&height=240"
    )
    # The same objects, with the guard in front of their I/O.
    runtime.index.__class__ = GuardedIndex
    assert isinstance(runtime.store, LocalClipStore)
    runtime.store.__class__ = GuardedStore
    disk_usage = shutil.disk_usage

    def guarded_disk_usage(path: Any) -> Any:
        GUARD.check("shutil.disk_usage")
        return disk_usage(path)

    monkeypatch.setattr(shutil, "disk_usage", guarded_disk_usage)
    GUARD.__init__()  # type: ignore[misc]
    try:
        yield runtime
    finally:
        GUARD.armed = False
        GUARD.release()
        runtime.stop()


def _loop_gaps(qtbot: QtBot, seconds: float) -> list[float]:
    """Gaps between the ticks of a 20 ms timer while the event loop runs for ``seconds``."""
    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(20)
    timer.timeout.connect(lambda: ticks.append(time.monotonic()))
    timer.start()
    qtbot.wait(round(seconds * 1000))
    timer.stop()
    return [later - earlier for earlier, later in itertools.pairwise(ticks)]


def test_the_console_keeps_storage_off_the_gui_thread_and_turns_while_it_hangs(
    qtbot: QtBot, guarded: Runtime, tmp_path: Path
) -> None:
    runtime = guarded
    now = datetime.now(UTC)
    for number in range(3):
        add_clip(
            runtime, tmp_path / "made", f"clip-{number}", timestamp=now - timedelta(minutes=number)
        )

    GUARD.armed = True
    GUARD.hang()  # every catalogue, store and disk call off the GUI thread now waits
    bridge = EngineBridge(runtime.console)
    window = MainWindow(
        bridge,
        settings_store=QSettings(str(tmp_path / "console.ini"), QSettings.Format.IniFormat),
    )
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    try:
        gaps = _loop_gaps(qtbot, 1.5)
        assert GUARD.calls_held > 0  # the console did ask, and its requests are waiting
        assert len(gaps) > 30 and max(gaps) < 0.25, f"the event loop stalled: {max(gaps):.3f} s"
        window.library.refresh()
        window.timeline.refresh()
        window.dashboard.sample()
        window._refresh_status_bar()
        window.play_event("clip-1")
        assert max(_loop_gaps(qtbot, 0.5)) < 0.25
        GUARD.release()

        # Everything asked for while hung arrives once the storage answers.
        library = window.library
        qtbot.waitUntil(lambda: library.model.rowCount() == 3, timeout=10_000)
        qtbot.waitUntil(lambda: window.events.model.rowCount() == 3, timeout=10_000)
        qtbot.waitUntil(lambda: window.player.is_playing, timeout=10_000)
        window.player.pause()
        qtbot.waitUntil(lambda: "Disk free" in window.disk_label.text(), timeout=10_000)

        # The operator's clip actions, each touching the store or the catalogue.
        assert library.select_clip("clip-2")
        with qtbot.waitSignal(library.play_requested, timeout=10_000):
            library.play_selected()
        with qtbot.waitSignal(library.message_shown, timeout=10_000):
            library.verify_selected()
        with qtbot.waitSignal(library.message_shown, timeout=10_000):
            library.copy_url()
        with qtbot.waitSignal(library.message_shown, timeout=10_000):
            library.save_copy(tmp_path / "copy.mp4")
        library.delete_selected()
        box = library.findChild(QMessageBox, "deleteConfirmation")
        assert box is not None
        box.button(QMessageBox.StandardButton.Yes).click()
        qtbot.waitUntil(lambda: library.model.row_of("clip-2") is None, timeout=10_000)
        qtbot.waitUntil(lambda: window.events.model.rowCount() == 2, timeout=10_000)
        row = window.events.model.index(0, 0)
        rect = window.events.view.visualRect(row)
        qtbot.mouseClick(
            window.events.view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center()
        )
        qtbot.waitUntil(lambda: window.player.is_playing, timeout=10_000)
        window.player.pause()
    finally:
        GUARD.release()
        window.close()
        bridge.shutdown()
    assert not GUARD.violations, "\n\n".join(GUARD.violations)
