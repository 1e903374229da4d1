"""Storage health: a hung store is reported within seconds, and again reachable once it answers."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.seaweedfs import SeaweedServer, s3_environment
from tests.support.service import start_service
from tests.support.waiting import wait_until
from vms_desktop.engine.health import PROBE_DEADLINE
from vms_desktop.runtime import Runtime

RuntimeFactory = Callable[..., Runtime]


@pytest.fixture
def make_runtime(tmp_path: Path) -> Iterator[RuntimeFactory]:
    """Starts services without cameras or API (only the health monitor matters here)."""
    started: list[Runtime] = []

    def make(**overrides: str) -> Runtime:
        runtime = start_service(
            tmp_path / f"svc{len(started)}", with_api=False, DEMO_CAMERA="off", **overrides
        )
        started.append(runtime)
        return runtime

    yield make
    for runtime in started:
        runtime.stop()


def slowest_read(read: Callable[[], object], times: int = 200) -> float:
    """The longest of ``times`` calls, in seconds."""
    worst = 0.0
    for _ in range(times):
        began = time.perf_counter()
        read()
        worst = max(worst, time.perf_counter() - began)
    return worst


def test_a_hung_store_is_seen_within_seconds_and_its_return_too(
    make_runtime: RuntimeFactory, private_seaweedfs: SeaweedServer
) -> None:
    health = make_runtime(**s3_environment(private_seaweedfs)).health
    wait_until(lambda: health.storage.reachable, 20, "S3 reachable")
    assert health.snapshot()["storage"]["reachable"] is True

    private_seaweedfs.freeze()  # accepts connections, never answers
    try:
        frozen = time.monotonic()
        wait_until(lambda: not health.storage.reachable, 15, "the hang seen")
        noticed = time.monotonic() - frozen
        # At most one probe interval until a probe starts, then its deadline.
        assert noticed < health.interval + PROBE_DEADLINE + 2, noticed
        snapshot = health.snapshot()
        assert snapshot["storage"]["reachable"] is False
        assert "not answering" in snapshot["storage"]["detail"]
        assert snapshot["status"] == "degraded"
        assert health.store_unavailable
        # Answered from memory while a probe waits on the hung store.
        assert slowest_read(health.snapshot) < 0.05
        print(f"hang seen after {noticed:.1f} s")
    finally:
        private_seaweedfs.thaw()
    thawed = time.monotonic()
    wait_until(lambda: health.storage.reachable, 15, "S3 reachable again")
    print(f"return seen after {time.monotonic() - thawed:.1f} s")
    assert not health.store_unavailable
    assert health.snapshot()["storage"]["reachable"] is True


def test_a_refused_connection_is_seen_and_the_restart_too(
    make_runtime: RuntimeFactory, private_seaweedfs: SeaweedServer
) -> None:
    health = make_runtime(**s3_environment(private_seaweedfs)).health
    wait_until(lambda: health.storage.reachable, 20, "S3 reachable")
    private_seaweedfs.kill()
    killed = time.monotonic()
    wait_until(lambda: not health.storage.reachable, 15, "the outage seen")
    assert time.monotonic() - killed < health.interval + PROBE_DEADLINE + 2
    assert "unreachable" in health.storage.detail
    private_seaweedfs.start()
    wait_until(lambda: health.storage.reachable, 20, "S3 reachable again")


def test_a_failed_operation_marks_the_store_until_a_later_probe_answers(
    make_runtime: RuntimeFactory, private_seaweedfs: SeaweedServer
) -> None:
    health = make_runtime(**s3_environment(private_seaweedfs)).health
    wait_until(lambda: health.storage.reachable, 20, "S3 reachable")
    recovered: list[float] = []
    health.on_store_recovered(lambda: recovered.append(time.monotonic()))
    health.store_failed("S3 is unreachable (could not read a clip's metadata)")
    # Seen at once, without waiting for a probe.
    assert not health.storage.reachable and health.store_unavailable
    assert health.storage.detail == "S3 is unreachable (could not read a clip's metadata)"
    # The store in fact answers: the probe the failure asked for clears it within a second or so.
    cleared = time.monotonic()
    wait_until(lambda: health.storage.reachable, 10, "the mark cleared")
    assert time.monotonic() - cleared < health.interval
    assert not health.store_unavailable
    # The upload queue is woken through this, instead of waiting out its back-off.
    wait_until(lambda: recovered, 5, "the recovery announced")
    assert len(recovered) == 1


def test_a_local_store_that_refuses_writes_is_not_taken_for_a_hung_one(
    make_runtime: RuntimeFactory,
) -> None:
    runtime = make_runtime()
    health = runtime.health
    wait_until(lambda: health.storage.reachable, 10, "local storage reachable")
    clips = runtime.settings.local_storage_path
    shutil.rmtree(clips)  # the mount went away
    clips.write_text("not a folder")
    try:
        wait_until(lambda: not health.storage.reachable, 15, "the lost folder seen")
        assert "not a folder" in health.storage.detail
        # It answered (with a refusal): calls to it fail fast on their own, so nothing is
        # refused on its behalf.
        assert not health.store_unavailable
    finally:
        clips.unlink()
        clips.mkdir()
    wait_until(lambda: health.storage.reachable, 15, "local storage back")
