"""Archive index benchmark: start-up, memory and lookups over a synthetic month of 16 cameras.

The archive is laid out exactly as the recorder writes it (ten-minute footage files named by
their start and end, each with its piece index of two-second pieces), with the footage files
sparse so the benchmark needs little disk. Printed beside it, as the reference, the layout of
one file per two-second piece (the buffer before it became an archive), measured on one camera
for one day and scaled to the same month.

    python bench/archive_index.py [--cameras 16] [--days 30] [--keep DIR]
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import resource
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from vms_desktop.engine.archive import Archive
from vms_desktop.engine.archive_files import PieceStart, closed_name, encode_entry, index_path
from vms_desktop.engine.clock import WallClock
from vms_desktop.engine.segment_buffer import SegmentBuffer

FILE_SECONDS = 600.0
PIECE_SECONDS = 2.0
BYTES_PER_SECOND = 250_000  # 2 Mbit/s
# A fixed origin: the figures must not depend on today's date.
ORIGIN = 1_790_000_000.0


def write_archive(root: Path, cameras: int, days: float, file_seconds: float) -> int:
    """Lay out ``days`` of footage for ``cameras`` cameras; returns the number of files."""
    count = 0
    pieces = round(file_seconds / PIECE_SECONDS)
    piece_bytes = round(PIECE_SECONDS * BYTES_PER_SECOND)
    for camera in range(cameras):
        directory = root / f"cam{camera:02d}"
        directory.mkdir(parents=True)
        start = ORIGIN
        end_of_archive = ORIGIN + days * 86400
        while start < end_of_archive:
            end = start + file_seconds
            path = directory / closed_name(start, end, pieces * piece_bytes)
            with open(path, "wb") as footage:
                footage.truncate(pieces * piece_bytes)  # sparse: sizes as real, no blocks
            if pieces > 1:
                index_path(directory, start).write_bytes(
                    b"".join(
                        encode_entry(PieceStart(start + k * PIECE_SECONDS, k * piece_bytes))
                        for k in range(pieces)
                    )
                )
            count += 1
            start = end
    return count


def rss_mb() -> float:
    """Resident memory of this process now, in MB."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def drop_caches() -> bool:
    """Empty the kernel's page and directory caches (root only), for a cold start-up."""
    try:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def open_archive(
    root: Path, cameras: int, days: float, file_seconds: float
) -> tuple[dict[str, SegmentBuffer], float, float]:
    """Open every camera's buffer as the recorder does at start-up: (buffers, seconds, MB)."""
    gc.collect()
    before = rss_mb()
    clock = WallClock(start=ORIGIN + days * 86400 + 60)
    started = time.perf_counter()
    buffers = {
        f"cam{camera:02d}": SegmentBuffer(
            root,
            f"cam{camera:02d}",
            retention_seconds=(days + 1) * 86400,
            max_bytes=1 << 50,
            segment_seconds=PIECE_SECONDS,
            file_seconds=file_seconds,
            clock=clock,
        )
        for camera in range(cameras)
    }
    seconds = time.perf_counter() - started
    gc.collect()
    return buffers, seconds, rss_mb() - before


def percentiles(samples: list[float]) -> tuple[float, float, float]:
    """p50, p99 and max of ``samples``."""
    ordered = sorted(samples)
    return (
        statistics.median(ordered),
        ordered[min(len(ordered) - 1, round(len(ordered) * 0.99))],
        ordered[-1],
    )


def time_lookups(
    buffers: dict[str, SegmentBuffer], days: float, rounds: int
) -> dict[str, tuple[float, float, float]]:
    """Microseconds per lookup of random windows, by kind of lookup."""
    rng = random.Random(7)
    archive = Archive(buffers)
    names = sorted(buffers)
    figures: dict[str, list[float]] = {
        "covering 1 min": [],
        "coverage 1 h": [],
        "media spans 1 h": [],
    }
    for _ in range(rounds):
        camera = rng.choice(names)
        start = ORIGIN + rng.uniform(0, days * 86400 - 3600)
        began = time.perf_counter()
        buffers[camera].covering(start, start + 60)
        figures["covering 1 min"].append(time.perf_counter() - began)
        began = time.perf_counter()
        archive.coverage(camera, start, start + 3600)
        figures["coverage 1 h"].append(time.perf_counter() - began)
        began = time.perf_counter()
        archive.media_spans(camera, start, start + 3600)
        figures["media spans 1 h"].append(time.perf_counter() - began)
    return {kind: tuple(s * 1e6 for s in percentiles(v)) for kind, v in figures.items()}  # type: ignore[misc]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cameras", type=int, default=16)
    parser.add_argument("--days", type=float, default=30.0)
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--keep", type=Path, help="build the archive here and keep it")
    args = parser.parse_args()
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="archive-bench-"))
    try:
        root = workdir / "archive"
        reference = workdir / "pieces"
        began = time.perf_counter()
        files = write_archive(root, args.cameras, args.days, FILE_SECONDS)
        print(
            f"archive: {args.cameras} cameras x {args.days:g} days, {files:,} footage files "
            f"(+ piece indexes) written in {time.perf_counter() - began:.1f} s"
        )
        one_day_files = write_archive(reference, 1, 1.0, PIECE_SECONDS)
        scale = args.cameras * args.days

        cold = drop_caches()
        buffers, startup, memory = open_archive(root, args.cameras, args.days, FILE_SECONDS)
        warm_buffers, warm_startup, _ = open_archive(root, args.cameras, args.days, FILE_SECONDS)
        del warm_buffers
        drop_caches()
        _, ref_startup, ref_memory = open_archive(reference, 1, 1.0, PIECE_SECONDS)
        lookups = time_lookups(buffers, args.days, args.rounds)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

        print()
        print(f"{'':32}{'files of 10 min':>18}{'file per 2 s piece':>22}{'ratio':>8}")
        print(
            f"{'files':32}{files:>18,}{round(one_day_files * scale):>22,}"
            f"{one_day_files * scale / files:>7.0f}x"
        )
        print(
            f"{'start-up, ' + ('cold cache' if cold else 'cache not dropped'):32}"
            f"{startup:>16.2f} s{ref_startup * scale:>20.1f} s"
            f"{ref_startup * scale / startup:>7.0f}x   (reference: 1 camera-day x {scale:g})"
        )
        print(f"{'start-up, warm cache':32}{warm_startup:>16.2f} s")
        print(
            f"{'index memory':32}{memory:>15.1f} MB{ref_memory * scale:>19.0f} MB"
            f"{ref_memory * scale / max(memory, 0.1):>7.0f}x"
        )
        print(f"{'peak RSS of the benchmark':32}{peak:>15.0f} MB")
        for kind, (p50, p99, worst) in lookups.items():
            print(f"{kind + ' (p50/p99/max)':32}{p50:>9.1f}/{p99:.1f}/{worst:.0f} us")
    finally:
        if args.keep is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
