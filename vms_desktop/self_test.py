"""``--self-test``: runs the whole application once on the demo camera and reports every check."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import socket
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from vms_desktop.__version__ import __version__
from vms_desktop.resource_files import (
    ICON_SIZES,
    app_root,
    env_example_path,
    icon_path,
    is_frozen,
    license_path,
    notices_path,
    resource_path,
)
from vms_desktop.runtime import Runtime, build_runtime
from vms_desktop.settings import DEMO_CAMERA_ID, Settings, SettingsError, load_settings

PRE_SECONDS = 2
POST_SECONDS = 2
CLIP_FPS = 15
# The demo camera is 16:9, so a 16:9 clip has no padding and the stamp fills the top strip.
CLIP_SIZE = (640, 360)
RECORDING_TIMEOUT = 30.0
CLIP_TIMEOUT = 60.0
GUI_CHECK = "GUI offscreen: open, live picture, close"
LIVE_TIMEOUT = 20.0
# The demo camera stamps each picture with the time it stands for; the picture shown at the
# event's moment may be up to one frame early, plus the encoder's rounding.
STAMP_TOLERANCE_MS = 1000 / CLIP_FPS + 40


class CheckFailed(Exception):
    """A check found something wrong (its message says what)."""


@dataclass
class CheckResult:
    """One line of the report."""

    name: str
    ok: bool | None  # None: not run, because an earlier check it needs failed
    detail: str
    seconds: float


@dataclass
class SelfTest:
    """The checks, run in order; a check that needs an earlier one is not run if that failed."""

    out: TextIO
    with_gui: bool = True
    results: list[CheckResult] = field(default_factory=list)
    runtime: Runtime | None = None
    settings: Settings | None = None
    event_id: str = ""
    moment: datetime | None = None
    clip_sha256: str = ""
    clip_bytes: bytes = b""

    def run(self) -> int:
        """Run every check, print the report; 0 only if every check passed."""
        self._print_header()
        workdir = Path(tempfile.mkdtemp(prefix="vms_desktop-self-test-"))
        # Each check with the one it needs (None: runs regardless).
        steps: list[tuple[str, Callable[[], str], str | None]] = [
            ("resources", self.check_resources, None),
            ("user configuration", self.check_user_configuration, None),
            ("service start", lambda: self.start_service(workdir), None),
            ("demo camera recording", self.wait_for_recording, "service start"),
            ("HTTP API", self.check_api, "demo camera recording"),
            ("clip generated via HTTP", self.generate_clip, "HTTP API"),
            ("clip download and SHA-256", self.download_and_verify, "clip generated via HTTP"),
            ("clip decodes as H.264 MP4", self.decode_clip, "clip download and SHA-256"),
        ]
        if self.with_gui:
            steps.append((GUI_CHECK, self.check_gui, "demo camera recording"))
        passed: set[str] = set()
        try:
            for name, action, needs in steps:
                if needs is not None and needs not in passed:
                    self.skip(name)
                elif self.check(name, action):
                    passed.add(name)
        finally:
            if self.runtime is not None:
                self.check("service stop", self.stop_service)
            shutil.rmtree(workdir, ignore_errors=True)
        if not self.with_gui:
            self._print("GUI not checked (--headless)")
        good = sum(1 for r in self.results if r.ok)
        verdict = "PASSED" if good == len(self.results) else "FAILED"
        self._print(f"self-test {verdict}: {good} of {len(self.results)} checks passed")
        return 0 if verdict == "PASSED" else 1

    # ---- reporting -------------------------------------------------------------------------

    def check(self, name: str, action: Callable[[], str]) -> bool:
        """Run one check, record and print its result."""
        started = time.monotonic()
        try:
            detail = action()
            ok = True
        except CheckFailed as exc:
            detail, ok = str(exc), False
        except Exception as exc:  # a self-test reports every failure instead of stopping
            detail, ok = f"{type(exc).__name__}: {exc}", False
            traceback.print_exc(file=sys.stderr)
        # One line per check, whatever the message looked like.
        detail = " ".join(detail.split())
        result = CheckResult(name, ok, detail, time.monotonic() - started)
        self.results.append(result)
        self._print(f"{'PASS' if ok else 'FAIL'}  {name} ({result.seconds:.1f} s): {detail}")
        return ok

    def skip(self, name: str) -> None:
        """Record a check that could not run because one it needs failed."""
        self.results.append(CheckResult(name, None, "not run", 0.0))
        self._print(f"SKIP  {name}: not run (a check it needs failed)")

    def _print(self, line: str) -> None:
        print(line, file=self.out, flush=True)

    def _print_header(self) -> None:
        import av

        where = "bundle" if is_frozen() else "source"
        self._print(f"vms-desktop {__version__} self-test ({where}: {app_root()})")
        self._print(
            f"Python {sys.version.split()[0]}, PyAV {av.__version__}, "
            f"FFmpeg {av.ffmpeg_version_info}"
        )

    # ---- the checks ------------------------------------------------------------------------

    def check_resources(self) -> str:
        """The theme, icons, licences and ``.env.example`` are where the app looks for them."""
        wanted = [
            resource_path("dark.qss"),
            *(icon_path(size) for size in ICON_SIZES),
            env_example_path(),
            license_path(),
            notices_path(),
        ]
        missing = [str(path) for path in wanted if not path.is_file()]
        if missing:
            raise CheckFailed(f"missing: {', '.join(missing)}")
        try:
            load_settings([env_example_path()], {})
        except SettingsError as exc:
            raise CheckFailed(f".env.example does not load: {exc}") from None
        return f"{len(wanted)} files found; .env.example loads"

    def check_user_configuration(self) -> str:
        """The configuration the app would start with loads (process environment, .env files)."""
        from vms_desktop.settings import default_env_files

        files = [str(path) for path in default_env_files() if path.is_file()]
        try:
            settings = load_settings()
        except SettingsError as exc:
            raise CheckFailed(str(exc)) from None
        cameras = len(settings.active_cameras)
        read = ", ".join(files) if files else "no .env file found (defaults)"
        return f"{read}; {cameras} camera(s), {settings.video_storage_type} storage"

    def start_service(self, workdir: Path) -> str:
        """Start engine, clip service and API on the demo camera, in a scratch folder."""
        environ = {
            "DEMO_CAMERA": "on",
            "VIDEO_STORAGE_TYPE": "local",
            "LOCAL_STORAGE_PATH": str(workdir / "clips"),
            "BUFFER_PATH": str(workdir / "buffer"),
            "STATE_PATH": str(workdir / "state"),
            "API_HOST": "127.0.0.1",
            "API_PORT": str(_free_port()),
            "API_TOKEN": secrets.token_urlsafe(24),
            "PRE_EVENT_BUFFER_SECONDS": str(PRE_SECONDS),
            "POST_EVENT_BUFFER_SECONDS": str(POST_SECONDS),
            "CLIP_DURATION_SECONDS": str(PRE_SECONDS + POST_SECONDS),
            "CLIP_FPS": str(CLIP_FPS),
            "CLIP_RESOLUTION": "{},{}".format(*CLIP_SIZE),
            "LOG_LEVEL": "WARNING",
        }
        # The user's own .env and cameras are left out: the self-test must neither record real
        # cameras nor write into the user's clip library.
        self.settings = load_settings([], environ)
        self.runtime = build_runtime(self.settings)
        self.runtime.start()
        assert self.runtime.api is not None
        return f"API on {self.runtime.api.base_url}, scratch folder {workdir}"

    def wait_for_recording(self) -> str:
        """The demo camera records and its buffer holds the pre-event seconds."""
        recorder = self._runtime().recorder
        deadline = time.monotonic() + RECORDING_TIMEOUT
        while time.monotonic() < deadline:
            buffered = recorder.buffer(DEMO_CAMERA_ID)
            oldest, newest = buffered.oldest, buffered.newest
            if oldest is not None and newest is not None and newest - oldest >= PRE_SECONDS + 0.5:
                state = recorder.status()[0].state.value
                return f"camera {DEMO_CAMERA_ID!r} {state}, {newest - oldest:.1f} s buffered"
            time.sleep(0.1)
        statuses = "; ".join(
            f"{s.camera_id}: {s.state.value} {s.reason or ''}" for s in recorder.status()
        )
        raise CheckFailed(f"no footage after {RECORDING_TIMEOUT:.0f} s ({statuses})")

    def check_api(self) -> str:
        """``/health`` answers without a token; other endpoints refuse a request without one."""
        status, body = self._request("GET", "/health", token=False)
        if status != 200:
            raise CheckFailed(f"GET /health answered {status}")
        status, _ = self._request("GET", "/clips", token=False)
        if status != 401:
            raise CheckFailed(f"GET /clips without the token answered {status}, not 401")
        status, cameras = self._request("GET", "/cameras")
        if status != 200 or not any(c.get("id") == DEMO_CAMERA_ID for c in cameras):
            raise CheckFailed(f"GET /cameras answered {status} without the demo camera")
        return f"health {body.get('status')}, token required, /cameras lists {DEMO_CAMERA_ID!r}"

    def generate_clip(self) -> str:
        """``POST /clips/generate`` for an event now; the clip is ready within a minute."""
        moment = datetime.now(UTC)
        self.event_id = f"self-test-{moment:%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"
        self.moment = moment
        event = {
            "id": self.event_id,
            "camera_id": DEMO_CAMERA_ID,
            "event_type": "self_test",
            "timestamp": moment.isoformat().replace("+00:00", "Z"),
        }
        status, job = self._request(
            "POST", f"/clips/generate?wait={CLIP_TIMEOUT:.0f}", {"event": event}
        )
        if status != 200 or job.get("status") != "ready" or not job.get("clip"):
            raise CheckFailed(f"answered {status}: {json.dumps(job)[:300]}")
        clip = job["clip"]
        self.clip_sha256 = clip["sha256"]
        return (
            f"event {self.event_id}: {clip['duration_seconds']:.1f} s, {clip['resolution']}, "
            f"{clip['size_bytes']} bytes"
        )

    def download_and_verify(self) -> str:
        """The clip's URL serves bytes whose SHA-256 is the one the API reported."""
        status, link = self._request("GET", f"/clips/{self.event_id}/url")
        if status != 200:
            raise CheckFailed(f"GET /clips/{self.event_id}/url answered {status}")
        with urllib.request.urlopen(link["url"], timeout=30) as response:
            data = response.read()
        self.clip_bytes = data
        digest = hashlib.sha256(data).hexdigest()
        if digest != self.clip_sha256:
            raise CheckFailed(f"downloaded SHA-256 {digest} is not {self.clip_sha256}")
        return f"{len(data)} bytes, SHA-256 {digest[:16]}... matches"

    def decode_clip(self) -> str:
        """Every picture decodes; size, rate, length and the event's moment are right."""
        import io

        import av

        from vms_desktop.engine import framestamp

        with av.open(io.BytesIO(self.clip_bytes), mode="r", format="mp4") as container:
            video = container.streams.video[0]
            codec = video.codec_context.name
            frames = [frame.to_ndarray(format="gray") for frame in container.decode(video)]
            size = (video.codec_context.width, video.codec_context.height)
        if codec != "h264":
            raise CheckFailed(f"codec is {codec}, not h264")
        if size != CLIP_SIZE:
            raise CheckFailed(f"size is {size[0]}x{size[1]}, not {CLIP_SIZE[0]}x{CLIP_SIZE[1]}")
        expected = (PRE_SECONDS + POST_SECONDS) * CLIP_FPS
        if abs(len(frames) - expected) > 1:
            raise CheckFailed(f"{len(frames)} pictures, expected {expected}")
        stamp = framestamp.read(frames[PRE_SECONDS * CLIP_FPS])
        if stamp is None:
            raise CheckFailed("the picture at the event's moment carries no demo-camera stamp")
        assert self.moment is not None
        offset = stamp - self.moment.timestamp() * 1000
        if not -STAMP_TOLERANCE_MS <= offset <= 1:
            raise CheckFailed(f"the picture at {PRE_SECONDS} s is {offset:+.0f} ms off the event")
        return (
            f"{codec} {size[0]}x{size[1]}, {len(frames)} pictures, the picture at "
            f"{PRE_SECONDS} s is the event's moment ({offset:+.0f} ms)"
        )

    def check_gui(self) -> str:
        """The console opens offscreen, shows the demo camera live, lists the clip and closes."""
        from vms_desktop.gui.self_check import open_and_close_console

        runtime = self._runtime()
        with _offscreen_qt():
            return open_and_close_console(
                runtime.console,
                DEMO_CAMERA_ID,
                self.event_id if self.clip_sha256 else "",
                LIVE_TIMEOUT,
            )

    def stop_service(self) -> str:
        """Everything stops in order."""
        runtime = self._runtime()
        self.runtime = None
        started = time.monotonic()
        runtime.stop()
        return f"stopped in {time.monotonic() - started:.1f} s"

    # ---- helpers ---------------------------------------------------------------------------

    def _runtime(self) -> Runtime:
        if self.runtime is None:
            raise CheckFailed("the service is not running")
        return self.runtime

    def _request(
        self, method: str, path: str, body: object = None, *, token: bool = True
    ) -> tuple[int, Any]:
        runtime = self._runtime()
        assert runtime.api is not None and self.settings is not None
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if token and self.settings.api_token is not None:
            headers["Authorization"] = f"Bearer {self.settings.api_token.get_secret_value()}"
        request = urllib.request.Request(
            runtime.api.base_url + path, data=data, headers=headers, method=method
        )
        try:
            with urllib.request.urlopen(request, timeout=CLIP_TIMEOUT + 30) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            payload = exc.read()
            try:
                return exc.code, json.loads(payload or b"null")
            except ValueError:
                return exc.code, payload.decode(errors="replace")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def _offscreen_qt() -> Iterator[None]:
    """Qt draws into memory for the duration: the self-test never shows a window."""
    saved = os.environ.get("QT_QPA_PLATFORM")
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("QT_QPA_PLATFORM", None)
        else:
            os.environ["QT_QPA_PLATFORM"] = saved


def run_self_test(*, with_gui: bool = True, out: TextIO | None = None) -> int:
    """Entry point of ``vms-desktop --self-test``."""
    return SelfTest(out or sys.stdout, with_gui=with_gui).run()
