"""API latency of filtered clip listings over a large catalogue, and generate-burst acceptance."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import hashlib
import json
import logging
import math
import multiprocessing
import os
import platform
import random
import shutil
import socket
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

import httpx

from vms_desktop.domain.clip import ClipJob, ClipMeta, ClipStatus, Event, iso
from vms_desktop.domain.store_state import ClipUrl, StoreHealth
from vms_desktop.engine.clip_service import ClipService
from vms_desktop.runtime import Runtime, build_runtime
from vms_desktop.settings import load_settings
from vms_desktop.storage.base import ClipStore
from vms_desktop.storage.clip_index import ClipIndex
from vms_desktop.storage.local_store import LocalClipStore
from vms_desktop.storage.signing import UrlSigner, load_or_create_key

CAMERAS = ("cam01", "cam02", "cam03", "cam04")
EVENT_TYPES = ("motion", "person", "vehicle", "line_crossing", "tamper")
CAMERA_URL = "demo://?width=320&height=240"
SPAN_DAYS = 30
PAGE = 50
DEEP_OFFSET = 50_000
RANGE_DAYS = 3
UPSERT_BATCH = 5_000
WARMUP = 10
# Burst events are stamped this far in the past: inside the buffer, with the window still open.
EVENT_AGE = 3.0
POLL_INTERVAL = 0.25
POLL_PAGE = 200
# Keeps every synthetic clip, which reach 30 days back, clear of the retention clean-up.
RETENTION_DAYS = 365
SEED = 20240531


# ---- the service under test ---------------------------------------------------------------


class SyntheticStore:
    """The real clip store, plus synthetic records it lists as if their files were there.

    The catalogue sync (at start-up, then every minute) deletes rows the store does not list,
    so the store must hold the synthetic clips. Writing them as files (a record and an empty
    clip each: about 12 s and 400 MB for 100 000 here) would make every sync read them all
    back, a cost of the local store's listing rather than of the API, and one that
    :func:`sample_listing` measures on its own. Listed from memory, the sync still runs its
    full comparison over every row, holding the catalogue as it would in a real installation.
    """

    def __init__(self, real: ClipStore, synthetic: dict[str, ClipMeta]) -> None:
        self.real = real
        self.backend = real.backend
        self.synthetic = synthetic

    def put(self, meta: ClipMeta, clip_file: Path) -> None:
        self.real.put(meta, clip_file)

    def get(self, event_id: str) -> ClipMeta | None:
        return self.synthetic.get(event_id) or self.real.get(event_id)

    def delete(self, event_id: str) -> bool:
        known = self.synthetic.pop(event_id, None) is not None
        return self.real.delete(event_id) or known

    def iter_all(self) -> Iterator[ClipMeta]:
        yield from self.real.iter_all()
        # A snapshot: a delete during a sync must not break the iteration.
        yield from list(self.synthetic.values())

    def url(self, event_id: str, expires_in: timedelta) -> ClipUrl:
        return self.real.url(event_id, expires_in)

    def open(self, event_id: str) -> BinaryIO:
        return self.real.open(event_id)

    def health(self) -> StoreHealth:
        return self.real.health()


@dataclass
class SyncWatch:
    """When each catalogue sync ran (``perf_counter`` spans, comparable across processes)."""

    spans: list[tuple[float, float]] = field(default_factory=list)
    first: threading.Event = field(default_factory=threading.Event)

    def attach(self, service: ClipService) -> None:
        original = service.sync_index

        def timed() -> None:
            began = time.perf_counter()
            try:
                original()
            finally:
                self.spans.append((began, time.perf_counter()))
                self.first.set()

        # The maintainer thread calls self.sync_index(): an instance attribute is what it finds.
        service.sync_index = timed  # type: ignore[method-assign]

    def overlapping(self, began: float, ended: float) -> list[tuple[float, float]]:
        return [(a, b) for a, b in self.spans if a < ended and b > began]


@dataclass
class JobTracker:
    """Wall-clock times of each burst job's transitions, from the service's own listener."""

    watched: set[str] = field(default_factory=set)
    started: dict[str, float] = field(default_factory=dict)
    finished: dict[str, tuple[float, ClipStatus, str]] = field(default_factory=dict)
    # Names of the threads that built clips: how many workers the service really used.
    workers: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def on_job(self, job: ClipJob) -> None:
        # The listener runs after the catalogue row is written, so this is when it is listed.
        now = time.time()
        event_id = job.event.id
        with self.lock:
            if event_id not in self.watched:
                return
            if job.status in (ClipStatus.RECORDING, ClipStatus.ENCODING):
                self.started.setdefault(event_id, now)
                self.workers.add(threading.current_thread().name)
            if job.status.finished:
                self.finished.setdefault(event_id, (now, job.status, job.error))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def service_environ(root: Path) -> dict[str, str]:
    environ = {
        "VIDEO_STORAGE_TYPE": "local",
        "LOCAL_STORAGE_PATH": str(root / "clips"),
        "BUFFER_PATH": str(root / "buffer"),
        "STATE_PATH": str(root / "state"),
        "API_HOST": "127.0.0.1",
        "API_PORT": str(free_port()),
        "RETENTION_DAYS": str(RETENTION_DAYS),
        "LOG_LEVEL": "WARNING",
    }
    for camera in CAMERAS:
        environ[f"CAMERA_{camera.upper()}_URL"] = CAMERA_URL
    return environ


def synthetic_metas(count: int, newest: datetime, rng: random.Random) -> list[ClipMeta]:
    span_ms = SPAN_DAYS * 86_400_000
    metas = []
    for number in range(count):
        moment = newest - timedelta(milliseconds=rng.randrange(span_ms))
        event_id = f"bench-{number:07d}"
        metas.append(
            ClipMeta(
                event=Event(
                    event_id, CAMERAS[number % len(CAMERAS)], rng.choice(EVENT_TYPES), moment
                ),
                window_start=moment - timedelta(seconds=10),
                window_end=moment + timedelta(seconds=20),
                fps=15,
                width=640,
                height=480,
                duration=30.0,
                size=rng.randrange(1_000_000, 3_000_000),
                sha256=hashlib.sha256(event_id.encode()).hexdigest(),
                created_at=moment + timedelta(seconds=25),
            )
        )
    return metas


def fill_index(index: ClipIndex, metas: Sequence[ClipMeta]) -> float:
    began = time.perf_counter()
    for first in range(0, len(metas), UPSERT_BATCH):
        index.upsert_many(metas[first : first + UPSERT_BATCH])
    return time.perf_counter() - began


def sample_listing(metas: Sequence[ClipMeta], root: Path) -> float:
    """Seconds a real local store takes to list ``metas`` (record files, empty clip files)."""
    folder = root / "clips"
    folder.mkdir(parents=True)
    for meta in metas:
        text = json.dumps(meta.to_dict(), indent=2, ensure_ascii=True) + "\n"
        (folder / f"{meta.event_id}.json").write_text(text, encoding="ascii")
        (folder / f"{meta.event_id}.mp4").touch()
    signer = UrlSigner(load_or_create_key(root / "key"))
    store = LocalClipStore(folder, "http://127.0.0.1:9/clips", signer)
    best = math.inf
    for _ in range(3):
        began = time.perf_counter()
        listed = sum(1 for _ in store.iter_all())
        best = min(best, time.perf_counter() - began)
    assert listed == len(metas), (listed, len(metas))
    return best


def wait_recording(runtime: Runtime, seconds: float, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        oldest = [runtime.recorder.buffer(camera).oldest for camera in CAMERAS]
        if all(o is not None and time.time() - o >= seconds for o in oldest):
            return
        time.sleep(0.2)
    raise RuntimeError(f"the cameras did not record {seconds:g} s within {timeout:g} s")


# ---- the client, in its own process -------------------------------------------------------
#
# The service is a Python process: a client in it would share its GIL and inflate exactly the
# latencies being measured, so the load comes from a child process, as a detector's would.

Params = dict[str, str | int]
Sample = tuple[float, float]  # (perf_counter at send, seconds to the full response)


def child_ready() -> int:
    return os.getpid()


def run_queries(
    base_url: str, plan: list[tuple[str, list[Params]]], totals: dict[str, int | None]
) -> list[tuple[str, list[Sample], float, list[str]]]:
    results = []
    with httpx.Client(base_url=base_url, timeout=60) as client:
        for name, requests in plan:
            for params in requests[:WARMUP]:
                client.get("/clips", params=params).raise_for_status()
            samples: list[Sample] = []
            problems: list[str] = []
            began = time.perf_counter()
            for params in requests[WARMUP:]:
                sent = time.perf_counter()
                response = client.get("/clips", params=params)
                samples.append((sent, time.perf_counter() - sent))
                if response.status_code != 200:
                    problems.append(f"HTTP {response.status_code}: {response.text[:120]}")
                    continue
                body = response.json()
                wanted = min(PAGE, max(0, body["total"] - int(params.get("offset", 0))))
                if len(body["clips"]) != wanted:
                    problems.append(f"{len(body['clips'])} clips instead of {wanted}")
                if totals[name] is not None and body["total"] != totals[name]:
                    problems.append(f"total {body['total']} instead of {totals[name]}")
            results.append((name, samples, time.perf_counter() - began, problems[:5]))
    return results


BurstOutcome = dict[str, Any]


def run_burst(base_url: str, bodies: list[dict[str, Any]]) -> BurstOutcome:
    return asyncio.run(_burst(base_url, bodies))


async def _timed_get(client: httpx.AsyncClient, path: str) -> float:
    sent = time.perf_counter()
    (await client.get(path)).raise_for_status()
    return time.perf_counter() - sent


async def _burst(base_url: str, bodies: list[dict[str, Any]]) -> BurstOutcome:
    # One client per connection: a shared httpx pool rescans every connection for every queued
    # request (encode/httpcore#1035), which at 200 in flight made the client itself the
    # bottleneck (200 concurrent GET /health took 2.9 s at p50 through one pool, 0.15 s so).
    clients = [httpx.AsyncClient(base_url=base_url, timeout=120) for _ in bodies]
    try:
        # Open every connection first (uvicorn closes idle ones after 5 s, so right before):
        # the burst measures the service taking events, not TCP handshakes and a full backlog.
        began = time.perf_counter()
        health = await asyncio.gather(*(_timed_get(client, "/health") for client in clients))
        warmup = time.perf_counter() - began
        gate = asyncio.Event()

        async def post(client: httpx.AsyncClient, body: dict[str, Any]) -> tuple[Any, ...]:
            await gate.wait()
            sent = time.perf_counter()
            try:
                response = await client.post("/clips/generate", json=body)
            except httpx.TransportError as exc:
                # Kept as a result: a dropped connection is part of what a burst can cause.
                took = time.perf_counter() - sent
                return body["event"]["id"], 0, sent, took, type(exc).__name__, ""
            took = time.perf_counter() - sent
            note = "" if response.status_code in (200, 202) else response.text[:160]
            retry = response.headers.get("retry-after", "")
            return body["event"]["id"], response.status_code, sent, took, note, retry

        tasks = [
            asyncio.create_task(post(client, body))
            for client, body in zip(clients, bodies, strict=True)
        ]
        await asyncio.sleep(0.05)  # every task is parked at the gate
        released = time.perf_counter()
        gate.set()
        results = list(await asyncio.gather(*tasks))
    finally:
        await asyncio.gather(*(client.aclose() for client in clients))
    return {"released": released, "warmup": warmup, "health": health, "results": results}


# ---- figures ------------------------------------------------------------------------------


def percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return math.nan
    return ordered[max(1, math.ceil(share / 100 * len(ordered))) - 1]


def ms(seconds: float) -> str:
    return "-" if math.isnan(seconds) else f"{seconds * 1000:.1f}"


def secs(seconds: float) -> str:
    return "-" if math.isnan(seconds) else f"{seconds:.2f}"


@dataclass
class Series:
    """One query kind's latencies."""

    name: str
    samples: list[Sample]
    wall: float
    problems: list[str]
    during_sync: list[float] = field(default_factory=list)

    @property
    def latencies(self) -> list[float]:
        return [took for _, took in self.samples]

    def row(self) -> str:
        values = self.latencies
        rate = len(values) / self.wall if self.wall > 0 else math.nan
        sync = f"{len(self.during_sync)}" + (
            f" (max {ms(max(self.during_sync))})" if self.during_sync else ""
        )
        return (
            f"| {self.name} | {len(values)} | {ms(percentile(values, 50))} "
            f"| {ms(percentile(values, 95))} | {ms(percentile(values, 99))} "
            f"| {ms(max(values))} | {rate:.0f} | {sync} |"
        )


@dataclass
class Burst:
    """What the generate burst gave."""

    size: int
    released_wall: float
    results: list[tuple[Any, ...]]
    window_end: dict[str, float]
    seen: dict[str, float]
    tracker: JobTracker
    poll_latencies: list[float]
    timed_out: bool
    health: list[float]

    @property
    def statuses(self) -> Counter[int]:
        return Counter(status for _, status, *_ in self.results)

    @property
    def accepted(self) -> list[str]:
        return [event_id for event_id, status, *_ in self.results if status in (200, 202)]

    @property
    def acceptance(self) -> list[float]:
        return [took for _, _, _, took, *_ in self.results]

    def failed(self) -> dict[str, str]:
        return {
            event_id: error
            for event_id, (_, status, error) in self.tracker.finished.items()
            if status is ClipStatus.FAILED
        }

    def ready_hook(self) -> dict[str, float]:
        return {
            event_id: moment
            for event_id, (moment, status, _) in self.tracker.finished.items()
            if status is ClipStatus.READY
        }

    def latency(self, ready: dict[str, float]) -> list[float]:
        return [moment - self.window_end[event_id] for event_id, moment in ready.items()]

    def queue_wait(self) -> list[float]:
        """After its window closed, how long each clip waited for a free worker."""
        return [
            max(0.0, self.tracker.started[event_id] - self.window_end[event_id])
            for event_id in self.ready_hook()
            if event_id in self.tracker.started
        ]

    def build_time(self) -> list[float]:
        """From the later of window end and worker start to ready: the build itself."""
        return [
            moment - max(self.tracker.started[event_id], self.window_end[event_id])
            for event_id, moment in self.ready_hook().items()
            if event_id in self.tracker.started
        ]


def nodelay(runtime: Runtime) -> bool:
    """Whether asyncio turns Nagle off on the API's accepted connections.

    Accepted sockets inherit the listener's protocol number, and asyncio only sets TCP_NODELAY
    on sockets whose protocol is IPPROTO_TCP: with it off, a response written in two parts
    waits for the client's delayed ACK (about 40 ms on Linux) on a keep-alive connection.
    """
    assert runtime.api is not None
    return runtime.api.socket.proto == socket.IPPROTO_TCP


def machine() -> dict[str, str]:
    model = "?"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as handle:
        for line in handle:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "nproc": str(len(os.sched_getaffinity(0))),
        "cpu": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "httpx": httpx.__version__,
    }


# ---- phases -------------------------------------------------------------------------------


def query_plan(
    count: int, requests: int, newest: datetime, rng: random.Random
) -> tuple[list[tuple[str, list[Params]]], dict[str, int | None]]:
    deep = min(DEEP_OFFSET, max(0, count - PAGE))
    oldest = newest - timedelta(days=SPAN_DAYS)

    def date_range(index: int) -> Params:
        start = oldest + timedelta(seconds=rng.uniform(0, (SPAN_DAYS - RANGE_DAYS) * 86_400))
        return {
            "camera_id": CAMERAS[index % len(CAMERAS)],
            "start_date": iso(start),
            "end_date": iso(start + timedelta(days=RANGE_DAYS)),
            "limit": PAGE,
        }

    total = requests + WARMUP
    plan: list[tuple[str, list[Params]]] = [
        ("First page, no filter", [{"limit": PAGE} for _ in range(total)]),
        ("Camera", [{"camera_id": CAMERAS[i % 4], "limit": PAGE} for i in range(total)]),
        (f"Camera + {RANGE_DAYS}-day range", [date_range(i) for i in range(total)]),
        ("Event type", [{"event_type": EVENT_TYPES[i % 5], "limit": PAGE} for i in range(total)]),
        (f"Deep page, offset {deep:,}", [{"limit": PAGE, "offset": deep} for _ in range(total)]),
    ]
    # Unfiltered listings must count every clip; the others are checked against their total.
    totals: dict[str, int | None] = {name: None for name, _ in plan}
    totals[plan[0][0]] = totals[plan[-1][0]] = count
    return plan, totals


def measure_queries(
    pool: ProcessPoolExecutor,
    base_url: str,
    plan: list[tuple[str, list[Params]]],
    totals: dict[str, int | None],
    syncs: SyncWatch,
) -> list[Series]:
    raw = pool.submit(run_queries, base_url, plan, totals).result()
    series = []
    for name, samples, wall, problems in raw:
        measured = Series(name, samples, wall, problems)
        measured.during_sync = [
            took for sent, took in samples if syncs.overlapping(sent, sent + took)
        ]
        series.append(measured)
    return series


def generate_burst(
    pool: ProcessPoolExecutor,
    runtime: Runtime,
    tracker: JobTracker,
    size: int,
    timeout: float,
) -> Burst:
    assert runtime.api is not None
    post_seconds = runtime.settings.post_event_buffer_seconds
    tag = datetime.now(UTC).strftime("%H%M%S")
    stamp = datetime.now(UTC) - timedelta(seconds=EVENT_AGE)
    bodies = []
    window_end: dict[str, float] = {}
    for number in range(size):
        event_id = f"burst-{tag}-{number:04d}"
        moment = stamp + timedelta(milliseconds=number)
        bodies.append(
            {
                "event": {
                    "id": event_id,
                    "camera_id": CAMERAS[number % len(CAMERAS)],
                    "event_type": EVENT_TYPES[number % len(EVENT_TYPES)],
                    "timestamp": iso(moment),
                }
            }
        )
        window_end[event_id] = moment.timestamp() + post_seconds
    with tracker.lock:
        tracker.watched.update(window_end)
    wall_now, clock_now = time.time(), time.perf_counter()
    outcome = pool.submit(run_burst, runtime.api.base_url, bodies).result()
    results: list[tuple[Any, ...]] = outcome["results"]
    released_wall = wall_now + (outcome["released"] - clock_now)
    health: list[float] = outcome["health"]
    print(
        f"   connections opened by {size} concurrent GET /health in {outcome['warmup']:.2f} s "
        f"(p50 {ms(percentile(health, 50))} ms, max {ms(max(health))} ms)"
    )
    accepted = {event_id for event_id, status, *_ in results if status in (200, 202)}
    print(f"   burst sent: {Counter(status for _, status, *_ in results)}; polling until ready")

    seen: dict[str, float] = {}
    poll_latencies: list[float] = []
    deadline = time.monotonic() + timeout
    timed_out = True
    progress = time.monotonic()
    # The synthetic clips end an hour ago: from just before the burst, only its clips match.
    since = iso(stamp - timedelta(seconds=1))
    with httpx.Client(base_url=runtime.api.base_url, timeout=60) as client:
        while time.monotonic() < deadline:
            offset: int | None = 0
            while offset is not None:
                sent = time.perf_counter()
                response = client.get(
                    "/clips", params={"start_date": since, "limit": POLL_PAGE, "offset": offset}
                )
                poll_latencies.append(time.perf_counter() - sent)
                response.raise_for_status()
                now = time.time()
                page = response.json()
                for clip in page["clips"]:
                    if clip["event_id"] in accepted:
                        seen.setdefault(clip["event_id"], now)
                offset = page["next_offset"]
            with tracker.lock:
                failed = {
                    event_id
                    for event_id, (_, status, _) in tracker.finished.items()
                    if status is ClipStatus.FAILED
                }
            if accepted <= set(seen) | failed:
                timed_out = False
                break
            if time.monotonic() - progress >= 15:
                progress = time.monotonic()
                print(f"   {len(seen)}/{len(accepted)} ready, {len(failed)} failed")
            time.sleep(POLL_INTERVAL)
    return Burst(
        size,
        released_wall,
        results,
        window_end,
        seen,
        tracker,
        poll_latencies,
        timed_out,
        health,
    )


# ---- report -------------------------------------------------------------------------------


@dataclass
class Catalogue:
    """How the catalogue was filled and kept."""

    count: int
    make_seconds: float
    fill_seconds: float
    db_bytes: int
    api_seconds: float
    startup_sync: float
    sample_size: int
    sample_seconds: float
    syncs: SyncWatch
    nodelay: bool


def latency_row(name: str, values: Sequence[float]) -> str:
    return (
        f"| {name} | {len(values)} | {secs(percentile(values, 50))} "
        f"| {secs(percentile(values, 99))} | {secs(max(values) if values else math.nan)} |"
    )


def markdown(
    catalogue: Catalogue,
    series: list[Series],
    burst: Burst,
    info: dict[str, str],
    settings_line: str,
) -> str:
    scale = catalogue.count / catalogue.sample_size
    later = [b - a for a, b in catalogue.syncs.spans[1:]]
    lines = [
        "## API",
        "",
        f"Service: {settings_line}. Client: httpx in a separate process, one keep-alive "
        "connection, requests one after another. TCP_NODELAY on the API's connections: "
        f"{'yes' if catalogue.nodelay else 'no (Nagle + delayed ACK add ~40 ms per response)'}.",
        "",
        "| Catalogue | Value |",
        "| --- | ---: |",
        f"| Synthetic clips indexed | {catalogue.count:,} |",
        f"| `ClipIndex.upsert_many` fill, batches of {UPSERT_BATCH:,}, s | "
        f"{catalogue.fill_seconds:.2f} ({catalogue.count / catalogue.fill_seconds:,.0f} rows/s) |",
        f"| Building the ClipMeta records, s | {catalogue.make_seconds:.2f} |",
        f"| Catalogue file size, MB | {catalogue.db_bytes / 1e6:.1f} |",
        f"| `Runtime.start()` to listening API, s | {catalogue.api_seconds:.2f} |",
        f"| Start-up catalogue sync (store listed from memory), s | {catalogue.startup_sync:.2f} |",
        f"| Later syncs during the run (every 60 s), s | "
        f"{', '.join(f'{s:.2f}' for s in later) or '-'} |",
        f"| Local store listing (`iter_all`, warm cache) of {catalogue.sample_size:,} real "
        f"record files, s (→ est. per sync at {catalogue.count:,}) "
        f"| {catalogue.sample_seconds:.3f} "
        f"(→ {catalogue.sample_seconds * scale:.1f}) |",
        "",
        f"`GET /clips`, limit {PAGE} (latency in ms; the last column counts requests that "
        "overlapped a catalogue sync):",
        "",
        "| Query | Requests | p50 | p95 | p99 | max | req/s | during a sync |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        *(measured.row() for measured in series),
    ]
    statuses = burst.statuses
    other = sum(n for status, n in statuses.items() if status not in (200, 202, 429))
    accept = burst.acceptance
    ready_poll = burst.seen
    ready_hook = burst.ready_hook()
    everything = max(ready_poll.values(), default=math.nan) - burst.released_wall
    last_window = max(burst.window_end[e] for e in burst.accepted) if burst.accepted else math.nan
    after_last_window = max(ready_poll.values(), default=math.nan) - last_window
    lines += [
        "",
        f"`POST /clips/generate` burst: {burst.size} concurrent requests (distinct events, "
        f"now - {EVENT_AGE:g} s, {len(CAMERAS)} cameras), each on its own open connection:",
        "",
        "| Burst | Value |",
        "| --- | ---: |",
        f"| Acceptance latency p50 / p99 / max, ms | {ms(percentile(accept, 50))} / "
        f"{ms(percentile(accept, 99))} / {ms(max(accept))} |",
        f"| 202 / 200 / 429 / other | {statuses[202]} / {statuses[200]} / {statuses[429]} / "
        f"{other} |",
        f"| Before it, {burst.size} concurrent `GET /health` (opening the connections), "
        f"p50 / max, ms | {ms(percentile(burst.health, 50))} / {ms(max(burst.health))} |",
        f"| Clips ready (poll) / failed / accepted | {len(ready_poll)} / "
        f"{len(burst.failed())} / {len(burst.accepted)}"
        f"{' (timed out)' if burst.timed_out else ''} |",
        f"| All ready, s after the burst / after the last window closed | {secs(everything)} / "
        f"{secs(after_last_window)} |",
        f"| `GET /clips?start_date=…&limit={POLL_PAGE}` while clips build, "
        f"p50 / p99 / max, ms | {ms(percentile(burst.poll_latencies, 50))} / "
        f"{ms(percentile(burst.poll_latencies, 99))} / {ms(max(burst.poll_latencies))} |",
        "",
        "Clip latency, from the end of each event's window (event + post-buffer) to the clip "
        "being listed (s):",
        "",
        "| Measure | Clips | p50 | p99 | max |",
        "| --- | ---: | ---: | ---: | ---: |",
        latency_row("Listed (service's job listener)", burst.latency(ready_hook)),
        latency_row(f"Seen by the poller (every {POLL_INTERVAL:g} s)", burst.latency(ready_poll)),
        latency_row("… of which waiting for a free clip worker", burst.queue_wait()),
        latency_row("Build time per clip (worker start or window end → ready)", burst.build_time()),
        "",
        f"Machine: {info['nproc']} CPUs ({info['cpu']}), Python {info['python']}, "
        f"{info['platform']}, httpx {info['httpx']}.",
    ]
    return "\n".join(lines)


# ---- main ---------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clips", type=int, default=100_000, help="synthetic clips to index")
    parser.add_argument("--quick", action="store_true", help="50 requests per query, a burst of 40")
    parser.add_argument("--requests", type=int, help="requests per query (default 300)")
    parser.add_argument("--burst", type=int, help="concurrent generate requests (default 200)")
    parser.add_argument("--keep", action="store_true", help="keep the temp directory")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    requests = args.requests or (50 if args.quick else 300)
    burst_size = args.burst or (40 if args.quick else 200)
    ready_timeout = 300.0 if args.quick else 1200.0
    logging.basicConfig(level=logging.WARNING, format="   %(levelname)s %(name)s: %(message)s")
    info = machine()
    print(f"Machine: {info['nproc']} CPUs, {info['cpu']}; Python {info['python']}")
    print(f"Load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    rng = random.Random(SEED)
    work = Path(tempfile.mkdtemp(prefix="vms-bench-api-"))
    pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
    runtime: Runtime | None = None
    try:
        pool.submit(child_ready).result()  # its imports happen now, not in a measurement
        settings = load_settings(env_files=[], environ=service_environ(work))
        runtime = build_runtime(settings)
        newest = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)

        print(f"\n1. Catalogue: {args.clips:,} synthetic clips over {SPAN_DAYS} days")
        began = time.perf_counter()
        metas = synthetic_metas(args.clips, newest, rng)
        make_seconds = time.perf_counter() - began
        fill_seconds = fill_index(runtime.index, metas)
        print(f"   ClipMeta records built in {make_seconds:.2f} s, indexed in {fill_seconds:.2f} s")
        sample_size = min(len(metas), 1_000 if args.quick else 5_000)
        sample_seconds = sample_listing(metas[:sample_size], work / "sample")
        runtime.service.store = SyntheticStore(runtime.store, {m.event_id: m for m in metas})
        syncs = SyncWatch()
        syncs.attach(runtime.service)
        tracker = JobTracker()
        runtime.service.add_listener(tracker.on_job)

        began = time.perf_counter()
        runtime.start()
        api_seconds = time.perf_counter() - began
        assert runtime.api is not None
        if not syncs.first.wait(180):
            raise RuntimeError("the start-up catalogue sync did not finish in 180 s")
        first_sync = syncs.spans[0][1] - syncs.spans[0][0]
        indexed = runtime.index.count()
        print(
            f"   API at {runtime.api.base_url} after {api_seconds:.2f} s; start-up sync "
            f"{first_sync:.2f} s; {indexed:,} clips indexed"
        )
        if indexed != args.clips:
            raise RuntimeError(f"{indexed} clips indexed after the sync, {args.clips} expected")
        db_bytes = sum(path.stat().st_size for path in (work / "state").glob("catalogue.sqlite3*"))

        print(f"\n2. GET /clips, {requests} requests per query after {WARMUP} warm-up ones")
        if not nodelay(runtime):
            print("   note: TCP_NODELAY is off on the API's connections (listener proto 0)")
        plan, totals = query_plan(args.clips, requests, newest, rng)
        series = measure_queries(pool, runtime.api.base_url, plan, totals, syncs)
        for measured in series:
            values = measured.latencies
            print(
                f"   {measured.name:28s} p50 {ms(percentile(values, 50)):>7s} ms  "
                f"p95 {ms(percentile(values, 95)):>7s}  p99 {ms(percentile(values, 99)):>7s}  "
                f"max {ms(max(values)):>7s}  {len(values) / measured.wall:6.0f} req/s"
                + (f"  PROBLEMS: {measured.problems}" if measured.problems else "")
            )

        pre = runtime.settings.pre_event_buffer_seconds
        post = runtime.settings.post_event_buffer_seconds
        print(
            f"\n3. Generate burst: {burst_size} concurrent POST /clips/generate "
            f"(pre {pre:g} s, post {post:g} s, clip {runtime.settings.clip_width}x"
            f"{runtime.settings.clip_height}@{runtime.settings.clip_fps})"
        )
        wait_recording(runtime, pre + EVENT_AGE + 2)
        burst = generate_burst(pool, runtime, tracker, burst_size, ready_timeout)
        accept = burst.acceptance
        print(
            f"   acceptance p50 {ms(percentile(accept, 50))} ms, p99 "
            f"{ms(percentile(accept, 99))} ms, max {ms(max(accept))} ms; statuses "
            f"{dict(burst.statuses)}"
        )
        for event_id, status, _, _, note, retry in burst.results:
            if status not in (200, 202):
                print(f"   {event_id}: HTTP {status} (Retry-After {retry or '-'}) {note}")
                break
        failures = burst.failed()
        if failures:
            print(f"   {len(failures)} clips failed, e.g. {next(iter(failures.items()))}")
        clip_latency = burst.latency(burst.ready_hook())
        print(
            f"   {len(burst.seen)} ready; clip latency p50 {secs(percentile(clip_latency, 50))} s,"
            f" p99 {secs(percentile(clip_latency, 99))} s"
        )
        print(f"\nLoad average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")

        catalogue = Catalogue(
            args.clips,
            make_seconds,
            fill_seconds,
            db_bytes,
            api_seconds,
            first_sync,
            sample_size,
            sample_seconds,
            syncs,
            nodelay(runtime),
        )
        settings_line = (
            f"{len(CAMERAS)} demo cameras at 320x240 recording, local storage, "
            f"{runtime.service.max_pending} pending clips at most, "
            f"{len(tracker.workers)} clip worker threads seen"
        )
        print(f"\n4. Report ({dt.date.today().isoformat()}):\n")
        print(markdown(catalogue, series, burst, info, settings_line))
    finally:
        if runtime is not None:
            runtime.stop()
        pool.shutdown()
        if args.keep:
            print(f"\nKept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
