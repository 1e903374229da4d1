"""Qt's own diagnostics go to the ``qt`` logger, so they share the application's log and filters."""

from __future__ import annotations

import logging

from PySide6.QtCore import QMessageLogContext, QtMsgType, qInstallMessageHandler

log = logging.getLogger("qt")

_LEVELS = {
    QtMsgType.QtDebugMsg: logging.DEBUG,
    QtMsgType.QtInfoMsg: logging.INFO,
    QtMsgType.QtWarningMsg: logging.WARNING,
    QtMsgType.QtCriticalMsg: logging.ERROR,
    QtMsgType.QtFatalMsg: logging.CRITICAL,
}

# Platform plugins that cannot do everything a desktop can (offscreen, minimal) say so once per
# window; that is expected there and says nothing about the application.
_EXPECTED = ("does not support propagateSizeHints",)


def _handle(kind: QtMsgType, context: QMessageLogContext, message: str) -> None:
    level = _LEVELS.get(kind, logging.WARNING)
    if level == logging.WARNING and any(text in message for text in _EXPECTED):
        level = logging.DEBUG
    log.log(level, "%s", message)


def route_qt_messages() -> None:
    """Send Qt's messages to Python logging instead of straight to stderr."""
    qInstallMessageHandler(_handle)
