"""Thumbnails: the keyframe nearest the event, aspect kept, cached by content, read over HTTP."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from tests.support.factories import clip_record
from tests.support.ports import free_port
from vms_desktop.domain.clip import ClipMeta
from vms_desktop.domain.errors import ThumbnailError
from vms_desktop.engine.thumbnails import ThumbnailMaker
from vms_desktop.runtime import Runtime, build_runtime
from vms_desktop.settings import load_settings

FPS = 15
EVENT_OFFSET = 2.0  # the clip builder puts the event frame at offset ``pre``


def frame_color(index: int) -> tuple[int, int, int]:
    """A colour unique to each frame, so a thumbnail tells which frame it was taken from."""
    return (20 + 2 * index) % 256, 200 - index % 150, 90


def write_clip(
    path: Path, *, seconds: float = 6.0, width: int = 320, height: int = 240, gop: int = FPS
) -> Path:
    """A real H.264 MP4 (+faststart) whose frame ``k`` is filled with ``frame_color(k)``."""
    with av.open(str(path), "w", format="mp4", options={"movflags": "+faststart"}) as out:
        stream = out.add_stream("libx264", rate=FPS, options={"preset": "ultrafast", "g": str(gop)})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for index in range(round(seconds * FPS)):
            picture = np.empty((height, width, 3), np.uint8)
            picture[:] = frame_color(index)
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            frame.pts = index
            frame.time_base = Fraction(1, FPS)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def meta_for(
    path: Path,
    event_id: str,
    *,
    camera_id: str = "cam01",
    event_type: str = "motion",
    timestamp: datetime | None = None,
    event_offset: float = EVENT_OFFSET,
    seconds: float = 6.0,
    width: int = 320,
    height: int = 240,
) -> ClipMeta:
    """The metadata the clip service would record for ``path`` (times in whole milliseconds)."""
    moment = _whole_ms(timestamp or datetime(2025, 5, 31, 10, 30, tzinfo=UTC))
    pre = timedelta(seconds=event_offset)
    return clip_record(
        event_id,
        camera_id=camera_id,
        event_type=event_type,
        at=moment,
        pre=pre,
        post=timedelta(seconds=seconds) - pre,
        data=path.read_bytes(),
        created_at=_whole_ms(datetime.now(UTC)),
        fps=FPS,
        width=width,
        height=height,
    )


def _whole_ms(moment: datetime) -> datetime:
    # Stored metadata keeps milliseconds, so a record read back compares equal.
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def assert_color(image: np.ndarray, expected: tuple[int, int, int]) -> None:
    middle = image[image.shape[0] // 2, image.shape[1] // 2].astype(int)
    assert np.abs(middle - np.array(expected)).max() <= 4, (middle, expected)


@pytest.fixture(scope="module")
def clip_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_clip(tmp_path_factory.mktemp("clips") / "clip.mp4")


@pytest.mark.parametrize(
    ("offset", "keyframe"),
    [(2.2, 30), (2.8, 45), (0.0, 0), (2.0, 30), (5.9, 75)],
)
def test_the_keyframe_nearest_the_event_is_taken(
    tmp_path: Path, clip_file: Path, offset: float, keyframe: int
) -> None:
    maker = ThumbnailMaker(tmp_path / "cache")
    meta = meta_for(clip_file, "e1", event_offset=offset)
    image = maker.thumbnail(meta, clip_file)
    assert image.dtype == np.uint8 and image.shape == (120, 160, 3)
    # Keyframes are one second apart: the event frame itself (a non-key frame) is not used.
    assert_color(image, frame_color(keyframe))


def test_aspect_is_kept(tmp_path: Path) -> None:
    wide = write_clip(tmp_path / "wide.mp4", seconds=2, width=640, height=360)
    maker = ThumbnailMaker(tmp_path / "cache")
    image = maker.thumbnail(meta_for(wide, "wide", seconds=2, event_offset=1.0), wide)
    assert image.shape == (90, 160, 3)
    tall = ThumbnailMaker(tmp_path / "cache", size=(64, 200))
    assert tall.thumbnail(meta_for(wide, "wide", seconds=2), wide).shape == (36, 64, 3)


def test_keyframe_decoding_is_fast_on_a_long_clip(tmp_path: Path) -> None:
    # 60 s at 15 fps with a keyframe a second: 900 frames, of which ~1 is decoded.
    long_clip = write_clip(tmp_path / "long.mp4", seconds=60, width=640, height=480)
    maker = ThumbnailMaker(tmp_path / "cache")
    meta = meta_for(long_clip, "long", seconds=60, event_offset=40.3)
    began = time.perf_counter()
    image = maker.extract(meta, long_clip)
    elapsed = time.perf_counter() - began
    print(f"\nthumbnail of a 60 s 640x480 clip: {elapsed * 1000:.1f} ms")
    assert_color(image, frame_color(40 * FPS))
    assert elapsed < 1.0


def test_the_cache_is_keyed_by_event_and_content(tmp_path: Path, clip_file: Path) -> None:
    cache = tmp_path / "cache"
    maker = ThumbnailMaker(cache)
    source = tmp_path / "source.mp4"
    source.write_bytes(clip_file.read_bytes())
    meta = meta_for(source, "e1.x")
    first = maker.thumbnail(meta, source)
    path = maker.cache_path(meta)
    assert path.name == f"e1.x.{meta.sha256}.160x120.png"
    assert path.read_bytes().startswith(b"\x89PNG")
    assert [p.name for p in cache.iterdir()] == [path.name]  # no temp file left

    source.unlink()
    again = maker.thumbnail(meta, source)  # served from the cache: the source is gone
    assert np.array_equal(first, again)

    changed = meta_for(clip_file, "e1.x", event_offset=4.0)
    changed = ClipMeta(**{**changed.__dict__, "sha256": "f" * 64})
    with pytest.raises(ThumbnailError):
        maker.thumbnail(changed, source)  # other content: the old entry is not used


def test_a_damaged_cache_entry_is_made_again(tmp_path: Path, clip_file: Path) -> None:
    maker = ThumbnailMaker(tmp_path / "cache")
    meta = meta_for(clip_file, "e2")
    expected = maker.thumbnail(meta, clip_file)
    path = maker.cache_path(meta)
    path.write_bytes(path.read_bytes()[:40])  # torn write
    assert maker.cached(meta) is None
    assert not path.exists()
    assert np.array_equal(maker.thumbnail(meta, clip_file), expected)
    path.write_bytes(b"not a png at all")
    assert np.array_equal(maker.thumbnail(meta, clip_file), expected)


def test_forget_removes_only_that_events_entries(tmp_path: Path, clip_file: Path) -> None:
    maker = ThumbnailMaker(tmp_path / "cache")
    small = ThumbnailMaker(tmp_path / "cache", size=(80, 60))
    for event_id in ("a", "a.b", f"a.{'0' * 64}", "ab"):
        maker.thumbnail(meta_for(clip_file, event_id), clip_file)
    small.thumbnail(meta_for(clip_file, "a"), clip_file)
    assert maker.forget("a") == 2
    assert len(list(maker.cache_dir.iterdir())) == 3
    assert maker.cached(meta_for(clip_file, "a.b")) is not None
    assert maker.cached(meta_for(clip_file, f"a.{'0' * 64}")) is not None
    assert maker.cached(meta_for(clip_file, "a")) is None


def test_unreadable_sources_raise_a_readable_error(tmp_path: Path, clip_file: Path) -> None:
    maker = ThumbnailMaker(tmp_path / "cache")
    missing = tmp_path / "secret-folder" / "gone.mp4"
    with pytest.raises(ThumbnailError) as caught:
        maker.thumbnail(meta_for(clip_file, "gone"), missing)
    assert "secret-folder" not in str(caught.value) and "gone" in str(caught.value)
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(os.urandom(4096))
    with pytest.raises(ThumbnailError):
        maker.thumbnail(meta_for(clip_file, "garbage"), garbage)
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())


def test_a_playlist_disguised_as_a_clip_is_not_followed(tmp_path: Path, clip_file: Path) -> None:
    # An HLS playlist would make the demuxer open whatever it names (a local file here).
    playlist = tmp_path / "evil.mp4"
    playlist.write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXTINF:6,\n{clip_file}\n")
    with pytest.raises(ThumbnailError):
        ThumbnailMaker(tmp_path / "cache").thumbnail(meta_for(clip_file, "evil"), playlist)


@pytest.fixture
def served_runtime(tmp_path: Path) -> Iterator[Runtime]:
    """A runtime whose embedded server serves local clips at signed URLs."""
    settings = load_settings(
        env_files=[],
        environ={
            "CAMERA_CAM01_URL": "demo://?width=320&height=240",
            "LOCAL_STORAGE_PATH": str(tmp_path / "clips"),
            "BUFFER_PATH": str(tmp_path / "buffer"),
            "STATE_PATH": str(tmp_path / "state"),
            "API_PORT": str(free_port()),
        },
    )
    runtime = build_runtime(settings)
    runtime.start(with_api=True)
    try:
        yield runtime
    finally:
        runtime.stop()


def test_a_clip_is_read_from_a_signed_url(
    tmp_path: Path, clip_file: Path, served_runtime: Runtime
) -> None:
    upload = tmp_path / "upload.mp4"
    upload.write_bytes(clip_file.read_bytes())
    meta = meta_for(upload, "http-1", event_offset=2.8)
    served_runtime.store.put(meta, upload)
    served_runtime.index.upsert(meta)
    url = served_runtime.service.url("http-1", timedelta(minutes=5)).url
    assert url.startswith("http://127.0.0.1:")

    maker = ThumbnailMaker(tmp_path / "cache")
    began = time.perf_counter()
    image = maker.thumbnail(meta, url)
    print(f"\nthumbnail over HTTP: {(time.perf_counter() - began) * 1000:.1f} ms")
    assert_color(image, frame_color(45))

    tampered = url.replace("signature=", "signature=0")
    with pytest.raises(ThumbnailError) as caught:
        maker.extract(meta, tampered)
    assert "127.0.0.1" not in str(caught.value)
