"""Scripted real use: ``python -m vms_desktop`` under Xvfb, with a detector and an operator.

The application is started exactly as a user starts it (the real entry point, its logging, its
threads and settings from the environment) with demo cameras. While it runs:

- a detector posts events over HTTP, with windows in the past, around now and in the future, and
  polls clips, links and listings the way an integration does;
- an operator works the window with real X input (xdotool): marks events with F9, switches grid
  layouts, scrolls the clip library (so thumbnails are made), plays clips from the library and
  from the event feed;
- ``/health`` is asked twice a second (in the console it is answered on the GUI thread's loop,
  so its latency is the window's responsiveness), and the process's memory, descriptors and
  threads are sampled.

At the end every accepted event must have a clip or a recorded failure, the application must stop
cleanly on SIGTERM, and its log must hold no stall, no stack dump and no traceback.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from tests.support.app import app_environment
from tests.support.ports import free_port
from tests.support.waiting import wait_until
from tests.support.xvfb import XvfbDisplay

_LOOP_LINE = re.compile(
    r"event loop over (?P<seconds>\d+) s: lag p50 (?P<p50>\d+) ms, p99 (?P<p99>\d+) ms, "
    r"max (?P<max>\d+) ms, (?P<stalls>\d+) stalls"
)
_EVENT_TYPES = ("motion", "person", "vehicle", "line crossing")


@dataclass(frozen=True)
class SoakOptions:
    """How long and how hard the scripted use runs."""

    seconds: float
    cameras: int = 4
    console: bool = True
    event_every: float = 3.0
    operator_every: float = 2.5
    sample_every: float = 5.0
    warmup: float = 60.0
    pre_seconds: int = 3
    post_seconds: int = 3
    seed: int = 20261203


@dataclass(frozen=True)
class Sample:
    """The application process at one moment."""

    at: float  # seconds since start
    rss_mb: float
    fds: int
    threads: int


@dataclass
class SoakReport:
    """What the run measured."""

    options: SoakOptions
    seconds: float = 0.0
    events: list[str] = field(default_factory=list)
    ready: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    unfinished: list[str] = field(default_factory=list)
    operator_clips: int = 0
    health_ms: list[float] = field(default_factory=list)
    api_errors: list[str] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    actions: Counter[str] = field(default_factory=Counter)
    loop: dict[str, int] = field(default_factory=dict)
    log_problems: list[str] = field(default_factory=list)
    exit_code: int | None = None
    stop_seconds: float = 0.0
    log_path: Path | None = None

    def settled(self) -> list[Sample]:
        """Samples after the warm-up."""
        return [s for s in self.samples if s.at >= self.options.warmup] or self.samples

    def floor_rise(self, measure: str) -> float:
        """How far the lowest reading of ``measure`` in the last third of the settled run sits above
        the lowest in the first third.

        Decoder and pool threads (and their descriptors) come and go with what the operator opens,
        so single readings swing; a leak shows as a floor that keeps rising.
        """
        settled = self.settled()
        third = max(1, len(settled) // 3)
        first = min(float(getattr(s, measure)) for s in settled[:third])
        last = min(float(getattr(s, measure)) for s in settled[-third:])
        return last - first

    def rss_slope_mb_per_hour(self) -> float:
        """Least-squares slope of RSS after the warm-up, in MB per hour."""
        points = self.settled()
        if len(points) < 3:
            return 0.0
        return float(
            statistics.linear_regression([p.at for p in points], [p.rss_mb for p in points]).slope
            * 3600
        )

    def health_percentile(self, fraction: float) -> float:
        """``/health`` latency at a percentile, in milliseconds."""
        if not self.health_ms:
            return float("nan")
        ordered = sorted(self.health_ms)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]

    def describe(self) -> str:
        """The figures, one per line."""
        settled = self.settled()
        mode = "console under Xvfb" if self.options.console else "headless"

        def spread(values: list[float]) -> str:
            return f"{min(values):.0f}..{max(values):.0f}" if values else "-"

        lines = [
            f"duration: {self.seconds:.0f} s ({mode}, {self.options.cameras} demo cameras)",
            f"detector events: {len(self.events)} posted, {self.ready} clips ready, "
            f"{len(self.failed)} failed, {len(self.unfinished)} unfinished",
            f"operator: {dict(self.actions)}; clips marked with F9: {self.operator_clips}",
            f"/health latency: p50 {self.health_percentile(0.5):.1f} ms, "
            f"p99 {self.health_percentile(0.99):.1f} ms, "
            f"max {max(self.health_ms, default=0):.1f} ms ({len(self.health_ms)} requests)",
            "event loop (watchdog): "
            + (
                f"p50 {self.loop['p50']} ms, p99 {self.loop['p99']} ms, max {self.loop['max']} ms, "
                f"{self.loop['stalls']} stalls"
                if self.loop
                else "no figures in the log"
            ),
            f"RSS after warm-up: {spread([s.rss_mb for s in settled])} MB, "
            f"slope {self.rss_slope_mb_per_hour():+.1f} MB/h",
            f"file descriptors after warm-up: {spread([s.fds for s in settled])}, "
            f"floor rise {self.floor_rise('fds'):+.0f}",
            f"threads after warm-up: {spread([s.threads for s in settled])}, "
            f"floor rise {self.floor_rise('threads'):+.0f}",
            f"API errors: {len(self.api_errors)}; log problems: {len(self.log_problems)}",
            f"stop on SIGTERM: exit {self.exit_code} after {self.stop_seconds:.1f} s",
        ]
        return "\n".join(lines)


def soak_environment(workdir: Path, options: SoakOptions, port: int) -> dict[str, str]:
    """A user's environment with nothing configured but the soak's cameras and folders."""
    env = app_environment(workdir)
    for name in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY"):
        env.pop(name, None)
    env.update(
        API_PORT=str(port),
        LOG_LEVEL="INFO",
        PRE_EVENT_BUFFER_SECONDS=str(options.pre_seconds),
        POST_EVENT_BUFFER_SECONDS=str(options.post_seconds),
        CLIP_DURATION_SECONDS=str(options.pre_seconds + options.post_seconds),
        CLIP_RESOLUTION="640,360",
    )
    for number in range(1, options.cameras + 1):
        env[f"CAMERA_CAM{number:02d}_URL"] = "demo://?width=640&height=360&fps=15"
    return env


class _Operator:
    """Works the console's window with real X input events."""

    def __init__(self, display: str, rng: random.Random) -> None:
        self.env = {**os.environ, "DISPLAY": display}
        self.rng = rng
        self.window = ""
        self.size = (1600, 960)

    def _xdotool(self, *args: str) -> str:
        result = subprocess.run(
            ["xdotool", *args], env=self.env, capture_output=True, text=True, timeout=20
        )
        return result.stdout.strip()

    def find_window(self) -> bool:
        found = self._xdotool("search", "--name", "^vms_desktop$").split()
        if not found:
            return False
        self.window = found[0]
        geometry = self._xdotool("getwindowgeometry", "--shell", self.window)
        values = dict(line.split("=", 1) for line in geometry.splitlines() if "=" in line)
        self.size = (int(values.get("WIDTH", 1600)), int(values.get("HEIGHT", 960)))
        return True

    def _click(self, fx: float, fy: float, button: int = 1, repeat: int = 1) -> None:
        x, y = round(self.size[0] * fx), round(self.size[1] * fy)
        # No --sync: it waits for pointer motion, which never comes when already there.
        self._xdotool("mousemove", str(x), str(y), "click", "--repeat", str(repeat), str(button))

    def _keys(self, *keys: str) -> None:
        self._xdotool("windowfocus", self.window)
        self._xdotool("key", "--delay", "60", *keys)

    def act(self) -> str:
        """One operator action, chosen at random; returns its name."""
        action = self.rng.choice(
            ["mark", "layout", "scroll library", "play from library", "play from feed", "step"]
        )
        if action == "mark":
            self._keys("F9")
        elif action == "layout":
            self._keys(self.rng.choice(["ctrl+1", "ctrl+2", "ctrl+3", "ctrl+2"]))
        elif action == "scroll library":
            self._click(0.25, 0.86)  # a row of the clip library (bottom dock)
            self._click(0.25, 0.86, button=self.rng.choice([4, 5]), repeat=self.rng.randint(1, 6))
            self._keys(*self.rng.choices(["Down", "Page_Down", "Up", "End", "Home"], k=3))
        elif action == "play from library":
            self._click(0.25, 0.82)
            self._keys("Return")
        elif action == "play from feed":
            self._click(0.72, self.rng.choice([0.125, 0.155, 0.185]))  # event feed rows
        else:
            self._click(0.81, 0.40)  # the player's picture, then frame steps
            self._keys(*self.rng.choices(["Left", "Right", "space"], k=4))
        return action


class SoakRun:
    """Runs the application under scripted use and reports what it measured."""

    def __init__(self, workdir: Path, options: SoakOptions) -> None:
        self.workdir = workdir
        self.options = options
        self.report = SoakReport(options)
        self.rng = random.Random(options.seed)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._started = 0.0

    def run(self) -> SoakReport:
        """Start, load, stop; returns the report (assertions are the caller's)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        port = free_port()
        env = soak_environment(self.workdir, self.options, port)
        display: XvfbDisplay | None = None
        args = [sys.executable, "-m", "vms_desktop"]
        if self.options.console:
            display = XvfbDisplay(1600, 1000)
            display.start()
            env["DISPLAY"] = display.name
        else:
            args.append("--headless")
        log_path = self.workdir / "app.log"
        self.report.log_path = log_path
        try:
            with log_path.open("w") as log_file:
                process = subprocess.Popen(
                    args, cwd=self.workdir, env=env, stdout=log_file, stderr=subprocess.STDOUT
                )
                try:
                    self._drive(process, f"http://127.0.0.1:{port}", display)
                finally:
                    self._stop_app(process)
        finally:
            if display is not None:
                display.stop()
        self._read_log(log_path)
        return self.report

    # ---- the run -------------------------------------------------------------------------

    def _drive(
        self, process: subprocess.Popen[bytes], base: str, display: XvfbDisplay | None
    ) -> None:
        client = httpx.Client(base_url=base, timeout=30)
        try:
            self._wait_started(process, client)
            self._started = time.monotonic()
            workers = [
                threading.Thread(target=self._detector, args=(client,), daemon=True),
                threading.Thread(target=self._health, args=(base,), daemon=True),
                threading.Thread(target=self._sampler, args=(process.pid,), daemon=True),
            ]
            if display is not None:
                operator = _Operator(display.name, random.Random(self.options.seed + 1))
                workers.append(
                    threading.Thread(target=self._operate, args=(operator,), daemon=True)
                )
            for worker in workers:
                worker.start()
            deadline = self._started + self.options.seconds
            while time.monotonic() < deadline and process.poll() is None:
                time.sleep(0.5)
            self._stop.set()
            for worker in workers:
                worker.join(60)
            self.report.seconds = time.monotonic() - self._started
            if process.poll() is None:
                self._collect_outcomes(client)
        finally:
            client.close()

    def _wait_started(self, process: subprocess.Popen[bytes], client: httpx.Client) -> None:
        def recorded() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"the application exited at start ({process.returncode})")
            with contextlib.suppress(httpx.HTTPError):
                cameras = client.get("/health").json().get("cameras", [])
                return bool(cameras) and all(c["buffered_seconds"] > 8 for c in cameras)
            return False

        wait_until(recorded, 60, "every camera recording 8 s", poll=0.5)

    def _detector(self, client: httpx.Client) -> None:
        count = 0
        while not self._stop.wait(self.options.event_every):
            count += 1
            now = datetime.now(UTC)
            kind = self.rng.choice(["past", "now", "future"])
            offset = {
                "past": -self.rng.uniform(5, 20),
                "now": 0.0,
                "future": self.rng.uniform(1, 8),
            }
            moment = now + timedelta(seconds=offset[kind])
            event_id = f"soak-{count:05d}-{kind}"
            body = {
                "event": {
                    "id": event_id,
                    "camera_id": f"cam{self.rng.randint(1, self.options.cameras):02d}",
                    "event_type": self.rng.choice(_EVENT_TYPES),
                    "timestamp": moment.isoformat(),
                }
            }
            self._call(client, "POST", "/clips/generate", json=body, ok=(200, 202))
            with self._lock:
                self.report.events.append(event_id)
                known = list(self.report.events)
            earlier = self.rng.choice(known)
            self._call(client, "GET", f"/clips/{earlier}", ok=(202, 307, 410))
            self._call(client, "GET", f"/clips/{earlier}/url?expiry_minutes=5", ok=(200, 202, 410))
            self._call(client, "GET", "/clips?limit=50", ok=(200,))

    def _call(
        self, client: httpx.Client, method: str, path: str, *, ok: tuple[int, ...], **kw: object
    ) -> None:
        try:
            response = client.request(method, path, follow_redirects=False, **kw)  # type: ignore[arg-type]
        except httpx.HTTPError as exc:
            with self._lock:
                self.report.api_errors.append(f"{method} {path}: {type(exc).__name__}")
            return
        if response.status_code not in ok:
            with self._lock:
                self.report.api_errors.append(
                    f"{method} {path}: {response.status_code} {response.text[:200]}"
                )

    def _health(self, base: str) -> None:
        with httpx.Client(base_url=base, timeout=30) as client:
            while not self._stop.wait(0.5):
                started = time.perf_counter()
                try:
                    client.get("/health")
                except httpx.HTTPError as exc:
                    with self._lock:
                        self.report.api_errors.append(f"GET /health: {type(exc).__name__}")
                    continue
                with self._lock:
                    self.report.health_ms.append((time.perf_counter() - started) * 1000)

    def _sampler(self, pid: int) -> None:
        while True:
            with contextlib.suppress(OSError, ValueError):
                status = Path(f"/proc/{pid}/status").read_text()
                fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
                sample = Sample(
                    at=time.monotonic() - self._started,
                    rss_mb=int(fields["VmRSS"].split()[0]) / 1024,
                    fds=len(os.listdir(f"/proc/{pid}/fd")),
                    threads=int(fields["Threads"]),
                )
                with self._lock:
                    self.report.samples.append(sample)
            if self._stop.wait(self.options.sample_every):
                return

    def _operate(self, operator: _Operator) -> None:
        while not operator.find_window():
            if self._stop.wait(1.0):
                return
        while not self._stop.wait(self.options.operator_every):
            try:
                action = operator.act()
            except (subprocess.SubprocessError, OSError) as exc:
                action = f"failed: {type(exc).__name__}"
            with self._lock:
                self.report.actions[action] += 1

    # ---- the end -------------------------------------------------------------------------

    def _collect_outcomes(self, client: httpx.Client) -> None:
        """Wait for the last windows to close, then ask the fate of every event."""
        settle = self.options.post_seconds + 8 + 30  # the latest window, the grace, the encode
        deadline = time.monotonic() + settle
        pending = list(self.report.events)
        while pending and time.monotonic() < deadline:
            still = []
            for event_id in pending:
                try:
                    response = client.get(f"/clips/{event_id}", follow_redirects=False)
                except httpx.HTTPError:
                    still.append(event_id)
                    continue
                if response.status_code == 307:
                    self.report.ready += 1
                elif response.status_code == 410:
                    self.report.failed[event_id] = str(response.json().get("error"))
                else:
                    still.append(event_id)
            pending = still
            if pending:
                time.sleep(1.0)
        self.report.unfinished = pending
        with contextlib.suppress(httpx.HTTPError):
            listing = client.get("/clips?limit=500").json()
            self.report.operator_clips = sum(
                1 for clip in listing["clips"] if clip["event_id"].startswith("op-")
            )

    def _stop_app(self, process: subprocess.Popen[bytes]) -> None:
        if process.poll() is None:
            started = time.monotonic()
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.send_signal(signal.SIGUSR1)  # every stack into the log, then give up
                time.sleep(1)
                process.kill()
                process.wait(10)
            self.report.stop_seconds = time.monotonic() - started
        self.report.exit_code = process.returncode

    def _read_log(self, path: Path) -> None:
        text = path.read_text(errors="replace")
        matches = list(_LOOP_LINE.finditer(text))
        if matches:
            match = matches[-1]
            self.report.loop = {key: int(value) for key, value in match.groupdict().items()}
        for line in text.splitlines():
            if (
                "Traceback" in line
                or line.startswith(
                    ("Timeout (", "Fatal Python error", "Thread 0x", "Current thread")
                )
                or "event loop stalled" in line
            ):
                self.report.log_problems.append(line)
