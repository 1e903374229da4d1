"""Test camera: serves a live, time-stamped H.264 picture over RTSP with gst-rtsp-server."""

# Runs under Debian's system Python (python3-gi and the GStreamer packages), not the project venv:
# no NumPy and no vms_desktop import here, only the standard library and GObject introspection.

from __future__ import annotations

import argparse
import importlib.util
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

FRAMESTAMP_PATH = Path(__file__).resolve().parents[2] / "vms_desktop" / "engine" / "framestamp.py"
ROLE = "camera-user"
BACKGROUND = 128
BAR = 200
CHROMA_NEUTRAL = 128
# Distinct exit status so the launcher can tell a lost port race (worth retrying elsewhere) from a
# real failure.
EXIT_CANNOT_BIND = 3
SOURCE_REMOVE: bool = GLib.SOURCE_REMOVE
SOURCE_CONTINUE: bool = GLib.SOURCE_CONTINUE

Burn = Callable[[bytearray, int, int, int, int | None], None]


def load_burn() -> Burn:
    """``framestamp.burn``, loaded by file path because the package itself needs the venv."""
    spec = importlib.util.spec_from_file_location("framestamp", FRAMESTAMP_PATH)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load {FRAMESTAMP_PATH}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    burn: Burn = module.burn
    return burn


def round_up_4(value: int) -> int:
    """``value`` rounded up to a multiple of four, GStreamer's row alignment for raw video."""
    return (value + 3) & ~3


class Painter:
    """Makes I420 frames: a bar sweeping across grey, with the time stamp along the top."""

    def __init__(self, width: int, height: int, fps: int, burn: Burn) -> None:
        self.width = width
        self.height = height
        self._burn = burn
        self._y_stride = round_up_4(width)
        chroma_stride = round_up_4(width // 2)
        chroma_rows = height // 2
        # Everything except the bar and the stamp is constant, so it is built once and each frame
        # only costs a row copy, one C-level repetition and the stamp.
        self._background_row = bytes([BACKGROUND]) * self._y_stride
        self._bar_width = max(2, width // 16)
        self._bar = bytes([BAR]) * self._bar_width
        self._chroma = bytes([CHROMA_NEUTRAL]) * (2 * chroma_stride * chroma_rows)
        # One sweep takes about two seconds whatever the frame rate, so motion is easy to see.
        self._travel = max(1, width - self._bar_width)
        self._step = max(1, self._travel // max(1, 2 * fps))

    def frame(self, index: int, millis: int) -> bytes:
        """The picture for frame ``index``, stamped with ``millis``."""
        x = (index * self._step) % self._travel
        row = bytearray(self._background_row)
        row[x : x + self._bar_width] = self._bar
        luma = row * self.height
        self._burn(luma, self.width, self.height, millis, self._y_stride)
        return bytes(luma) + self._chroma


class FramePump(threading.Thread):
    """Pushes a new frame into every live appsrc at the frame rate, on a drift-free schedule."""

    def __init__(self, painter: Painter, fps: int) -> None:
        super().__init__(name="frame-pump", daemon=True)
        self._painter = painter
        self._period = 1.0 / fps
        self._sources: list[Any] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    def attach(self, appsrc: Any) -> None:
        """Start feeding ``appsrc``."""
        with self._lock:
            self._sources.append(appsrc)

    def detach(self, appsrc: Any) -> None:
        """Stop feeding ``appsrc``."""
        with self._lock:
            if appsrc in self._sources:
                self._sources.remove(appsrc)

    def stop(self) -> None:
        """Ask the thread to finish and wait for it."""
        self._stopping.set()
        self.join(timeout=2.0)

    def run(self) -> None:
        """Frame ``k`` is due at ``t0 + k / fps``."""
        t0 = time.monotonic()
        index = 0
        while not self._stopping.is_set():
            delay = t0 + index * self._period - time.monotonic()
            if delay > 0:
                if self._stopping.wait(delay):
                    return
            elif -delay > self._period:
                # Far behind (the process was stopped with SIGSTOP, or starved): resume at the
                # current slot instead of bursting out every missed frame with stale stamps.
                index = int((time.monotonic() - t0) / self._period)
                continue
            with self._lock:
                sources = list(self._sources)
            if sources:
                data = self._painter.frame(index, int(time.time() * 1000))
                for appsrc in sources:
                    appsrc.emit("push-buffer", Gst.Buffer.new_wrapped(data))
            index += 1


def launch_description(args: argparse.Namespace) -> str:
    """The gst-launch description of the media the factory builds for each (shared) session."""
    key_int = max(1, round(args.fps * args.gop_seconds))
    caps = f"video/x-raw,format=I420,width={args.width},height={args.height},framerate={args.fps}/1"
    # A small, old-frame-dropping queue: while the stream is blocked (between DESCRIBE and PLAY)
    # frames must not pile up and be sent later with stale stamps.
    video = (
        "appsrc name=camsrc is-live=true format=time do-timestamp=true block=false"
        f' max-buffers=2 leaky-type=downstream caps="{caps}"'
        f" ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max={key_int} bframes=0"
        # One thread means one slice per picture, like a typical camera. With zerolatency's
        # sliced threads FFmpeg's RTSP client splits the session's first key picture into two
        # frames, and everything predicted from them until the next key frame is garbled.
        " threads=1 byte-stream=true"
        # SPS/PPS with every key frame, so clients joining the shared stream late can decode.
        " ! rtph264pay name=pay0 pt=96 config-interval=-1"
    )
    # 10 ms audio buffers: the media's latency is that of its slowest branch, so big tone
    # buffers would delay the video too.
    audio = (
        " audiotestsrc name=tone is-live=true samplesperbuffer=480 wave=sine freq=440 volume=0.2"
        " ! audioconvert ! audio/x-raw,format=S16LE,rate=48000,channels=1 ! voaacenc bitrate=64000"
        " ! rtpmp4gpay name=pay1 pt=97"
    )
    return f"( {video}{audio if args.audio else ''} )"


def refuse_seeking(_pad: Any, info: Any) -> Any:
    """Pad probe that answers seeking queries for the tone source with "not seekable".

    audiotestsrc claims to be seekable even when live, so the media would try to honour the
    ``Range: npt=0.000-`` that FFmpeg sends with PLAY, the seek fails on the appsrc branch and the
    server answers 503. A fresh seeking query already says "not seekable" and the probe cannot
    write to it (not writable from Python), so handling it unchanged is the answer.
    """
    query = info.get_query()
    if query is not None and query.type == Gst.QueryType.SEEKING:
        return Gst.PadProbeReturn.HANDLED
    return Gst.PadProbeReturn.OK


def build_server(args: argparse.Namespace, pump: FramePump) -> Any:
    """An RTSP server on 127.0.0.1 with one Basic-auth protected, shared mount."""
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(launch_description(args))
    factory.set_shared(True)
    factory.add_role_from_structure(
        Gst.Structure.new_from_string(
            f"{ROLE}, media.factory.access=(boolean)true, media.factory.construct=(boolean)true"
        )
    )

    def on_media_configure(_factory: Any, media: Any) -> None:
        appsrc = media.get_element().get_by_name("camsrc")
        pump.attach(appsrc)
        tone = media.get_element().get_by_name("tone")
        if tone is not None:
            tone.get_static_pad("src").add_probe(Gst.PadProbeType.QUERY_UPSTREAM, refuse_seeking)
        media.connect("unprepared", lambda _media: pump.detach(appsrc))

    factory.connect("media-configure", on_media_configure)

    token = GstRtspServer.RTSPToken()
    token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, ROLE)
    auth = GstRtspServer.RTSPAuth()
    auth.add_basic(GstRtspServer.RTSPAuth.make_basic(args.user, args.password), token)

    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    server.set_auth(auth)
    server.get_mount_points().add_factory(args.path, factory)
    return server


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--fps", type=int, default=15)
    parser.add_argument("--gop-seconds", type=float, default=2.0)
    parser.add_argument("--audio", action="store_true")
    parser.add_argument("--path", default="/stream")
    args = parser.parse_args(argv)
    if args.width < 16 or args.height < 16 or args.width % 2 or args.height % 2:
        parser.error("width and height must be even and at least 16 (4:2:0 video)")
    if args.fps < 1 or args.gop_seconds <= 0:
        parser.error("fps and gop-seconds must be positive")
    if not args.path.startswith("/"):
        parser.error("--path must start with /")
    return args


def main(argv: list[str]) -> int:
    """Serve until SIGTERM or SIGINT."""
    args = parse_args(argv)
    Gst.init(None)
    pump = FramePump(Painter(args.width, args.height, args.fps, load_burn()), args.fps)
    server = build_server(args, pump)
    loop = GLib.MainLoop()

    def quit_loop() -> bool:
        loop.quit()
        return SOURCE_REMOVE

    for signum in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_HIGH, signum, quit_loop)

    # A test run that dies without stopping its camera must not leave the server behind: when the
    # parent goes away this process is re-parented, which changes its parent pid.
    parent = os.getppid()

    def quit_if_orphaned() -> bool:
        if os.getppid() != parent:
            return quit_loop()
        return SOURCE_CONTINUE

    GLib.timeout_add_seconds(1, quit_if_orphaned)

    if server.attach(None) == 0:
        print(f"cannot listen on 127.0.0.1:{args.port}", file=sys.stderr, flush=True)
        return EXIT_CANNOT_BIND
    pump.start()
    print(f"READY {server.get_bound_port()}", flush=True)
    try:
        loop.run()
    finally:
        pump.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
