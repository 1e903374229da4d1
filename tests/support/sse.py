"""Reading a Server-Sent Events stream in tests: frames as they arrive over real HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(frozen=True)
class SseFrame:
    """One event (``comment`` set for a comment line such as a keep-alive)."""

    id: str | None = None
    event: str | None = None
    data: str = ""
    comment: str | None = None

    @property
    def json(self) -> Any:
        """The data as JSON."""
        return json.loads(self.data)


def sse_frames(response: httpx.Response) -> Iterator[SseFrame]:
    """The frames of a streaming response, in order, until it ends."""
    fields: dict[str, str] = {}
    for line in response.iter_lines():
        if line == "":
            if fields:
                yield SseFrame(fields.get("id"), fields.get("event"), fields.get("data", ""))
            fields = {}
        elif line.startswith(":"):
            yield SseFrame(comment=line[1:].strip())
        else:
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            fields[name] = f"{fields[name]}\n{value}" if name in fields else value


def events_until(frames: Iterator[SseFrame], count: int) -> list[SseFrame]:
    """The next ``count`` events (comments skipped)."""
    found: list[SseFrame] = []
    for frame in frames:
        if frame.comment is None:
            found.append(frame)
            if len(found) == count:
                break
    return found
