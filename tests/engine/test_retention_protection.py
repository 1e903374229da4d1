"""Footage pinned by clip builds and protected by bookmarks outlives retention, the budget and
a free-space squeeze, whatever the mix of ages, sizes and protections; the rest goes oldest first.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.engine.conftest import MOMENT
from tests.support.clocks import ManualClock
from vms_desktop.engine.free_space import FreeSpaceGuard
from vms_desktop.engine.segment_buffer import Segment, SegmentBuffer

BASE_MS = round(MOMENT * 1000)
LOTS = 1 << 60


@dataclass(frozen=True)
class CameraLayout:
    """One camera's closed files (start ms, end ms, bytes), protected spans and pin (UTC s)."""

    files: tuple[tuple[int, int, int], ...]
    protected: tuple[tuple[float, float], ...]
    pin: float | None


@st.composite
def camera_layouts(draw: st.DrawFn) -> CameraLayout:
    cursor = BASE_MS + draw(st.integers(0, 60_000))
    files = []
    for _ in range(draw(st.integers(0, 10))):
        cursor += draw(st.integers(0, 20_000))  # a hole, or none
        length = draw(st.integers(500, 4_000))
        files.append((cursor, cursor + length, draw(st.integers(1, 50_000))))
        cursor += length
    span_ms = max(cursor - BASE_MS, 1)
    protected = tuple(
        ((BASE_MS + low) / 1000, (BASE_MS + low + width) / 1000)
        for low, width in draw(
            st.lists(st.tuples(st.integers(0, span_ms), st.integers(0, 8_000)), max_size=3)
        )
    )
    pin = draw(st.none() | st.integers(0, span_ms).map(lambda ms: (BASE_MS + ms) / 1000))
    return CameraLayout(tuple(files), protected, pin)


def write_files(root: Path, camera_id: str, layout: CameraLayout) -> None:
    folder = root / camera_id
    folder.mkdir(parents=True)
    for start, end, size in layout.files:
        (folder / f"{start:013d}_{end:013d}.ts").write_bytes(b"\x47" * size)


def held(segment: Segment, layout: CameraLayout) -> bool:
    """Whether the engine must keep ``segment``: protected, or at or after a reader's pin."""
    protected = any(segment.end > low and segment.start <= high for low, high in layout.protected)
    return protected or (layout.pin is not None and segment.end > layout.pin)


def snapshot(buffers: dict[str, SegmentBuffer]) -> dict[Path, tuple[str, Segment]]:
    return {s.path: (camera_id, s) for camera_id, b in buffers.items() for s in b.segments()}


@settings(max_examples=120, deadline=None)
@given(
    layouts=st.lists(camera_layouts(), min_size=1, max_size=3),
    retention=st.integers(1, 120),
    age=st.integers(0, 200_000),
    budget=st.integers(0, 400_000),
)
def test_held_footage_survives_retention_budget_and_squeeze_and_the_rest_goes_oldest_first(
    layouts: list[CameraLayout], retention: int, age: int, budget: int
) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        clock = ManualClock(BASE_MS / 1000)  # before every file: loading prunes nothing
        plan = {f"cam{index}": layout for index, layout in enumerate(layouts)}
        buffers = {}
        for camera_id, layout in plan.items():
            write_files(root, camera_id, layout)
            buffers[camera_id] = SegmentBuffer(
                root,
                camera_id,
                retention_seconds=retention,
                max_bytes=LOTS,
                clock=clock,
                protected={f"b{k}": span for k, span in enumerate(layout.protected)},
            )
            if layout.pin is not None:
                buffers[camera_id].pin(layout.pin)
        everything = snapshot(buffers)
        assert len(everything) == sum(len(layout.files) for layout in layouts)
        must_keep = {path for path, (c, s) in everything.items() if held(s, plan[c])}

        # Retention: what is past it goes, unless held.
        last_end = max((end for layout in layouts for _, end, _ in layout.files), default=BASE_MS)
        now = clock.advance(last_end / 1000 - clock.now() + age / 1000)
        for buffer in buffers.values():
            buffer.prune()
        after_retention = snapshot(buffers)
        for path, (camera_id, segment) in everything.items():
            layout = plan[camera_id]
            pin = layout.pin if layout.pin is not None else float("inf")
            # Oldest first within the camera: nothing at or after the pin, nothing young.
            expected_gone = not held(segment, layout) and segment.end < now - retention
            expected_gone = expected_gone and segment.end <= pin
            assert (path not in after_retention) == expected_gone
            assert path.exists() == (not expected_gone)

        # The budget across cameras: the globally oldest evictable file goes first.
        # Room on the disk aplenty: only the budget binds here.
        guard = FreeSpaceGuard(
            root, list(buffers.values()), 0, max_total_bytes=budget, free_bytes=lambda _: LOTS
        )
        guard.check()
        after_budget = snapshot(buffers)
        evicted = [after_retention[p][1] for p in set(after_retention) - set(after_budget)]
        assert must_keep <= set(after_budget)
        assert all(path.exists() for path in after_budget)
        assert not any(segment.path.exists() for segment in evicted)
        unheld = [s for p, (_, s) in after_budget.items() if p not in must_keep]
        if evicted and unheld:
            assert max(s.start for s in evicted) <= min(s.start for s in unheld)
        used = sum(s.size for _, s in after_budget.values())
        status = guard.status()
        assert status.used_bytes == used
        assert status.over_budget == (used > budget)
        if unheld:
            assert used <= budget
        assert status.evicted_for_budget == len(evicted)

        # A squeeze that no eviction can relieve takes everything but the held footage.
        squeeze = FreeSpaceGuard(root, list(buffers.values()), LOTS, free_bytes=lambda _: 0)
        squeeze.check()
        assert set(snapshot(buffers)) == must_keep & set(after_budget)
        assert all(path.exists() for path in must_keep)
        assert squeeze.status().low


def test_a_budget_held_up_by_protected_footage_is_said_once_then_met_once_released(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    layout = CameraLayout(
        files=tuple((BASE_MS + k * 2_000, BASE_MS + (k + 1) * 2_000, 10_000) for k in range(6)),
        protected=(),
        pin=None,
    )
    write_files(tmp_path, "cam01", layout)
    clock = ManualClock(BASE_MS / 1000 + 12)
    buffer = SegmentBuffer(
        tmp_path,
        "cam01",
        retention_seconds=3600,
        clock=clock,
        protected={"gate": (MOMENT, MOMENT + 11)},  # every file
    )
    guard = FreeSpaceGuard(tmp_path, [buffer], 0, max_total_bytes=25_000)
    caplog.set_level(logging.INFO, logger="vms_desktop.engine.free_space")
    for _ in range(5):  # the maintainer's passes, and every segment that closes
        guard.check()
    assert guard.status().over_budget and guard.status().used_bytes == 60_000
    assert len(buffer.segments()) == 6
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "over its budget" in warnings[0].getMessage()

    buffer.release("gate")
    guard.check()
    guard.check()
    status = guard.status()
    assert not status.over_budget and status.used_bytes <= 25_000
    # Oldest first, with room left for the piece the camera writes next (none written yet by
    # this buffer, so none foreseen): the newest that fit are left.
    assert [s.start for s in buffer.segments()] == [MOMENT + 8, MOMENT + 10]
    assert [r.getMessage() for r in caplog.records if "within its budget" in r.getMessage()] == [
        "archive back within its budget"
    ]
