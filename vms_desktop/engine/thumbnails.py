"""Clip thumbnails: the keyframe nearest the event moment, scaled down, cached on disk as PNG."""

from __future__ import annotations

import contextlib
import logging
import os
import re
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from vms_desktop.domain.clip import ClipMeta
from vms_desktop.domain.errors import ThumbnailError
from vms_desktop.engine.picture_size import fit_size
from vms_desktop.storage.atomic import cleanup_temp_files, create_temp

log = logging.getLogger(__name__)

DEFAULT_SIZE = (160, 120)
# A remote clip that stops answering must fail the thumbnail, not hold a worker forever.
_NETWORK_TIMEOUT = (10.0, 10.0)
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CACHE_SUFFIX = ".png"
_MAX_CACHE_BYTES = 1 << 20
# What follows "{event_id}." in a cache file name.
_CACHE_TAIL = re.compile(r"[0-9a-f]{64}\.[0-9]+x[0-9]+\.png")
# Temp files older than this were left by a crash, not by a write in progress.
_STALE_TEMP_SECONDS = 600.0
# Only plain files and HTTP(S) may be opened: a crafted file must not make the demuxer reach
# other protocols or local files (the HLS and concat tricks).
_FILE_PROTOCOLS = "file"
_URL_PROTOCOLS = "http,https,tcp,tls,crypto"


class ThumbnailMaker:
    """Makes small RGB thumbnails of clips, decoding keyframes only, cached on disk.

    Thread-safe: every call opens its own decoder, and cache files appear by an atomic rename,
    so concurrent calls for one clip at worst make the same thumbnail twice.
    """

    def __init__(self, cache_dir: Path, size: tuple[int, int] = DEFAULT_SIZE) -> None:
        """Cache into ``cache_dir``; thumbnails fit in ``size`` (width, height), aspect kept."""
        width, height = size
        if width < 2 or height < 2:
            raise ValueError("thumbnail size must be at least 2x2")
        self.cache_dir = Path(cache_dir)
        self.size = (int(width), int(height))
        if self.cache_dir.is_dir():
            cleanup_temp_files(self.cache_dir, older_than=_STALE_TEMP_SECONDS)

    def cache_path(self, meta: ClipMeta) -> Path:
        """Where the thumbnail of this exact clip is cached (its content hash is in the name)."""
        width, height = self.size
        return self.cache_dir / f"{meta.event_id}.{meta.sha256}.{width}x{height}{_CACHE_SUFFIX}"

    def cached(self, meta: ClipMeta) -> np.ndarray | None:
        """The cached thumbnail, or None when there is none (or it is unreadable)."""
        path = self.cache_path(meta)
        try:
            with path.open("rb") as reader:
                data = reader.read(_MAX_CACHE_BYTES + 1)
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.debug("thumbnail cache unreadable for %s: %s", meta.event_id, exc)
            return None
        image = self._decode_png(data)
        if image is None:
            log.info("thumbnail cache entry for %s was damaged; it is made again", meta.event_id)
            with contextlib.suppress(OSError):
                path.unlink()
        return image

    def thumbnail(self, meta: ClipMeta, source: str | os.PathLike[str]) -> np.ndarray:
        """The clip's thumbnail (height x width x 3, uint8 RGB), from the cache or ``source``.

        ``source`` is the clip's file path or an http(s) URL (a presigned S3 URL, say). Raises
        :class:`ThumbnailError` when the clip cannot be read or holds no picture.
        """
        cached = self.cached(meta)
        if cached is not None:
            return cached
        image = self.extract(meta, source)
        self._store(meta, image)
        return image

    def extract(self, meta: ClipMeta, source: str | os.PathLike[str]) -> np.ndarray:
        """Decode the thumbnail from ``source`` without touching the cache."""
        target = (meta.event.timestamp - meta.window_start).total_seconds()
        target = min(max(target, 0.0), max(meta.duration, 0.0))
        location = os.fspath(source)
        remote = location.startswith(("http://", "https://"))
        options = {"protocol_whitelist": _URL_PROTOCOLS if remote else _FILE_PROTOCOLS}
        try:
            container: Any = av.open(
                location,
                "r",
                # Clips are always MP4: never let probing pick a playlist or image format.
                format="mp4",
                options=options,
                timeout=_NETWORK_TIMEOUT if remote else None,
            )
        except (av.FFmpegError, OSError) as exc:
            raise ThumbnailError(
                f"clip {meta.event_id} could not be opened ({_brief(exc)})"
            ) from None
        try:
            frame, sar = self._nearest_keyframe(container, target)
        except av.FFmpegError as exc:
            raise ThumbnailError(
                f"clip {meta.event_id} could not be decoded ({_brief(exc)})"
            ) from None
        finally:
            container.close()
        if frame is None:
            raise ThumbnailError(f"clip {meta.event_id} holds no picture")
        return self._scale(frame, sar)

    def forget(self, event_id: str) -> int:
        """Remove every cached thumbnail of an event (its clip was deleted); returns how many."""
        removed = 0
        prefix = f"{event_id}."
        try:
            entries = list(os.scandir(self.cache_dir))
        except FileNotFoundError:
            return 0
        for entry in entries:
            # Ids may hold dots, so "a." also starts the names of event "a.b": the exact tail
            # after the prefix is what tells this event's files apart.
            if entry.name.startswith(prefix) and _CACHE_TAIL.fullmatch(entry.name[len(prefix) :]):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)
                    removed += 1
        return removed

    # ---- internals -----------------------------------------------------------------------

    @staticmethod
    def _nearest_keyframe(container: Any, target: float) -> tuple[Any, Fraction | None]:
        if not container.streams.video:
            return None, None
        stream = container.streams.video[0]
        context = stream.codec_context
        context.skip_frame = "NONKEY"  # thumbnails need keyframes only: ~10x less decoding
        context.thread_type = "AUTO"
        time_base = stream.time_base or Fraction(1, 90000)
        origin = stream.start_time or 0
        with contextlib.suppress(av.FFmpegError):
            # Lands on the keyframe at or before the target; a failed seek (a server without
            # range requests) just means decoding from the start.
            container.seek(origin + int(target / time_base), stream=stream, backward=True)
        best: Any = None
        best_distance = float("inf")
        for frame in container.decode(stream):
            if frame.pts is None:
                continue
            moment = float((frame.pts - origin) * time_base)
            distance = abs(moment - target)
            if distance < best_distance:
                best, best_distance = frame, distance
            if moment >= target:
                break  # later keyframes are only further away
        return best, context.sample_aspect_ratio

    def _scale(self, frame: Any, sar: Fraction | None) -> np.ndarray:
        if not sar or sar <= 0:
            sar = Fraction(1, 1)
        width, height = fit_size(frame.width, frame.height, *self.size, Fraction(sar), even=True)
        # threads=1: a picture this small costs more to split across threads than to scale.
        scaled = frame.reformat(
            width=width, height=height, format="rgb24", interpolation="AREA", threads=1
        )
        image: np.ndarray = np.ascontiguousarray(scaled.to_ndarray(format="rgb24"))
        return image

    def _store(self, meta: ClipMeta, image: np.ndarray) -> None:
        try:
            data = _encode_png(image)
        except av.FFmpegError as exc:
            log.warning("thumbnail of %s not cached: %s", meta.event_id, _brief(exc))
            return
        destination = self.cache_path(meta)
        try:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            fd, temp = create_temp(destination)
            try:
                with os.fdopen(fd, "wb") as writer:
                    writer.write(data)
                # No fsync: a cache entry torn by a crash fails its PNG check and is remade.
                os.replace(temp, destination)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temp)
                raise
        except OSError as exc:
            log.warning("thumbnail of %s not cached: %s", meta.event_id, exc.strerror or exc)

    def _decode_png(self, data: bytes) -> np.ndarray | None:
        if len(data) > _MAX_CACHE_BYTES or not data.startswith(_PNG_SIGNATURE):
            return None
        try:
            context: Any = av.CodecContext.create("png", "r")
            frames = context.decode(av.Packet(data))
        except av.FFmpegError:
            return None
        if not frames:
            return None
        image: np.ndarray = frames[0].to_ndarray(format="rgb24")
        width, height = self.size
        if image.ndim != 3 or image.shape[0] > height or image.shape[1] > width:
            return None
        return np.ascontiguousarray(image)


def _encode_png(image: np.ndarray) -> bytes:
    context: Any = av.CodecContext.create("png", "w")
    context.width, context.height, context.pix_fmt = image.shape[1], image.shape[0], "rgb24"
    frame = av.VideoFrame.from_ndarray(image, format="rgb24")
    packets = [*context.encode(frame), *context.encode(None)]
    return b"".join(bytes(packet) for packet in packets)


def _brief(exc: BaseException) -> str:
    """A short reason without the path or URL FFmpeg errors carry in their message."""
    if isinstance(exc, av.FFmpegError):
        return str(getattr(exc, "strerror", "") or type(exc).__name__)
    if isinstance(exc, OSError):
        return str(exc.strerror or type(exc).__name__)
    return type(exc).__name__


__all__ = ["DEFAULT_SIZE", "ThumbnailError", "ThumbnailMaker"]
