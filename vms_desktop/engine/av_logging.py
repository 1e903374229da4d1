"""FFmpeg's own log messages, relayed into Python logging without FFmpeg ever calling into Python.

PyAV's log callback takes the GIL on whichever thread FFmpeg logs from. A frame-threaded decoder
logs from its worker threads, and closing it joins those threads while the closing thread holds
the GIL: one message at the wrong moment freezes the whole process. So FFmpeg keeps its own C log
callback, which writes lines to standard error, and standard error (file descriptor 2) is a pipe
that a reader thread turns into ``libav.<component>`` log records, credentials removed.

The pipe's write end is non-blocking: when the reader falls behind, FFmpeg's messages are dropped,
never waited for, so no FFmpeg thread can block on logging either. Python's own ``sys.stderr``
moves to a duplicate of the original descriptor, so Python output never passes through the relay.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import io
import logging
import os
import re
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TextIO

import av.logging

from vms_desktop.domain.redaction import redact_text

log = logging.getLogger(__name__)

_LEVELS = {
    "DEBUG": av.logging.WARNING,
    "INFO": av.logging.ERROR,
    "WARNING": av.logging.ERROR,
    "ERROR": av.logging.ERROR,
}
# FFmpeg's level names as AV_LOG_PRINT_LEVEL prints them, as Python levels.
_LEVEL_NAMES = {
    "quiet": logging.CRITICAL,
    "panic": logging.CRITICAL,
    "fatal": logging.CRITICAL,
    "error": logging.ERROR,
    "warning": logging.WARNING,
    "info": logging.INFO,
    "verbose": logging.DEBUG,
    "debug": logging.DEBUG,
    "trace": logging.DEBUG,
}
# av_log_set_flags: skip repeated lines, print each line's level.
_AV_LOG_SKIP_REPEATED = 1
_AV_LOG_PRINT_LEVEL = 2
_F_SETPIPE_SZ = 1031  # Linux fcntl: resize a pipe
_PIPE_BYTES = 1 << 20
_MAX_LINE = 4096

# "[rtsp @ 0x55d1c0a3e2c0] [error] method DESCRIBE failed: 401 Unauthorized": one or more context
# prefixes (the innermost names the component), an optional level, the message.
_CONTEXT = re.compile(r"\[(?P<name>[^\[\]@]{1,64}?) @ 0x[0-9a-fA-F]+\] ")
_LEVEL = re.compile(r"\[(?P<level>" + "|".join(_LEVEL_NAMES) + r")\] ")
_COMPONENT = re.compile(r"[^A-Za-z0-9_.-]+")
_REPEATED = re.compile(r"Last message repeated \d+ times")


def parse_line(line: str) -> tuple[str, int | None, str]:
    """``(component, Python level or None, message)`` of one line FFmpeg's callback printed."""
    component = ""
    position = 0
    while match := _CONTEXT.match(line, position):
        component = match["name"]
        position = match.end()
    level: int | None = None
    if match := _LEVEL.match(line, position):
        level = _LEVEL_NAMES[match["level"]]
        position = match.end()
    name = _COMPONENT.sub("_", component.strip()).strip("_.") or "generic"
    return name, level, line[position:].strip()


def _libavutil() -> ctypes.CDLL | None:
    """The libavutil PyAV loaded (the same library, so the same global log state), if found."""
    try:
        maps = Path("/proc/self/maps").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for row in maps.splitlines():
        path = row.rsplit(" ", 1)[-1]
        if "/libavutil" in path and ".so" in path:
            try:
                return ctypes.CDLL(path)
            except OSError:
                return None
    return None


class FfmpegLogRelay:
    """Routes FFmpeg's messages at ``level`` and above to the ``libav.*`` loggers while started.

    Process-wide: it owns file descriptor 2 while running, so start it once, before logging
    handlers are made (a handler made earlier on the old ``sys.stderr`` is moved over).
    """

    def __init__(self, level: str, secrets: Callable[[], Iterable[str]] = tuple) -> None:
        self.level = _LEVELS.get(level.upper(), av.logging.ERROR)
        self.default_level = logging.ERROR if self.level <= av.logging.ERROR else logging.WARNING
        self._secrets = secrets
        self._saved_fd: int | None = None
        self._read_fd: int | None = None
        self._old_stderr: TextIO | None = None
        self._stderr: TextIO | None = None
        self._thread: threading.Thread | None = None
        self.lines_relayed = 0

    @property
    def stderr(self) -> TextIO | None:
        """Python's standard error while the relay runs (the terminal, not the pipe)."""
        return self._stderr

    def start(self) -> None:
        """Take over file descriptor 2 and start relaying."""
        if self._thread is not None:
            return
        sys.stderr.flush()
        saved = os.dup(2)
        read_fd, write_fd = os.pipe()
        with contextlib.suppress(OSError):
            fcntl.fcntl(write_fd, _F_SETPIPE_SZ, _PIPE_BYTES)
        # A full pipe must drop FFmpeg's line, never make a decoder thread wait for this one.
        os.set_blocking(write_fd, False)
        os.dup2(write_fd, 2)
        os.close(write_fd)
        self._saved_fd, self._read_fd = saved, read_fd
        stream = io.TextIOWrapper(
            io.FileIO(saved, "w", closefd=False),
            encoding=getattr(sys.stderr, "encoding", None) or "utf-8",
            errors="backslashreplace",
            line_buffering=True,
        )
        self._old_stderr, self._stderr = sys.stderr, stream
        sys.stderr = stream
        _move_handlers(self._old_stderr, stream)
        self._thread = threading.Thread(target=self._relay, name="ffmpeg-log", daemon=True)
        self._thread.start()
        library = _libavutil()
        if library is not None:
            library.av_log_set_flags(_AV_LOG_SKIP_REPEATED | _AV_LOG_PRINT_LEVEL)
        av.logging.set_libav_level(self.level)
        av.logging.restore_default_callback()

    def stop(self) -> None:
        """Stop relaying: FFmpeg falls silent again, descriptor 2 and ``sys.stderr`` come back."""
        if self._thread is None:
            return
        av.logging.set_level(None)  # PyAV's silent callback: nothing is written any more
        assert self._saved_fd is not None and self._read_fd is not None
        # The pipe's last writer goes with the old descriptor 2: the reader drains, sees its end.
        os.dup2(self._saved_fd, 2)
        self._thread.join(5.0)
        if self._stderr is not None and self._old_stderr is not None:
            self._stderr.flush()
            _move_handlers(self._stderr, self._old_stderr)
            if sys.stderr is self._stderr:
                sys.stderr = self._old_stderr
        os.close(self._read_fd)
        os.close(self._saved_fd)
        self._thread = None
        self._saved_fd = self._read_fd = None

    def _relay(self) -> None:
        assert self._read_fd is not None
        pending = b""
        while True:
            try:
                chunk = os.read(self._read_fd, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                break
            pending += chunk
            *lines, pending = pending.split(b"\n")
            if len(pending) > _MAX_LINE:
                lines.append(pending)
                pending = b""
            for raw in lines:
                self._emit(raw)
        if pending:
            self._emit(pending)

    def _emit(self, raw: bytes) -> None:
        text = raw.decode("utf-8", "backslashreplace").rstrip("\r")
        if not text.strip():
            return
        self.lines_relayed += 1
        component, level, message = parse_line(text)
        if level is None and _REPEATED.fullmatch(message):
            level = logging.DEBUG  # the line it counts was logged (or filtered) on its own
        try:
            secrets = tuple(self._secrets())
        except Exception:  # half-built settings must not stop the relay; URL userinfo still goes
            secrets = ()
        logging.getLogger(f"libav.{component}").log(
            level if level is not None else self.default_level, "%s", redact_text(message, secrets)
        )


def _move_handlers(old: object, new: TextIO) -> None:
    """Point every logging handler writing to ``old`` at ``new``."""
    loggers = [logging.getLogger()] + [
        item
        for item in logging.Logger.manager.loggerDict.values()
        if isinstance(item, logging.Logger)
    ]
    for each in loggers:
        for handler in each.handlers:
            if isinstance(handler, logging.StreamHandler) and handler.stream is old:
                handler.setStream(new)


@contextlib.contextmanager
def route_ffmpeg_logs(level: str, secrets: Callable[[], Iterable[str]] = tuple) -> Iterator[None]:
    """Relay FFmpeg's messages at ``level`` and above to the ``libav.*`` loggers while active."""
    relay = FfmpegLogRelay(level, secrets)
    relay.start()
    try:
        yield
    finally:
        relay.stop()
