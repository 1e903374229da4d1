"""Runs the API with uvicorn on a socket we bind ourselves, in a thread or on a given loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
from collections.abc import Generator
from typing import Any

import uvicorn

from vms_desktop.api.app import close_streams, release

log = logging.getLogger(__name__)


class ApiStartError(Exception):
    """The API could not listen (port taken, address not available)."""


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the application."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket, or :class:`ApiStartError` saying why not."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio disables Nagle only on sockets it knows are TCP, and accepted
    # connections inherit it; with Nagle on, a keep-alive client waits ~40 ms per response.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        reason = "is in use" if exc.errno == 98 else f"cannot be used ({exc.strerror})"
        raise ApiStartError(f"API address {host}:{port} {reason}; set API_HOST/API_PORT") from None
    sock.listen(128)
    sock.setblocking(False)
    return sock


class ApiServer:
    """The HTTP listener; ``start()`` in a background thread, or ``serve()`` on a running loop."""

    def __init__(self, app: Any, host: str, port: int) -> None:
        self.socket = bind(host, port)
        self.host = host
        self.port = int(self.socket.getsockname()[1])
        config = uvicorn.Config(
            app,
            log_config=None,
            access_log=False,
            server_header=False,
            lifespan="off",
            timeout_graceful_shutdown=5,
        )
        self._app = app
        self._server = _Server(config)
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """``http://host:port`` of the listener."""
        host = f"[{self.host.strip('[]')}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def serve(self) -> None:
        """Serve until :meth:`stop` (on the caller's event loop); the socket is closed after."""
        try:
            await self._server.serve(sockets=[self.socket])
        finally:
            release(self._app)
            with contextlib.suppress(OSError):
                self.socket.close()

    def start(self) -> None:
        """Serve in a background thread; returns once the server listens."""
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self.serve()), name="api", daemon=True
        )
        self._thread.start()
        while not self._server.started and self._thread.is_alive():
            self._thread.join(0.02)
        if not self._server.started:
            raise ApiStartError("the API server did not start")
        log.info("API listening on %s", self.base_url)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop accepting requests and let running ones finish (a ``serve()`` task ends too).

        In ``serve()`` mode the socket closes when that task ends: closing it under the running
        server would break its shutdown.
        """
        close_streams(self._app)
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            with contextlib.suppress(OSError):
                self.socket.close()
        elif not self._server.started:
            with contextlib.suppress(OSError):
                self.socket.close()
