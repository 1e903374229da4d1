"""The event-loop watchdog: lag figures, and every stack written out while the loop is stuck."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from vms_desktop.loop_watchdog import LoopWatchdog


def test_a_stalled_loop_leaves_every_stack_and_is_counted(tmp_path: Path) -> None:
    dump = tmp_path / "stacks.txt"
    with dump.open("w") as file:
        watchdog = LoopWatchdog(stall_seconds=0.5, interval=0.05, file=file)

        def stuck_in_a_blocking_call() -> None:
            time.sleep(1.2)  # what a route or a slot must never do

        async def scenario() -> None:
            watchdog.start(asyncio.get_running_loop())
            await asyncio.sleep(0.3)
            asyncio.get_running_loop().call_soon(stuck_in_a_blocking_call)
            await asyncio.sleep(0.5)
            watchdog.stop()

        asyncio.run(scenario())
    text = dump.read_text()
    # Written by faulthandler's own thread while the loop was still blocked.
    assert "Timeout (0:00:00.500000)!" in text
    assert "stuck_in_a_blocking_call" in text
    stats = watchdog.stats()
    assert stats.stalls == 1
    assert stats.lag_max_ms >= 600
    assert stats.lag_p50_ms < 50
    assert "1 stalls" in stats.describe()


def test_a_healthy_loop_never_dumps(tmp_path: Path) -> None:
    dump = tmp_path / "stacks.txt"
    with dump.open("w") as file:
        watchdog = LoopWatchdog(stall_seconds=0.5, interval=0.02, file=file)

        async def scenario() -> None:
            watchdog.start(asyncio.get_running_loop())
            for _ in range(20):
                await asyncio.sleep(0.05)
            watchdog.stop()

        asyncio.run(scenario())
        time.sleep(0.7)  # past the stall time: a timer left armed would fire now
    assert dump.read_text() == ""
    stats = watchdog.stats()
    assert stats.stalls == 0 and stats.beats > 10
