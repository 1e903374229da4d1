"""Request guard for the API: Host and Origin checks, JSON-only bodies, size limit, bearer token.

Pure ASGI, in front of every route, so a route added later cannot forget it. The API binds to
loopback by default, where the dangers are a web page in the operator's browser posting to it
(foreign ``Origin``, form content types) and DNS rebinding (an unknown ``Host``). Wrong bearer
tokens are slowed down per client address (see ``auth_throttle``).
"""

from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from vms_desktop.api.auth_throttle import AuthThrottle

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_BODY_BYTES = 64 * 1024
_STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def host_name(host_header: str) -> str:
    """The host part of a ``Host`` header (no port, IPv6 brackets kept)."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class RequestGuard:
    """ASGI middleware enforcing the API's request rules; answers violations with JSON."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        allowed_hosts: Iterable[str] | None,
        token: str | None,
        public_paths: Iterable[str] = ("/health",),
        public_prefixes: Iterable[str] = (),
        signed: Callable[[str, str], bool] | None = None,
        throttle: AuthThrottle | None = None,
    ) -> None:
        self.app = app
        # None: any Host (a non-loopback bind, where the mandatory token stops DNS rebinding).
        self.allowed_hosts = {h.lower() for h in allowed_hosts} if allowed_hosts else None
        self.token = token.encode() if token else None
        self.public_paths = set(public_paths)
        self.public_prefixes = tuple(public_prefixes)
        # (path, query) -> whether the route checks a signed link itself: players fetch such
        # links with no header, from any page (the signature, not the origin, grants them).
        self.signed = signed
        self.throttle = throttle if throttle is not None else AuthThrottle()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        problem = self._check(scope)
        if problem is not None:
            status, detail, headers = problem
            if status == 401:
                await asyncio.sleep(self.throttle.delay)  # holds this request, not the loop
            await _send_json(send, status, {"detail": detail}, headers)
            return
        if scope["method"] in _STATE_CHANGING:
            receive = _limited(receive, MAX_BODY_BYTES)
        try:
            await self.app(scope, receive, send)
        except _BodyTooLarge:
            await _send_json(send, 413, {"detail": f"request body over {MAX_BODY_BYTES} bytes"}, {})

    def _check(self, scope: Scope) -> tuple[int, str, dict[str, str]] | None:
        host = _header(scope, b"host")
        if host is None:
            return 400, "missing Host header", {}
        if self.allowed_hosts is not None and host_name(host) not in self.allowed_hosts:
            return 400, "unknown Host header", {}
        path = scope.get("path", "")
        if self.signed is not None and scope["method"] in ("GET", "HEAD"):
            query = scope.get("query_string", b"").decode("latin-1")
            if self.signed(path, query):
                return None
        origin = _header(scope, b"origin")
        if origin is not None and not self._same_origin(origin, host):
            return 403, "cross-origin requests are not allowed", {}
        public = path in self.public_paths or path.startswith(self.public_prefixes)
        if self.token is not None and not public:
            client = _client_address(scope)
            wait = self.throttle.retry_after(client)
            if wait is not None:
                # Refused before the token is looked at, so a guess gains nothing here.
                return (
                    429,
                    f"too many wrong tokens from this address; retry in {wait} s",
                    {"retry-after": str(wait)},
                )
            given = _header(scope, b"authorization") or ""
            scheme, _, credential = given.partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                credential.strip().encode(), self.token
            ):
                self.throttle.failed(client)
                return 401, "missing or wrong bearer token", {"www-authenticate": "Bearer"}
        method = scope["method"]
        if method in _STATE_CHANGING and _has_body(scope):
            kind = (_header(scope, b"content-type") or "").split(";")[0].strip().lower()
            if kind != "application/json":
                return 415, "request bodies must be application/json", {}
        length = _header(scope, b"content-length")
        if length is not None and length.isdigit() and int(length) > MAX_BODY_BYTES:
            return 413, f"request body over {MAX_BODY_BYTES} bytes", {}
        return None

    def _same_origin(self, origin: str, host: str) -> bool:
        scheme, _, rest = origin.partition("://")
        if scheme not in ("http", "https") or not rest:
            return False
        return rest.lower().rstrip("/") == host.strip().lower()


def _client_address(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else ""


def _has_body(scope: Scope) -> bool:
    length = _header(scope, b"content-length")
    if length is not None:
        return length.strip() not in ("", "0")
    return _header(scope, b"transfer-encoding") is not None


class _BodyTooLarge(Exception):
    pass


def _limited(receive: Receive, limit: int) -> Receive:
    seen = 0

    async def wrapped() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise _BodyTooLarge
        return message

    return wrapped


async def _send_json(send: Send, status: int, body: object, headers: dict[str, str]) -> None:
    payload = json.dumps(body).encode()
    raw_headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
    ] + [(k.encode(), v.encode()) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": payload})
