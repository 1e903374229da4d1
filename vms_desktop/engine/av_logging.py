"""FFmpeg's own log messages, routed into Python logging with credentials removed."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import av.logging

from vms_desktop.domain.redaction import RedactingFilter

_LEVELS = {
    "DEBUG": av.logging.VERBOSE,
    "INFO": av.logging.INFO,
    "WARNING": av.logging.WARNING,
    "ERROR": av.logging.ERROR,
}


@contextlib.contextmanager
def route_ffmpeg_logs(level: str, secrets: Callable[[], Iterable[str]] = tuple) -> Iterator[None]:
    """Send FFmpeg's messages at ``level`` and above to the ``libav.*`` loggers while active.

    FFmpeg names the full source URL, credentials included, in its messages. Every record from
    those loggers is redacted as it is created, before any handler or capture can see it (a
    logger filter would miss records of child loggers such as ``libav.rtsp``).
    """
    guard = RedactingFilter(secrets)
    previous = logging.getLogRecordFactory()

    def make_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        if record.name.startswith("libav"):
            guard.filter(record)
        return record

    logging.setLogRecordFactory(make_record)
    av.logging.set_level(_LEVELS.get(level.upper(), av.logging.WARNING))
    try:
        yield
    finally:
        av.logging.set_level(None)
        logging.setLogRecordFactory(previous)
