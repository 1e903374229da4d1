"""``python -m vms_desktop``, but the process SIGKILLs itself at one named step of its work.

Run as ``python -m tests.support.crash_child ARGS`` with ``CRASH_AT`` set to
``module:attribute[.attribute]:when[:nth]``, where ``when`` is ``before`` (the call never starts),
``after`` (it returned, nothing after it ran) or ``during=SECONDS`` (that long into the call), and
``nth`` counts the calls (1 by default). Everything else is the real entry point: its settings,
logging, threads and shutdown. A crash point that is never reached leaves the process running,
which the test notices.
"""

from __future__ import annotations

import functools
import importlib
import os
import signal
import sys
import threading
from typing import Any


def _die() -> None:
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def install(spec: str) -> None:
    """Replace the named function or method by one that kills the process at that step."""
    module_name, path, when, *rest = spec.split(":")
    nth = int(rest[0]) if rest else 1
    owner: Any = importlib.import_module(module_name)
    *parents, name = path.split(".")
    for part in parents:
        owner = getattr(owner, part)
    original = getattr(owner, name)
    calls = 0
    lock = threading.Lock()

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        with lock:
            calls += 1
            armed = calls == nth
        if armed and when == "before":
            _die()
        if armed and when.startswith("during="):
            timer = threading.Timer(float(when.split("=", 1)[1]), _die)
            timer.daemon = True
            timer.start()
        result = original(*args, **kwargs)
        if armed and when == "after":
            _die()
        return result

    setattr(owner, name, wrapper)


if __name__ == "__main__":
    install(os.environ["CRASH_AT"])
    from vms_desktop.app import main

    sys.exit(main(sys.argv[1:]))
