"""The API's worker pools: results come back, admission is bounded, a full pool refuses at once."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from tests.support.waiting import wait_until
from vms_desktop.api.offload import PoolFullError, WorkerPool


def test_results_and_errors_come_back_on_the_loop() -> None:
    pool = WorkerPool("test", threads=2, max_waiting=2)

    def fail() -> None:
        raise KeyError("no such clip")

    async def main() -> None:
        assert await pool.run(lambda a, b: a + b, 2, 3) == 5
        assert await pool.run(threading.current_thread) is not threading.main_thread()
        with pytest.raises(KeyError):
            await pool.run(fail)

    asyncio.run(main())
    pool.close()


def test_a_full_pool_refuses_at_once_and_frees_its_places_when_calls_end() -> None:
    pool = WorkerPool("store", threads=1, max_waiting=1)
    release = threading.Event()
    started = threading.Event()

    def hang() -> str:
        started.set()
        release.wait(30)
        return "answered"

    async def main() -> None:
        running = asyncio.ensure_future(pool.run(hang))
        waiting = asyncio.ensure_future(pool.run(lambda: "queued"))
        await asyncio.sleep(0)
        assert await asyncio.to_thread(started.wait, 10)
        began = time.perf_counter()
        with pytest.raises(PoolFullError):
            await pool.run(lambda: "refused")
        assert time.perf_counter() - began < 0.05
        assert pool.admitted == 2
        release.set()
        assert await running == "answered" and await waiting == "queued"
        assert pool.admitted == 0
        assert await pool.run(lambda: "room again") == "room again"

    asyncio.run(main())
    pool.close()


def test_a_call_stays_counted_after_its_caller_gave_up() -> None:
    # A request cancelled by its client does not free the thread a hung store call holds.
    pool = WorkerPool("store", threads=1, max_waiting=0)
    release = threading.Event()

    async def main() -> None:
        call = asyncio.ensure_future(pool.run(release.wait, 30))
        await asyncio.sleep(0.05)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        with pytest.raises(PoolFullError):
            await pool.run(lambda: None)

    asyncio.run(main())
    release.set()
    wait_until(lambda: pool.admitted == 0, 10, "the hung call to end")
    pool.close()


def test_a_call_cancelled_before_it_starts_never_runs() -> None:
    pool = WorkerPool("store", threads=1, max_waiting=1)
    release = threading.Event()
    ran: list[str] = []

    async def main() -> None:
        first = asyncio.ensure_future(pool.run(release.wait, 30))
        second = asyncio.ensure_future(pool.run(ran.append, "second"))
        await asyncio.sleep(0.05)
        second.cancel()
        with pytest.raises(asyncio.CancelledError):
            await second
        release.set()
        assert await first is True

    asyncio.run(main())
    wait_until(lambda: pool.admitted == 0, 10, "the pool to drain")
    assert ran == []
    pool.close()


def test_threads_are_daemons_started_on_demand_and_closed() -> None:
    pool = WorkerPool("local", threads=3, max_waiting=0)
    before = {t.name for t in threading.enumerate()}
    asyncio.run(pool.run(lambda: None))
    mine = [t for t in threading.enumerate() if t.name.startswith("api-local-")]
    assert len(mine) == 1 and mine[0].daemon and mine[0].name not in before
    pool.close()
    wait_until(lambda: not mine[0].is_alive(), 10, "the thread to end")
    with pytest.raises(PoolFullError):
        asyncio.run(pool.run(lambda: None))
