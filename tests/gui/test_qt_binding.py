"""The Qt binding in use survives what a console running for days does: millions of signals."""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, Signal


class _Emitter(QObject):
    with_object = Signal(object)
    with_number = Signal(int)
    bare = Signal()


def test_emitting_signals_keeps_reference_counts_intact() -> None:
    emitter = _Emitter()
    emitter.with_object.connect(lambda value: None)
    emitter.with_number.connect(lambda value: None)
    before = sys.getrefcount(True), sys.getrefcount(False)
    for _ in range(20_000):
        emitter.with_object.emit(emitter)
        emitter.with_number.emit(1)
        emitter.bare.emit()
    assert (sys.getrefcount(True), sys.getrefcount(False)) == before
