"""Archive playback speed: time to the first picture after a seek, and sequential play, vs ffmpeg.

A synthetic 1080p15 H.264 archive (2 s GOP) is recorded through the app's ``SegmentWriter``.
Each seek asks an :class:`~vms_desktop.engine.archive_decoder.ArchiveDecoder` for a fresh random
moment (behind the last one, or far ahead of it, so it reopens at a keyframe) and waits for the
picture; the reference is ``ffmpeg -ss T -i <the file holding T> -frames:v 1 -f null -`` on the
same bytes, which also decodes from the keyframe before T and drops pictures up to it.
"""

from __future__ import annotations

import argparse
import datetime
import os
import random
import statistics
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import av

from bench.clip_build import (
    CAMERA,
    RETENTION,
    SOURCE_FPS,
    SOURCE_H,
    SOURCE_W,
    choose_t0,
    ffmpeg,
    machine,
    make_reference,
)
from vms_desktop.domain.recording import ArchiveGap, ArchivePicture
from vms_desktop.engine.archive_decoder import FOLLOW_SECONDS, ArchiveDecoder
from vms_desktop.engine.segment_buffer import MAX_FILE_SECONDS, SegmentBuffer
from vms_desktop.engine.segment_writer import SegmentWriter

# The player's box: a 1080p picture fitted into it is 960x540.
BOX = (960, 540)
TARGET_P95 = 0.300


@dataclass
class Latencies:
    """Seconds to the first picture, one per seek."""

    values: list[float]

    def quantile(self, fraction: float) -> float:
        ordered = sorted(self.values)
        return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]

    @property
    def p50(self) -> float:
        return statistics.median(self.values)

    @property
    def p95(self) -> float:
        return self.quantile(0.95)

    @property
    def worst(self) -> float:
        return max(self.values)


class Viewer:
    """An archive decoder whose next outcome can be waited for."""

    def __init__(self, buffer: SegmentBuffer) -> None:
        self._arrived = threading.Event()
        self.outcome: ArchivePicture | ArchiveGap | str | None = None
        self.decoder = ArchiveDecoder(buffer, self._take, self._take, self._take)
        self.decoder.fit(*BOX)
        self.decoder.start()

    def _take(self, outcome: ArchivePicture | ArchiveGap | str) -> None:
        self.outcome = outcome
        self._arrived.set()

    def show(self, moment: float) -> ArchivePicture:
        self._arrived.clear()
        self.decoder.show(moment)
        if not self._arrived.wait(30):
            raise RuntimeError(f"no answer for {moment:.3f}")
        if not isinstance(self.outcome, ArchivePicture):
            raise RuntimeError(f"at {moment:.3f}: {self.outcome!r}")
        return self.outcome

    def close(self) -> None:
        self.decoder.close()
        self.decoder.join(10)


def seek_moments(start: float, end: float, count: int, seed: int) -> list[float]:
    """Random moments in ``[start, end)``, each behind the one before or far ahead of it."""
    chooser = random.Random(seed)
    moments: list[float] = []
    while len(moments) < count:
        moment = chooser.uniform(start, end)
        if moments and 0 <= moment - moments[-1] <= FOLLOW_SECONDS + 1:
            continue  # that would be playing on, not a seek
        moments.append(moment)
    return moments


def bench_ours(buffer: SegmentBuffer, moments: list[float]) -> tuple[Latencies, int]:
    viewer = Viewer(buffer)
    try:
        oldest = buffer.oldest
        assert oldest is not None
        viewer.show(oldest + 1.0)  # warm-up: libraries and the decoder's first set-up
        opened = viewer.decoder.opened_runs
        values: list[float] = []
        for moment in moments:
            began = time.perf_counter()
            picture = viewer.show(moment)
            values.append(time.perf_counter() - began)
            if not moment - 1 / SOURCE_FPS - 1e-3 <= picture.moment <= moment + 1e-3:
                raise RuntimeError(f"asked {moment:.3f}, shown {picture.moment:.3f}")
        return Latencies(values), viewer.decoder.opened_runs - opened
    finally:
        viewer.close()


def bench_cli(buffer: SegmentBuffer, moments: list[float]) -> Latencies:
    values: list[float] = []
    for moment in moments:
        segment = buffer.segment_at_or_before(moment)
        assert segment is not None
        # -ss before -i on MPEG-TS: relative to the file's first timestamp, decoded from the
        # keyframe before it with the pictures up to it dropped (accurate seek).
        command = ffmpeg(
            "-ss",
            f"{moment - segment.start:.3f}",
            "-i",
            str(segment.path),
            "-frames:v",
            "1",
            "-f",
            "null",
            "-",
        )
        began = time.perf_counter()
        subprocess.run(command, check=True)
        values.append(time.perf_counter() - began)
    return Latencies(values)


def cli_startup() -> float:
    """Wall seconds of the CLI making one tiny picture: its process start and set-up alone."""
    command = ffmpeg("-f", "lavfi", "-i", "color=size=16x16", "-frames:v", "1", "-f", "null", "-")
    best = float("inf")
    for _ in range(5):
        began = time.perf_counter()
        subprocess.run(command, check=True)
        best = min(best, time.perf_counter() - began)
    return best


@dataclass
class Sequential:
    pictures: int
    wall: float
    cpu: float
    opened: int

    @property
    def rate(self) -> float:
        return self.pictures / self.wall


def bench_sequential(buffer: SegmentBuffer, start: float, seconds: float) -> Sequential:
    """Every picture of ``seconds`` of footage in turn, each asked for once the last arrived."""
    viewer = Viewer(buffer)
    try:
        picture = viewer.show(start)
        opened = viewer.decoder.opened_runs
        count = 0
        began, cpu = time.perf_counter(), time.process_time()
        while picture.moment < start + seconds:
            picture = viewer.show(picture.moment + picture.frame_seconds)
            count += 1
        wall, used = time.perf_counter() - began, time.process_time() - cpu
        return Sequential(count, wall, used, viewer.decoder.opened_runs - opened)
    finally:
        viewer.close()


def ffmpeg_sequential(buffer: SegmentBuffer, start: float, seconds: float) -> float:
    """Wall seconds of the CLI decoding the same stretch and scaling it to the same size."""
    segments = [s for s in buffer.segments() if s.end > start and s.start < start + seconds]
    command = ffmpeg(
        "-i",
        "concat:" + "|".join(str(s.path) for s in segments),
        "-t",
        f"{seconds:.3f}",
        "-vf",
        f"scale={BOX[0]}:{BOX[1]},format=rgb24",
        "-f",
        "null",
        "-",
    )
    began = time.perf_counter()
    subprocess.run(command, check=True)
    return time.perf_counter() - began


def table(
    ours: Latencies, cli: Latencies, startup: float, play: Sequential, cli_play: float
) -> str:
    cli_rate = play.pictures / cli_play
    rows = [
        "| Measure | Ours (ArchiveDecoder) | ffmpeg CLI | Ours / CLI |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, mine, theirs in (
        ("p50", ours.p50, cli.p50),
        ("p95", ours.p95, cli.p95),
        ("max", ours.worst, cli.worst),
    ):
        rows.append(
            f"| Seek to first picture, {name}, ms | {mine * 1000:.0f} | {theirs * 1000:.0f} "
            f"| {mine / theirs:.2f} |"
        )
    rows += [
        f"| CLI process start alone (best of 5), ms | | {startup * 1000:.0f} | |",
        f"| Sequential play, 1080p → {BOX[0]}x{BOX[1]} RGB, pictures per wall second "
        f"| {play.rate:.1f} | {cli_rate:.1f} | {play.rate / cli_rate:.2f} |",
        f"| Sequential play, CPU s per picture (ours) | {play.cpu / play.pictures * 1000:.1f} ms "
        "| | |",
    ]
    return "\n".join(rows)


def record_archive(reference: Path, root: Path, t0: float, file_seconds: float) -> SegmentBuffer:
    """The reference's packets through the app's SegmentWriter, as a camera sending them at t0,
    into 2 s pieces and files of ``file_seconds``.
    """
    buffer = SegmentBuffer(root, CAMERA, retention_seconds=RETENTION, file_seconds=file_seconds)
    writer = SegmentWriter(buffer)
    with av.open(str(reference)) as container:
        video = container.streams.video[0]
        writer.start(video, None)
        first: float | None = None
        for packet in container.demux(video):
            if packet.pts is None or packet.dts is None:
                continue
            pts, dts = float(packet.pts * packet.time_base), float(packet.dts * packet.time_base)
            if first is None:
                first = dts
            writer.write(packet, t0 + pts - first, t0 + dts - first)
        writer.finish()
    return buffer


@dataclass
class Layout:
    """One way of laying the archive out in files, and what was measured on it."""

    name: str
    file_seconds: float


LAYOUTS = (
    Layout("files of one 2 s piece", 2.0),
    Layout("10-minute files of 2 s pieces (the app with a long retention)", MAX_FILE_SECONDS),
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=10.0, help="archive length (default 10)")
    parser.add_argument("--seeks", type=int, default=60, help="random seeks (default 60)")
    parser.add_argument("--play", type=float, default=20.0, help="seconds played in turn")
    parser.add_argument("--seed", type=int, default=20261203)
    parser.add_argument("--quick", action="store_true", help="a 2-minute archive, 20 seeks")
    parser.add_argument(
        "--reference", type=Path, help="the encoded input: used if present, else written there"
    )
    return parser.parse_args(argv)


def bench_layout(
    layout: Layout, reference: Path, work: Path, seconds: int, seeks: int, args: argparse.Namespace
) -> str:
    t0 = choose_t0(seconds)
    buffer = record_archive(
        reference, work / f"buffer-{layout.file_seconds:g}", t0, layout.file_seconds
    )
    files = buffer.segments()
    pieces = sum(len(buffer.pieces(f)) for f in files)
    size = sum(f.size for f in files)
    print(f"\n== {layout.name}: {len(files)} files, {pieces} pieces, {size / 1e6:.0f} MB")

    moments = seek_moments(t0 + 10, t0 + seconds - 2, seeks, args.seed)
    print(f"   {seeks} random seeks, fitted to {BOX[0]}x{BOX[1]}")
    ours, opened = bench_ours(buffer, moments)
    cli = bench_cli(buffer, moments)
    startup = cli_startup()
    print(
        f"   ours: p50 {ours.p50 * 1000:.0f} ms, p95 {ours.p95 * 1000:.0f} ms, max "
        f"{ours.worst * 1000:.0f} ms ({opened} opens for {seeks} seeks)"
    )
    print(
        f"   ffmpeg -ss: p50 {cli.p50 * 1000:.0f} ms, p95 {cli.p95 * 1000:.0f} ms, max "
        f"{cli.worst * 1000:.0f} ms (its process start alone: {startup * 1000:.0f} ms)"
    )
    verdict = "met" if ours.p95 < TARGET_P95 else "MISSED"
    print(f"   target p95 < {TARGET_P95 * 1000:.0f} ms: {verdict}")

    print(f"   sequential play of {args.play:g} s, each picture asked once the last came")
    play = bench_sequential(buffer, t0 + 30, args.play)
    cli_play = ffmpeg_sequential(buffer, t0 + 30, args.play)
    print(
        f"   ours: {play.pictures} pictures in {play.wall:.2f} s = {play.rate:.1f} per s "
        f"({play.cpu / play.pictures * 1000:.1f} ms CPU each, {play.opened} reopens); "
        f"ffmpeg decoding and scaling the same: {play.pictures / cli_play:.1f} per s"
    )
    return table(ours, cli, startup, play, cli_play)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    minutes = 2.0 if args.quick else args.minutes
    seeks = 20 if args.quick else args.seeks
    info = machine()
    print(
        f"Machine: {info['nproc']} CPUs, {info['cpu']}; Python {info['python']}; "
        f"PyAV {info['pyav']} (FFmpeg {info['pyav_ffmpeg']}); ffmpeg CLI {info['cli_ffmpeg']}"
    )
    print(f"Load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory(prefix="vms-bench-archive-") as scratch:
        work = Path(scratch)
        seconds = round(minutes * 60)
        reference = args.reference or work / "reference_1080p15.mp4"
        if reference.exists():
            with av.open(str(reference)) as container:
                seconds = int(container.duration / av.time_base)
            print(f"\n1. Input: {reference}, {seconds} s")
        else:
            print(f"\n1. Input: {seconds} s of {SOURCE_W}x{SOURCE_H}@{SOURCE_FPS}, 2 s GOP ...")
            made = time.perf_counter()
            make_reference(reference, seconds)
            print(f"   encoded in {time.perf_counter() - made:.0f} s")
        tables = [
            (layout, bench_layout(layout, reference, work, seconds, seeks, args))
            for layout in LAYOUTS
        ]
        print(f"\nLoad average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        for layout, text in tables:
            print(f"\n2. Table, {layout.name} ({datetime.date.today().isoformat()}):\n")
            print(text)


if __name__ == "__main__":
    main()
