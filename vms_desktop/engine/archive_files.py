"""How a camera's archive sits on disk: footage files, their piece indexes, and recovery.

A footage file holds one continuous stretch of one recording run, up to a few minutes long, as
consecutive *pieces*: each piece starts on a keyframe and is a complete MPEG-TS stream of its
own (fresh tables, its own muxer), so a demuxer or an HLS player can start at any piece. The
file's name gives its start and, once closed, its end in milliseconds; ``<start>.idx`` beside
it lists where each piece begins (UTC microseconds and byte offset, 16 bytes per piece,
appended as pieces are cut). A directory listing is all start-up needs; piece indexes are read
only when a file is read from the middle.

Longer files instead of one file per piece keep a month of sixteen cameras at tens of
thousands of files rather than tens of millions: start-up lists them in well under a second and
the in-memory index stays small, while the piece index keeps seeking as fine as before.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av

log = logging.getLogger(__name__)

# Start and end in ms, and the size in bytes (so start-up needs no stat per file; names made
# before the size was part of them are still read).
CLOSED_NAME = re.compile(r"^(\d{13})_(\d{13})(?:_(\d+))?\.ts$")
OPEN_NAME = re.compile(r"^(\d{13})\.open\.ts$")
INDEX_NAME = re.compile(r"^(\d{13})\.idx$")
_ENTRY = struct.Struct("<qq")  # piece start in UTC microseconds, byte offset in the file


def millis(seconds: float) -> int:
    """UTC seconds as the whole milliseconds used in file names."""
    return round(seconds * 1000)


def closed_name(start: float, end: float, size: int) -> str:
    """File name of a closed footage file covering ``[start, end)`` in ``size`` bytes."""
    return f"{millis(start):013d}_{millis(end):013d}_{size}.ts"


def open_name(start: float) -> str:
    """File name of a footage file still being written."""
    return f"{millis(start):013d}.open.ts"


def index_path(directory: Path, start: float) -> Path:
    """Where the piece index of the file that began at ``start`` lives."""
    return directory / f"{millis(start):013d}.idx"


@dataclass(frozen=True)
class PieceStart:
    """Where a piece begins: its first picture's UTC time and its byte offset in the file."""

    time: float
    offset: int


def encode_entry(entry: PieceStart) -> bytes:
    """One piece index record."""
    return _ENTRY.pack(round(entry.time * 1_000_000), entry.offset)


def read_index(path: Path, size: int | None = None) -> list[PieceStart]:
    """The pieces listed in an index file, in order; a torn last record is ignored, and so are
    pieces starting at or past ``size`` (bytes the file never got).
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    entries: list[PieceStart] = []
    usable = len(data) - len(data) % _ENTRY.size
    for micros, offset in _ENTRY.iter_unpack(data[:usable]):
        if size is not None and offset >= size:
            break
        if entries and (offset <= entries[-1].offset or micros / 1e6 < entries[-1].time):
            break  # out of order: the rest cannot be trusted
        entries.append(PieceStart(micros / 1_000_000, offset))
    return entries


class IndexWriter:
    """Appends piece records to a file's index (no fsync: a torn tail is found at recovery)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def append(self, entry: PieceStart) -> None:
        """Record one piece's start."""
        os.write(self._fd, encode_entry(entry))

    def close(self) -> None:
        """Close the index file (idempotent)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


@dataclass
class FoundFile:
    """A footage file found on disk at start-up (``name`` in the folder scanned)."""

    start: float
    end: float
    name: str
    size: int


class _TailReader(io.RawIOBase):
    """A file's bytes from ``offset`` on, as a stream a demuxer reads from its beginning."""

    def __init__(self, path: Path, offset: int) -> None:
        super().__init__()
        self._file = open(path, "rb", buffering=0)  # noqa: SIM115
        self._file.seek(offset)

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        return self._file.readinto(target) or 0

    def close(self) -> None:
        if not self.closed:
            self._file.close()
        super().close()


def _last_picture_end(path: Path, piece: PieceStart, demux_options: dict[str, str]) -> float:
    """UTC end of the last packet of the piece starting at ``piece`` and anything after it."""
    # Imported here: the buffer module imports this one.
    from vms_desktop.engine.segment_buffer import RunTimeline

    end = piece.time
    try:
        with (
            _TailReader(path, piece.offset) as tail,
            av.open(tail, "r", options=demux_options) as box,
        ):
            video = box.streams.video[0]
            timeline = RunTimeline(piece.time)
            for packet in box.demux(video):
                if packet.pts is not None:
                    shown = float((packet.duration or 0) * packet.time_base)
                    end = max(end, timeline.resolve(packet.pts) + shown)
    except (av.FFmpegError, IndexError, OSError):
        pass  # a torn tail ends the file where it stops making sense
    return end


def recover(path: Path, demux_options: dict[str, str]) -> FoundFile | None:
    """Close a file left open by a crash: find where its footage ends and rename it.

    Only the last listed piece is read (the index says where the earlier ones are), so
    recovering a file of many minutes costs a couple of seconds of demuxing at most.
    """
    start = int(path.name.split(".")[0]) / 1000
    size = path.stat().st_size
    index = index_path(path.parent, start)
    pieces = read_index(index, size) or [PieceStart(start, 0)]
    end = _last_picture_end(path, pieces[-1], demux_options)
    if end <= start or size == 0:
        path.unlink(missing_ok=True)
        index.unlink(missing_ok=True)
        return None
    final = path.with_name(closed_name(start, end, size))
    os.replace(path, final)
    log.info("recovered footage file %s after an unclean stop", final.name)
    return FoundFile(start, end, final.name, size)


def scan(directory: Path, demux_options: dict[str, str]) -> list[FoundFile]:
    """Every footage file in ``directory``, oldest first; recovers open files, removes leftovers
    (temporary files, indexes whose footage file is gone).
    """
    found: list[FoundFile] = []
    indexes: dict[int, str] = {}
    opened: list[Path] = []
    with os.scandir(directory) as entries:
        for entry in entries:
            name = entry.name
            closed = CLOSED_NAME.match(name)
            if closed:
                start, end, size = closed.groups()
                found.append(
                    FoundFile(
                        int(start) / 1000,
                        int(end) / 1000,
                        name,
                        int(size) if size is not None else entry.stat().st_size,
                    )
                )
            elif OPEN_NAME.match(name):
                opened.append(Path(entry.path))
            elif (listed := INDEX_NAME.match(name)) is not None:
                indexes[int(listed.group(1))] = entry.path
            elif name.endswith(".tmp"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
    for path in opened:
        recovered = recover(path, demux_options)
        if recovered is not None:
            found.append(recovered)
    kept = {millis(file.start) for file in found}
    _remove(Path(path) for key, path in indexes.items() if key not in kept)
    found.sort(key=lambda file: file.start)
    return found


def _remove(paths: Iterable[Path]) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
