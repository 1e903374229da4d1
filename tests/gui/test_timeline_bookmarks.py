"""Bookmarks on the timeline: drawn on their camera's lane, added from the context menu with a
note and the protect choice, deleted from it, against a real service.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot

from tests.gui.conftest import plot_point
from vms_desktop.domain.bookmark import Bookmark, BookmarkQuery
from vms_desktop.gui.timeline import TimelinePlot
from vms_desktop.gui.timeline_model import TimelineModel
from vms_desktop.runtime import Runtime

WHEN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_the_model_puts_bookmarks_on_their_lanes_and_finds_the_one_near_a_point() -> None:
    model = TimelineModel(["cam01", "cam02"])
    first = Bookmark.create("cam02", WHEN, note="gate", protect=True)
    other = Bookmark.create("cam01", WHEN + timedelta(seconds=30))
    stray = Bookmark.create("cam09", WHEN)  # a camera no longer configured: not drawn
    assert model.bookmarks_read([first, other, stray], model.bookmark_edits)
    marks = model.bookmark_marks()
    assert [(m.bookmark_id, m.lane, m.note, m.protect) for m in marks] == [
        (first.id, 1, "gate", True),
        (other.id, 0, "", False),
    ]
    moment = WHEN.timestamp()
    assert model.bookmark_near(1, moment + 2, tolerance=3) == first
    assert model.bookmark_near(1, moment + 4, tolerance=3) is None
    assert model.bookmark_near(0, moment, tolerance=3) is None
    assert [model.camera_at(y) for y in (0.2, 0.9, -0.7, 2.4)] == ["cam01", "cam02", None, None]


def test_a_read_begun_before_an_edit_of_this_console_does_not_undo_it() -> None:
    model = TimelineModel(["cam01"])
    edits = model.bookmark_edits
    added = Bookmark.create("cam01", WHEN)
    model.bookmark_added(added)
    assert not model.bookmarks_read([], edits)  # began before the add
    assert list(model.bookmarks) == [added.id]
    assert model.bookmarks_read([], model.bookmark_edits)
    assert model.bookmarks == {}


def _timeline(qtbot: QtBot, runtime: Runtime) -> TimelinePlot:
    timeline = TimelinePlot(runtime.console, refresh_ms=200)
    qtbot.addWidget(timeline)
    timeline.resize(800, 240)
    timeline.show()
    qtbot.waitExposed(timeline)
    return timeline


def _right_click(timeline: TimelinePlot, when: float, y: float) -> None:
    """A right click at plot point (when, y), as the operator makes it."""
    at = plot_point(timeline, when, y)
    viewport = timeline.plot.viewport()
    QTest.mouseClick(viewport, Qt.MouseButton.RightButton, Qt.KeyboardModifier.NoModifier, at)
    menu = timeline.view_box.menu
    if menu.isVisible():
        menu.hide()


def test_bookmarks_added_elsewhere_are_drawn_with_their_note(
    qtbot: QtBot, runtime: Runtime
) -> None:
    moment = datetime.now(UTC) - timedelta(seconds=20)
    made = runtime.console.add_bookmark("cam02", moment, note="van at the gate", protect=True)
    timeline = _timeline(qtbot, runtime)
    qtbot.waitUntil(lambda: timeline.drawn_bookmark_ids() == [made.id], timeout=10_000)
    (mark,) = timeline.model.bookmark_marks()
    assert mark.lane == 1  # cam02's lane
    assert timeline.bookmark_tooltip(made.id) == "van at the gate\n(footage kept until deleted)"
    timeline.stop()


def _record_gui_thread_calls(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the bookmark store's methods called on the GUI thread (none should be)."""
    assert runtime.bookmarks is not None
    store = runtime.bookmarks.store
    on_gui_thread: list[str] = []
    for name in ("add", "get", "delete", "page"):
        original = getattr(store, name)

        def recorded(*args: object, _original: object = original, _name: str = name) -> object:
            if threading.current_thread() is threading.main_thread():
                on_gui_thread.append(_name)
            return _original(*args)  # type: ignore[operator]

        monkeypatch.setattr(store, name, recorded)
    return on_gui_thread


def test_the_operator_bookmarks_a_moment_and_deletes_it_from_the_context_menu(
    qtbot: QtBot, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert runtime.bookmarks is not None
    read_store = runtime.bookmarks.store.page  # the test's own reads, not recorded
    on_gui_thread = _record_gui_thread_calls(runtime, monkeypatch)
    timeline = _timeline(qtbot, runtime)
    when = time.time() - 30
    _right_click(timeline, when, 0.1)  # cam01's lane
    assert timeline.context_place is not None
    camera_id, clicked = timeline.context_place
    assert camera_id == "cam01" and abs(clicked - when) < 5
    assert timeline.bookmark_action.isEnabled()
    assert not timeline.delete_bookmark_action.isVisible()

    timeline.bookmark_action.trigger()
    dialog = timeline.bookmark_dialog
    assert dialog is not None and dialog.isVisible()
    dialog.note_edit.setText("someone at the door")
    dialog.protect_box.setChecked(True)
    dialog.accept()

    def stored() -> list[Bookmark]:
        return read_store(BookmarkQuery()).items

    qtbot.waitUntil(lambda: len(stored()) == 1, timeout=10_000)
    (bookmark,) = stored()
    assert (bookmark.camera_id, bookmark.note, bookmark.protect) == (
        "cam01",
        "someone at the door",
        True,
    )
    assert abs(bookmark.timestamp.timestamp() - clicked) < 1e-3
    buffer = runtime.recorder.buffer("cam01")
    assert len(buffer.protected_spans()) == 1
    qtbot.waitUntil(lambda: timeline.drawn_bookmark_ids() == [bookmark.id], timeout=10_000)

    # Between the lanes nothing is offered; on the marker, deleting it is.
    timeline.point_at(when, 2.9)
    assert not timeline.bookmark_action.isEnabled()
    _right_click(timeline, clicked, 0.3)
    assert timeline.context_bookmark == bookmark
    assert timeline.delete_bookmark_action.isVisible()
    timeline.delete_bookmark_action.trigger()
    qtbot.waitUntil(lambda: stored() == [], timeout=10_000)
    qtbot.waitUntil(lambda: timeline.drawn_bookmark_ids() == [], timeout=10_000)
    assert buffer.protected_spans() == {}
    timeline.stop()
    assert on_gui_thread == []


def test_a_bookmark_that_cannot_be_saved_says_why(qtbot: QtBot, runtime: Runtime) -> None:
    timeline = _timeline(qtbot, runtime)
    with qtbot.waitSignal(timeline.notice, timeout=10_000) as told:
        timeline.add_bookmark("cam01", WHEN, "tab\there", False)
    assert told.args[0].startswith("Bookmark on cam01 not saved: Note must be printable")
    with qtbot.waitSignal(timeline.notice, timeout=10_000) as told:
        timeline.delete_bookmark("no-such-bookmark")
    assert "no longer exists" in told.args[0]
    timeline.stop()
