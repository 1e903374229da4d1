"""Serves an already opened clip file, whole or one byte range, reading it off the event loop."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import BinaryIO

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

CHUNK_BYTES = 256 * 1024

# One range only: a client asking for several gets the whole file (RFC 9110 lets a server
# ignore Range), which every player handles.
_RANGE = re.compile(r"bytes=(?P<start>[0-9]{0,19})-(?P<end>[0-9]{0,19})")

Reader = Callable[[Callable[[], bytes]], Awaitable[bytes]]


class RangeNotSatisfiableError(ValueError):
    """The range starts past the end of the file (answered 416)."""


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The bytes ``[first, end)`` a ``Range`` header asks for, or None for the whole file.

    Headers we do not serve (several ranges, malformed ones) mean the whole file; a range
    past the end raises :class:`RangeNotSatisfiableError`.
    """
    match = _RANGE.fullmatch(header.strip()) if header is not None else None
    if match is None or not (match["start"] or match["end"]):
        return None
    if not match["start"]:  # "-n": the last n bytes
        suffix = int(match["end"])
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiableError(header)
        return max(0, size - suffix), size
    first = int(match["start"])
    last = int(match["end"]) if match["end"] else size - 1
    if match["end"] and last < first:
        return None
    if first >= size:
        raise RangeNotSatisfiableError(header)
    return first, min(last, size - 1) + 1


class ClipFileResponse(Response):
    """A clip's bytes from an open file of ``size`` bytes, with ``Range`` support.

    ``read`` runs each blocking call (reads, the final close) off the event loop; the file is
    closed when the response ends, however it ends.
    """

    def __init__(
        self,
        stream: BinaryIO,
        *,
        size: int,
        filename: str,
        etag: str,
        request_headers: Mapping[str, str],
        head: bool,
        read: Reader,
    ) -> None:
        super().__init__(status_code=200, media_type="video/mp4")
        self._stream = stream
        self._read = read
        self._head = head
        wanted = request_headers.get("range")
        if_range = request_headers.get("if-range")
        if if_range is not None and if_range.strip() != etag:
            wanted = None  # the client's copy is another version: send it all
        headers = {
            "accept-ranges": "bytes",
            "etag": etag,
            "content-disposition": f'attachment; filename="{filename}"',
        }
        try:
            span = byte_range(wanted, size)
        except RangeNotSatisfiableError:
            self.status_code = 416
            span = (0, 0)
            headers["content-range"] = f"bytes */{size}"
        else:
            if span is None:
                span = (0, size)
            else:
                self.status_code = 206
                headers["content-range"] = f"bytes {span[0]}-{span[1] - 1}/{size}"
        self._span = span
        headers["content-length"] = str(self._span[1] - self._span[0])
        self.init_headers(headers)  # adds the content type

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": self.status_code,
                    "headers": self.raw_headers,
                }
            )
            position, end = self._span
            if self._head or position >= end:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            while position < end:
                count = min(CHUNK_BYTES, end - position)
                chunk = await self._read(_pread(self._stream, count, position))
                if not chunk:
                    # Published clips never change in place; a short file is damage, and
                    # breaking the connection tells the client its copy is incomplete.
                    raise OSError("the clip file ended early")
                position += len(chunk)
                await send(
                    {"type": "http.response.body", "body": chunk, "more_body": position < end}
                )
        finally:
            await self._close()

    async def _close(self) -> None:
        """Close the file off the loop; on the loop only if the pool cannot take it (a
        cancelled or refused call), since a file left open would be worse.
        """
        stream = self._stream

        def close() -> bytes:
            stream.close()
            return b""

        try:
            await self._read(close)
        except asyncio.CancelledError:
            stream.close()  # closing twice is harmless; leaving it open is not
            raise
        except Exception:
            stream.close()


def _pread(stream: BinaryIO, count: int, offset: int) -> Callable[[], bytes]:
    def read() -> bytes:
        return os.pread(stream.fileno(), count, offset)

    return read


__all__ = ["ClipFileResponse", "RangeNotSatisfiableError", "byte_range"]
