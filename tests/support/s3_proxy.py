"""An HTTP proxy in front of a test S3 server that answers ``503 SlowDown`` to a share of requests.

It stands for a throttling S3: requests it refuses never reach the server, the others are
relayed unchanged (the ``Host`` header too, so SigV4 signatures made for the proxy's address
still verify at the server).
"""

from __future__ import annotations

import http.client
import random
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import urlsplit

_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "expect",
}
_SLOW_DOWN = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message>"
    b"<RequestId>throttling-proxy</RequestId></Error>"
)


class ThrottlingProxy:
    """Relays to ``upstream`` (``http://host:port``), refusing a ``share`` of requests at random.

    The random sequence comes from ``seed``, so a run can be repeated; ``refused`` and
    ``relayed`` count what happened.
    """

    def __init__(self, upstream: str, *, share: float, seed: int = 0) -> None:
        if not 0 <= share < 1:
            raise ValueError("share must be in [0, 1)")
        parts = urlsplit(upstream)
        if parts.hostname is None or parts.port is None:
            raise ValueError("upstream must be http://host:port")
        self.share = share
        self.refused = 0
        self.relayed = 0
        self._upstream = (parts.hostname, parts.port)
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="s3-proxy", daemon=True
        )
        self._thread.start()

    @property
    def endpoint_url(self) -> str:
        """Where clients should send their S3 requests."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        """Stop relaying."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def __enter__(self) -> ThrottlingProxy:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _refuse_next(self) -> bool:
        with self._lock:
            refuse = self._random.random() < self.share
            if refuse:
                self.refused += 1
            else:
                self.relayed += 1
            return refuse

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                return  # the test's output stays readable

            def _relay(self) -> None:
                if self.headers.get("transfer-encoding"):
                    self.send_error(501, "chunked request bodies are not relayed")
                    return
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                if proxy._refuse_next():
                    self.send_response(503)
                    self.send_header("content-type", "application/xml")
                    self.send_header("retry-after", "1")
                    self.send_header("content-length", str(len(_SLOW_DOWN)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(_SLOW_DOWN)
                    return
                upstream = http.client.HTTPConnection(*proxy._upstream, timeout=60)
                try:
                    upstream.putrequest(
                        self.command, self.path, skip_host=True, skip_accept_encoding=True
                    )
                    for name, value in self.headers.items():
                        if name.lower() not in _HOP_BY_HOP:
                            upstream.putheader(name, value)
                    if body and "content-length" not in {k.lower() for k in self.headers}:
                        upstream.putheader("content-length", str(len(body)))
                    upstream.endheaders(body or None)
                    response = upstream.getresponse()
                    data = response.read()
                    self.send_response(response.status, response.reason)
                    for name, value in response.getheaders():
                        if name.lower() not in _HOP_BY_HOP and name.lower() != "content-length":
                            self.send_header(name, value)
                    length_header = response.getheader("content-length")
                    if self.command == "HEAD" and length_header is not None:
                        self.send_header("content-length", length_header)
                    else:
                        self.send_header("content-length", str(len(data)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(data)
                finally:
                    upstream.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _relay

        return Handler
