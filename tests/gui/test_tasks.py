"""BackgroundTasks: work off the GUI thread, outcomes back on it, the newest request wins."""

from __future__ import annotations

import threading

from pytestqt.qtbot import QtBot

from vms_desktop.gui.tasks import BackgroundTasks


def test_outcomes_arrive_on_the_gui_thread(qtbot: QtBot) -> None:
    tasks = BackgroundTasks(2)
    ran_on: list[threading.Thread] = []
    results: list[tuple[str, object, threading.Thread]] = []

    def work() -> int:
        ran_on.append(threading.current_thread())
        return 42

    def boom() -> int:
        raise ValueError("bad input")

    tasks.submit(work, lambda r: results.append(("done", r, threading.current_thread())))
    tasks.submit(boom, print, lambda e: results.append(("failed", e, threading.current_thread())))
    qtbot.waitUntil(lambda: len(results) == 2)
    assert ran_on and ran_on[0] is not threading.main_thread()
    assert all(thread is threading.main_thread() for _, _, thread in results)
    outcomes = {kind: value for kind, value, _ in results}
    assert outcomes["done"] == 42 and str(outcomes["failed"]) == "bad input"
    assert tasks.busy == 0
    tasks.close()


def test_a_newer_request_under_the_same_key_wins(qtbot: QtBot) -> None:
    tasks = BackgroundTasks(1)
    gate = threading.Event()
    started: list[str] = []
    delivered: list[str] = []

    def job(name: str) -> str:
        started.append(name)
        if name == "first":
            gate.wait(10)
        return name

    tasks.submit(lambda: job("first"), delivered.append, key="rows")
    qtbot.waitUntil(lambda: started == ["first"])
    tasks.submit(lambda: job("second"), delivered.append, key="rows")  # queued behind first
    tasks.submit(lambda: job("third"), delivered.append, key="rows")
    assert tasks.pending("rows")
    gate.set()
    qtbot.waitUntil(lambda: delivered == ["third"])
    assert started == ["first", "third"]  # "second" was superseded before it started
    assert not tasks.pending("rows") and tasks.busy == 0
    tasks.cancel("rows")  # nothing pending: harmless
    tasks.submit(lambda: job("fourth"), delivered.append, key="rows")
    tasks.cancel("rows")
    qtbot.wait(200)
    assert delivered == ["third"]
    tasks.close()
