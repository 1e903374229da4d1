"""ClipReader: frame-exact random access, cheap stepping, HTTP sources and readable failures."""

from __future__ import annotations

import contextlib
import http.server
import random
import re
import threading
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from tests.support.media import make_camera_file
from vms_desktop.domain.errors import PlaybackError
from vms_desktop.engine import framestamp
from vms_desktop.engine.playback import ClipReader

FPS = 15
SECONDS = 6.0
FRAMES = round(FPS * SECONDS)


def expected_stamp(index: int) -> int:
    """Frame k of a file made with ``start=0.0`` is stamped k/15 s, in milliseconds."""
    return round(index * 1000 / FPS)


def stamp_of_rgb(rgb: np.ndarray) -> int | None:
    luma = rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return framestamp.read(luma)


def transcode_to_mp4(source: Path, target: Path) -> Path:
    """The clip format: MP4, H.264, a keyframe a second, +faststart."""
    with (
        av.open(str(source)) as inp,
        av.open(str(target), "w", format="mp4", options={"movflags": "+faststart"}) as out,
    ):
        encoder = out.add_stream("libx264", rate=FPS, options={"preset": "ultrafast", "g": "15"})
        encoder.width, encoder.height, encoder.pix_fmt = 640, 480, "yuv420p"
        encoder.time_base = Fraction(1, FPS)
        for index, frame in enumerate(inp.decode(inp.streams.video[0])):
            frame.pict_type = av.video.frame.PictureType.NONE
            frame.pts, frame.time_base = index, Fraction(1, FPS)
            for packet in encoder.encode(frame):
                out.mux(packet)
        for packet in encoder.encode(None):
            out.mux(packet)
    return target


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("playback")


@pytest.fixture(scope="module")
def ts_clip(clip_dir: Path) -> Path:
    """6 s of stamped 640x480 15 fps H.264 in MPEG-TS, 2 s GOP (seeks land late in TS)."""
    return make_camera_file(clip_dir / "clip.ts", seconds=SECONDS, start=0.0)


@pytest.fixture(scope="module")
def mp4_clip(clip_dir: Path, ts_clip: Path) -> Path:
    return transcode_to_mp4(ts_clip, clip_dir / "clip.mp4")


@pytest.fixture(params=["ts", "mp4"])
def clip(request: pytest.FixtureRequest, ts_clip: Path, mp4_clip: Path) -> Path:
    return ts_clip if request.param == "ts" else mp4_clip


class _RangeHandler(http.server.BaseHTTPRequestHandler):
    """Serves files with byte ranges, as the clip server and S3 do (players seek with them)."""

    root = Path()

    def do_GET(self) -> None:
        path = self.root / self.path.lstrip("/")
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        match = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        if match:
            first = int(match.group(1))
            last = int(match.group(2)) if match.group(2) else len(data) - 1
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {first}-{last}/{len(data)}")
            body = data[first : last + 1]
        else:
            self.send_response(200)
            body = data
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        # A player seeks by dropping a connection mid-body.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def http_root(clip_dir: Path, ts_clip: Path, mp4_clip: Path) -> Iterator[str]:
    handler = type("Handler", (_RangeHandler,), {"root": clip_dir})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_a_clip_reports_its_rate_length_and_size(clip: Path) -> None:
    with ClipReader(str(clip)) as reader:
        assert reader.fps == FPS
        assert reader.frame_count == FRAMES
        assert reader.duration == pytest.approx(SECONDS)
        assert reader.size == (640, 480)
        assert reader.display_aspect == pytest.approx(4 / 3)


def test_frame_at_returns_exactly_the_frame_asked_for_in_any_order(clip: Path) -> None:
    rng = random.Random(7)
    order = [rng.randrange(FRAMES) for _ in range(40)]
    order += [FRAMES - 1, 0, FRAMES - 1, 44, 45, 29, 30, 31, 30, 29]
    with ClipReader(str(clip)) as reader:
        for index in order:
            frame = reader.frame_at(index)
            assert frame.index == index
            assert stamp_of_rgb(frame.rgb) == expected_stamp(index), f"asked for {index}"
            assert frame.pts_seconds == pytest.approx(index / FPS, abs=1e-3)
            assert frame.rgb.shape == (480, 640, 3)
            assert frame.rgb.dtype == np.uint8


def test_stepping_forward_never_seeks_and_stepping_back_seeks_once_per_gop(
    clip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with ClipReader(str(clip)) as reader:
        seeks: list[int] = []
        real_seek = reader._seek

        def counted_seek(index: int) -> None:
            seeks.append(index)
            real_seek(index)

        monkeypatch.setattr(reader, "_seek", counted_seek)

        shown: list[int | None] = []
        while (frame := reader.next_frame()) is not None:
            shown.append(stamp_of_rgb(frame.rgb))
        assert shown == [expected_stamp(i) for i in range(FRAMES)]
        assert seeks == []

        for index in range(FRAMES - 2, -1, -1):
            frame = reader.frame_at(index)
            assert (frame.index, stamp_of_rgb(frame.rgb)) == (index, expected_stamp(index))
        # One seek per GOP stepped into (2 s in the TS file, 1 s in the MP4), not one per frame.
        assert 0 < len(seeks) <= FRAMES // 15 + 1


def test_frames_come_at_the_target_size(clip: Path) -> None:
    with ClipReader(str(clip), target_size=(320, 240)) as reader:
        frame = reader.frame_at(50)
        assert frame.rgb.shape == (240, 320, 3)
        assert stamp_of_rgb(frame.rgb) == expected_stamp(50)
        reader.target_size = (160, 120)
        assert reader.frame_at(50).rgb.shape == (120, 160, 3)


@pytest.mark.parametrize("name", ["clip.ts", "clip.mp4"])
def test_a_clip_plays_from_an_http_url(http_root: str, name: str) -> None:
    with ClipReader(f"{http_root}/{name}") as reader:
        assert (reader.fps, reader.frame_count) == (FPS, FRAMES)
        for index in (70, 3, 52, 51, 50, 89, 0):
            frame = reader.frame_at(index)
            assert (frame.index, stamp_of_rgb(frame.rgb)) == (index, expected_stamp(index))


def test_the_reader_can_be_used_from_a_worker_thread_and_closed_from_another(
    ts_clip: Path,
) -> None:
    reader = ClipReader(str(ts_clip))
    results: list[int] = []
    failures: list[BaseException] = []

    def work() -> None:
        try:
            for index in range(FRAMES - 1, -1, -7):
                results.append(reader.frame_at(index).index)
        except BaseException as exc:
            failures.append(exc)

    worker = threading.Thread(target=work)
    worker.start()
    worker.join()
    assert not failures
    assert results == list(range(FRAMES - 1, -1, -7))
    reader.close()
    with pytest.raises(PlaybackError, match="closed"):
        reader.frame_at(0)
    reader.close()  # closing twice is harmless


def test_indexes_outside_the_clip_are_refused(ts_clip: Path) -> None:
    with ClipReader(str(ts_clip)) as reader:
        with pytest.raises(IndexError):
            reader.frame_at(FRAMES)
        with pytest.raises(IndexError):
            reader.frame_at(-1)


def test_bad_sources_give_readable_errors(tmp_path: Path, http_root: str) -> None:
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(random.Random(3).randbytes(200_000))
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    cases = {
        str(tmp_path / "missing.mp4"): "clip not found: missing.mp4",
        str(garbage): "garbage.mp4",
        str(empty): "empty.mp4",
        "rtsp://camera/stream": "unsupported clip source",
        "concat:/etc/passwd": "unsupported clip source",
        f"{http_root}/missing.mp4?X-Amz-Signature=secret": "404",
    }
    for source, expected in cases.items():
        with pytest.raises(PlaybackError) as caught:
            ClipReader(source, timeout=5)
        message = str(caught.value)
        assert expected in message
        assert "secret" not in message and "Traceback" not in message
