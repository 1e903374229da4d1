"""A real RTSP camera for tests: gst-rtsp-server in a child process run by the system Python."""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType
from urllib.parse import quote

from .ports import free_port
from .waiting import wait_until

SYSTEM_PYTHON = "/usr/bin/python3"
SERVER_SCRIPT = Path(__file__).with_name("rtsp_camera_server.py")
# Must match EXIT_CANNOT_BIND in the server script.
EXIT_CANNOT_BIND = 3
PORT_ATTEMPTS = 3
STOP_TIMEOUT = 5.0


class RtspCameraError(RuntimeError):
    """The test camera could not be started or controlled."""


class _PortTaken(RtspCameraError):
    """Another process took the port between choosing it and binding it."""


class RtspCamera:
    """An H.264 (optionally plus AAC) RTSP camera on 127.0.0.1 behind Basic auth.

    Every video frame carries its creation time as a ``vms_desktop.engine.framestamp`` stamp. The
    port is chosen on the first ``start()`` and kept, so a stopped camera comes back at the same
    URL, as a rebooted camera would.
    """

    def __init__(
        self,
        *,
        width: int = 640,
        height: int = 480,
        fps: int = 15,
        gop_seconds: float = 2.0,
        audio: bool = False,
        user: str = "admin",
        password: str = "s3cretPass42",
        path: str = "/stream",
        ready_timeout: float = 20.0,
    ) -> None:
        self.width = width
        self.height = height
        self.fps = fps
        self.gop_seconds = gop_seconds
        self.audio = audio
        self.user = user
        self.password = password
        self.path = path
        self.ready_timeout = ready_timeout
        self._port: int | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._logs: tempfile.TemporaryDirectory[str] | None = None
        self._frozen = False

    @property
    def port(self) -> int:
        """The TCP port the camera listens on (fixed by the first start)."""
        if self._port is None:
            raise RtspCameraError("the camera has not been started yet")
        return self._port

    @property
    def url(self) -> str:
        """The stream URL with the right credentials."""
        return self.url_with_password(self.password)

    @property
    def url_without_credentials(self) -> str:
        """The stream URL with no user information."""
        return f"rtsp://127.0.0.1:{self.port}{self.path}"

    def url_with_password(self, password: str) -> str:
        """The stream URL with the camera's user name and ``password`` (right or wrong)."""
        userinfo = f"{quote(self.user, safe='')}:{quote(password, safe='')}"
        return f"rtsp://{userinfo}@127.0.0.1:{self.port}{self.path}"

    @property
    def running(self) -> bool:
        """Whether the server process is alive (a frozen server counts as running)."""
        return self._process is not None and self._process.poll() is None

    @property
    def frozen(self) -> bool:
        """Whether the server process is stopped with SIGSTOP."""
        return self._frozen

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs."""
        return self._process.pid if self._process is not None else None

    def start(self) -> None:
        """Start the server and wait until it listens."""
        if self.running:
            raise RtspCameraError("the camera is already running")
        self._reap()
        if self._port is not None:
            self._launch(self._port)
            return
        for attempt in range(PORT_ATTEMPTS):
            port = free_port()
            try:
                self._launch(port)
            except _PortTaken:
                if attempt == PORT_ATTEMPTS - 1:
                    raise
                continue
            self._port = port
            return

    def stop(self) -> None:
        """Terminate the server (politely first) and wait for it; a no-op when it is not running."""
        process = self._process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            if self._frozen:
                # A stopped process only acts on SIGTERM once it runs again.
                process.send_signal(signal.SIGCONT)
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._reap()

    def restart(self) -> None:
        """Stop and start again on the same port."""
        self.stop()
        self.start()

    def freeze(self) -> None:
        """Suspend the server: connections stay open but no data and no replies flow."""
        self._signal(signal.SIGSTOP)
        self._frozen = True

    def thaw(self) -> None:
        """Resume a frozen server."""
        self._signal(signal.SIGCONT)
        self._frozen = False

    def __enter__(self) -> RtspCamera:
        if not self.running:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = f"port {self._port}" if self._port is not None else "not started"
        return f"RtspCamera({self.width}x{self.height}@{self.fps}, audio={self.audio}, {where})"

    def _signal(self, signum: signal.Signals) -> None:
        if not self.running or self._process is None:
            raise RtspCameraError("the camera is not running")
        self._process.send_signal(signum)

    def _command(self, port: int) -> list[str]:
        command = [
            SYSTEM_PYTHON,
            str(SERVER_SCRIPT),
            "--port",
            str(port),
            "--user",
            self.user,
            "--password",
            self.password,
            "--width",
            str(self.width),
            "--height",
            str(self.height),
            "--fps",
            str(self.fps),
            "--gop-seconds",
            str(self.gop_seconds),
            "--path",
            self.path,
        ]
        if self.audio:
            command.append("--audio")
        return command

    def _launch(self, port: int) -> None:
        # Output goes to files rather than pipes: nobody reads the server's stderr while tests
        # run, and a full pipe would block the server mid-stream.
        self._logs = tempfile.TemporaryDirectory(prefix="rtsp-camera-")
        stdout_path = Path(self._logs.name) / "stdout.txt"
        stderr_path = Path(self._logs.name) / "stderr.txt"
        # The system Python must not pick up the venv's packages.
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
        try:
            with stdout_path.open("wb") as stdout, stderr_path.open("wb") as stderr:
                self._process = subprocess.Popen(
                    self._command(port),
                    stdin=subprocess.DEVNULL,
                    stdout=stdout,
                    stderr=stderr,
                    env=env,
                )
        except OSError as error:
            self._reap()
            raise RtspCameraError(f"cannot run {SYSTEM_PYTHON}: {error}") from error
        self._frozen = False
        self._wait_ready(port, stdout_path, stderr_path)

    def _wait_ready(self, port: int, stdout_path: Path, stderr_path: Path) -> None:
        process = self._process
        assert process is not None

        def ready() -> bool:
            for line in stdout_path.read_text(errors="replace").splitlines():
                if line.startswith("READY "):
                    if line.split()[1] != str(port):
                        self.stop()
                        raise RtspCameraError(f"server reported {line!r}, expected port {port}")
                    return True
            returncode = process.poll()
            if returncode is not None:
                details = stderr_path.read_text(errors="replace").strip()
                self._reap()
                error = _PortTaken if returncode == EXIT_CANNOT_BIND else RtspCameraError
                raise error(
                    f"RTSP camera server exited with status {returncode} before it was ready;"
                    f" stderr:\n{details}"
                )
            return False

        try:
            wait_until(ready, self.ready_timeout, "the RTSP camera server to be ready", poll=0.02)
        except AssertionError:
            details = stderr_path.read_text(errors="replace").strip()
            self.stop()
            raise RtspCameraError(
                f"RTSP camera server not ready after {self.ready_timeout:.0f} s; stderr:\n{details}"
            ) from None

    def _reap(self) -> None:
        """Forget an exited process and remove its log files."""
        if self._process is not None:
            self._process.wait()
            self._process = None
        self._frozen = False
        if self._logs is not None:
            self._logs.cleanup()
            self._logs = None
