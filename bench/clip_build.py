"""Clip build and ingest cost of the engine, side by side with the ffmpeg CLI on the same input."""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import math
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av

from vms_desktop.engine.segment_buffer import (
    TS_HZ,
    TS_WRAP,
    Segment,
    SegmentBuffer,
    to_ts,
)
from vms_desktop.engine.segment_writer import SegmentWriter

REPO = Path(__file__).resolve().parents[1]
CAMERA = "bench"
# The reference footage is stamped minutes in the past; a long retention keeps the children's
# start-up prune from deleting it however long the benchmark runs.
RETENTION = 7 * 86400.0
SOURCE_W, SOURCE_H, SOURCE_FPS = 1920, 1080, 15
GOP_FRAMES = 2 * SOURCE_FPS
# Where the clip window opens inside the footage: mid-segment, so both sides decode and drop
# the pictures between the segment's keyframe and the window start, as a real event does.
WINDOW_LEAD = 3.3
LOAD_TARGET = 0.8
CORES = 2


@dataclass
class Run:
    """One measured child process."""

    wall: float
    cpu: float
    stdout: str
    # Voluntary context switches: how often the process went to sleep and was woken.
    sleeps: int
    report: dict[str, Any] = field(default_factory=dict)
    # (seconds since start, CPU seconds so far) read while the process ran.
    samples: list[tuple[float, float]] = field(default_factory=list)

    def rate(self) -> float:
        """CPU seconds per second between the first and last sample."""
        (t1, cpu1), (t2, cpu2) = self.samples[0], self.samples[-1]
        return (cpu2 - cpu1) / (t2 - t1)


@dataclass
class Best:
    """Best-of-N wall and CPU seconds of one contender (each minimum taken independently)."""

    runs: list[Run]

    @property
    def wall(self) -> float:
        return min(r.wall for r in self.runs)

    @property
    def cpu(self) -> float:
        return min(r.cpu for r in self.runs)

    @property
    def build_wall(self) -> float:
        """Best wall time of ClipBuilder.build alone, as the child measured it."""
        return min(float(r.report.get("build_wall", math.inf)) for r in self.runs)

    @property
    def build_cpu(self) -> float:
        """Best CPU time of ClipBuilder.build alone, as the child measured it."""
        return min(float(r.report.get("build_cpu", math.inf)) for r in self.runs)

    @property
    def startup_cpu(self) -> float:
        """CPU the child spent starting Python and importing, before the build began."""
        return min(float(r.report.get("startup_cpu", math.inf)) for r in self.runs)


# ---- measuring ----------------------------------------------------------------------------


def child_env() -> dict[str, str]:
    # Children must import this checkout, not whatever else the environment would find.
    env = dict(os.environ)
    paths = [str(REPO), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


def running_cpu(pid: int) -> float:
    """CPU seconds a live process's threads have run so far, to the nanosecond.

    rusage only exists once a process has been reaped and /proc's stat counts in 10 ms ticks;
    schedstat is exact, which matters when a camera costs a few milliseconds a second.
    """
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError, ValueError, IndexError):
            total += int((task / "schedstat").read_text().split()[0])
    return total / 1e9


def measure(command: list[str], workdir: Path, sample_at: tuple[float, ...] = ()) -> Run:
    """Run ``command`` to completion; its own user+sys CPU comes from wait4, not a sum of all."""
    samples: list[tuple[float, float]] = []
    with tempfile.TemporaryFile(dir=workdir) as out, tempfile.TemporaryFile(dir=workdir) as err:
        started = time.perf_counter()
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=child_env()
        )
        for moment in sample_at:
            time.sleep(max(0.0, started + moment - time.perf_counter()))
            # WNOWAIT: look without reaping, so wait4 below still gets the rusage.
            if os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None:
                samples.append((time.perf_counter() - started, running_cpu(process.pid)))
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        # Popen must not wait for a child wait4 has already reaped.
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")
    if process.returncode != 0:
        raise RuntimeError(f"{command[0]} failed ({process.returncode}):\n{stderr[-3000:]}")
    report: dict[str, Any] = {}
    for line in reversed(stdout.splitlines()):
        if line.startswith("{"):
            report = json.loads(line)
            break
    return Run(
        wall=wall,
        cpu=usage.ru_utime + usage.ru_stime,
        stdout=stdout,
        sleeps=usage.ru_nvcsw,
        report=report,
        samples=samples,
    )


def ffmpeg(*args: str) -> list[str]:
    return ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args]


def probe(path: Path) -> dict[str, Any]:
    """Frames (decoded and counted), size and duration of a video file, via ffprobe."""
    result = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-count_frames",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=codec_name,profile,width,height,avg_frame_rate,nb_read_frames"
            ":format=duration,size,bit_rate",
            "-of",
            "json",
            str(path),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    data = json.loads(result.stdout)
    stream, fmt = data["streams"][0], data["format"]
    return {
        "codec": stream.get("codec_name"),
        "profile": stream.get("profile", ""),
        "width": int(stream["width"]),
        "height": int(stream["height"]),
        "fps": stream.get("avg_frame_rate"),
        "frames": int(stream.get("nb_read_frames", 0)),
        "duration": float(fmt.get("duration", 0.0)),
        "size": int(fmt["size"]),
        "kbps": int(fmt.get("bit_rate", 0)) / 1000,
        "x264": x264_core(path),
    }


def x264_core(path: Path) -> str:
    """The x264 build that wrote a file, from the version string x264 leaves in the stream."""
    with path.open("rb") as handle:
        found = re.search(rb"x264 - core (\d+)", handle.read(1 << 20))
    return found.group(1).decode() if found else "?"


# ---- reference input ----------------------------------------------------------------------


def make_reference(path: Path, seconds: float) -> None:
    """A camera-like 1080p15 H.264 file: fixed 2 s GOP, no B-frames, ~4 Mbit/s, busy picture."""
    source = (
        f"testsrc2=size={SOURCE_W}x{SOURCE_H}:rate={SOURCE_FPS},"
        # Temporal noise stands in for sensor grain: without it the synthetic picture would
        # compress far better than a camera's, making decoding unrealistically cheap.
        "noise=alls=10:allf=t+u,format=yuv420p"
    )
    subprocess.run(
        ffmpeg(
            "-f",
            "lavfi",
            "-i",
            source,
            "-t",
            f"{seconds:.3f}",
            "-c:v",
            "libx264",
            "-preset",
            "faster",
            "-profile:v",
            "main",
            "-b:v",
            "4M",
            "-maxrate",
            "4M",
            "-bufsize",
            "4M",
            "-g",
            str(GOP_FRAMES),
            "-keyint_min",
            str(GOP_FRAMES),
            # Cameras emit keyframes on a fixed cadence, not on scene changes.
            "-sc_threshold",
            "0",
            "-bf",
            "0",
            "-movflags",
            "+faststart",
            str(path),
        ),
        check=True,
    )


def choose_t0(span: float) -> float:
    """A recent UTC start whose 90 kHz timestamps do not wrap within ``span`` seconds.

    The CLI reads the concatenated segments' raw 33-bit timestamps (-copyts), so a wrap inside
    the window would make the same trim mean different things to the two contenders.
    """
    t0 = math.floor(time.time()) - span - 300.0
    while to_ts(t0) // TS_WRAP != to_ts(t0 + span + 60.0) // TS_WRAP:
        t0 -= span + 120.0
    return t0


def record_reference(reference: Path, root: Path, t0: float) -> SegmentBuffer:
    """Feed the file's packets through the app's SegmentWriter as if a camera sent them at t0."""
    buffer = SegmentBuffer(root, CAMERA, retention_seconds=RETENTION)
    writer = SegmentWriter(buffer)
    with av.open(str(reference)) as container:
        video = container.streams.video[0]
        writer.start(video, None)
        first: float | None = None
        for packet in container.demux(video):
            if packet.pts is None or packet.dts is None:
                continue
            base = packet.time_base
            pts, dts = float(packet.pts * base), float(packet.dts * base)
            if first is None:
                first = dts
            writer.write(packet, t0 + pts - first, t0 + dts - first)
        writer.finish()
    return buffer


def describe_segments(segments: list[Segment]) -> str:
    durations = [s.duration for s in segments]
    total = sum(s.size for s in segments)
    seconds = sum(durations)
    return (
        f"{len(segments)} segments, {min(durations):.2f}-{max(durations):.2f} s each "
        f"(mean {seconds / len(segments):.2f} s), {seconds:.1f} s, "
        f"{total / 1e6:.1f} MB = {total * 8 / seconds / 1e6:.2f} Mbit/s"
    )


# ---- clip build ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """The clip job both contenders do."""

    event_time: float
    pre: float
    post: float

    @property
    def start(self) -> float:
        return self.event_time - self.pre

    @property
    def end(self) -> float:
        return self.event_time + self.post


def ours_command(root: Path, window: Window, destination: Path) -> list[str]:
    return [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        "clip",
        "--child-args",
        json.dumps(
            {
                "root": str(root),
                "event_time": window.event_time,
                "pre": window.pre,
                "post": window.post,
                "destination": str(destination),
            }
        ),
    ]


def ffmpeg_clip_command(buffer: SegmentBuffer, window: Window, destination: Path) -> list[str]:
    first = buffer.segment_at_or_before(window.start)
    if first is None:
        raise RuntimeError("no segment at or before the window start")
    # The same segments the builder's SegmentStream walks through: from the one holding the
    # window start until the one holding its end.
    chosen = [s for s in buffer.segments() if s.start >= first.start and s.start < window.end]
    # Raw 33-bit times, as the demuxer sees them with -copyts.
    start = (to_ts(window.start) % TS_WRAP) / TS_HZ
    end = (to_ts(window.end) % TS_WRAP) / TS_HZ
    chain = (
        f"trim=start={start:.6f}:end={end:.6f},setpts=PTS-STARTPTS,fps=15,"
        "scale=640:480:force_original_aspect_ratio=decrease,pad=640:480:(ow-iw)/2:(oh-ih)/2"
    )
    return ffmpeg(
        "-copyts",
        "-i",
        "concat:" + "|".join(str(s.path) for s in chosen),
        "-map",
        "0:v:0",
        "-an",
        "-vf",
        chain,
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-crf",
        "23",
        "-g",
        "15",
        "-pix_fmt",
        "yuv420p",
        "-movflags",
        "+faststart",
        str(destination),
    )


def child_clip(args: dict[str, Any]) -> None:
    """Runs inside the measured process: one ClipBuilder.build, as the app does it."""
    imported = time.process_time()
    from vms_desktop.engine.clip_builder import ClipBuilder, ClipSpec

    spec = ClipSpec(pre_seconds=args["pre"], post_seconds=args["post"])
    buffer = SegmentBuffer(Path(args["root"]), CAMERA, retention_seconds=RETENTION)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    result = ClipBuilder(buffer).build(args["event_time"], spec, Path(args["destination"]))
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    print(
        json.dumps(
            {
                "build_wall": wall,
                "build_cpu": cpu,
                "startup_cpu": cpu0,
                "import_cpu": cpu0 - imported,
                "frames": result.frames,
                "size": result.size,
                "gaps": len(result.gaps),
            }
        )
    )


def bench_clip(
    buffer: SegmentBuffer, window: Window, work: Path, runs: int
) -> tuple[Best, Best, dict[str, Any], dict[str, Any]]:
    ours_out, cli_out = work / "clip_ours.mp4", work / "clip_ffmpeg.mp4"
    ours: list[Run] = []
    cli: list[Run] = []
    # Alternating the contenders spreads any background load on the machine over both.
    for index in range(runs):
        for name, runs_of, command, destination in (
            ("ours", ours, ours_command(buffer.directory.parent, window, ours_out), ours_out),
            ("ffmpeg", cli, ffmpeg_clip_command(buffer, window, cli_out), cli_out),
        ):
            destination.unlink(missing_ok=True)
            run = measure(command, work)
            runs_of.append(run)
            extra = ""
            if run.report:
                extra = (
                    f"  (in-process build {run.report['build_wall']:.2f} s wall, "
                    f"{run.report['build_cpu']:.2f} s CPU; start-up+imports "
                    f"{run.report['startup_cpu']:.2f} s CPU, of which importing clip_builder "
                    f"{run.report['import_cpu']:.2f} s)"
                )
            figures = f"wall {run.wall:6.2f} s  CPU {run.cpu:6.2f} s"
            print(f"  run {index + 1} {name:6s} {figures}{extra}")
    return Best(ours), Best(cli), probe(ours_out), probe(cli_out)


# ---- ingest -------------------------------------------------------------------------------


def child_ingest(args: dict[str, Any]) -> None:
    """Runs inside the measured process: one CameraWorker recording the looped file."""
    from vms_desktop.domain.camera import CameraConfig
    from vms_desktop.engine.camera_worker import CameraWorker

    buffer = SegmentBuffer(Path(args["root"]), "ingest", retention_seconds=RETENTION)
    worker = CameraWorker(CameraConfig("ingest", args["source"]), buffer)
    before = resource.getrusage(resource.RUSAGE_SELF)
    wall0 = time.perf_counter()
    worker.start()
    time.sleep(args["seconds"])
    worker.stop(timeout=30)
    wall = time.perf_counter() - wall0
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    segments = buffer.segments()
    print(
        json.dumps(
            {
                "wall": wall,
                "cpu": cpu,
                "footage": sum(s.duration for s in segments),
                "segments": len(segments),
                "bytes": sum(s.size for s in segments),
                "state": worker.status.state.value,
            }
        )
    )


def ffmpeg_ingest_command(source: Path, seconds: float, directory: Path) -> list[str]:
    directory.mkdir(parents=True, exist_ok=True)
    return ffmpeg(
        "-re",
        "-stream_loop",
        "-1",
        "-i",
        str(source),
        "-map",
        "0:v:0",
        "-c",
        "copy",
        "-t",
        f"{seconds:g}",
        "-f",
        "segment",
        "-segment_time",
        "2",
        "-segment_format",
        "mpegts",
        str(directory / "%06d.ts"),
    )


@dataclass
class Ingest:
    """Steady CPU seconds per second of footage, ours and the CLI's."""

    ours: float
    cli: float

    @property
    def cameras(self) -> int:
        return math.floor(CORES * LOAD_TARGET / self.ours) if self.ours > 0 else 0

    @property
    def cli_cameras(self) -> int:
        return math.floor(CORES * LOAD_TARGET / self.cli) if self.cli > 0 else 0


def ours_ingest_command(reference: Path, seconds: float, root: Path) -> list[str]:
    return [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        "ingest",
        "--child-args",
        json.dumps({"root": str(root), "source": str(reference), "seconds": seconds}),
    ]


def bench_ingest(reference: Path, seconds: float, work: Path, runs: int) -> Ingest:
    # The steady cost is read from the running process between a warm-up and just before the
    # end: start-up (an interpreter and imports for us, a few milliseconds for the CLI) is
    # paid once by a long-running app, not per second of footage, and would swamp a figure
    # of a few milliseconds a second.
    warm_up = 4.0 if seconds >= 16 else 2.0
    sample_at = (warm_up, seconds - 0.5)
    found: dict[str, list[Run]] = {"ours": [], "ffmpeg": []}
    for index in range(runs):
        for name, make in (("ours", ours_ingest_command), ("ffmpeg", ffmpeg_ingest_command)):
            target = work / f"ingest_{name}_{index}"
            run = measure(make(reference, seconds, target), work, sample_at)
            found[name].append(run)
            print(
                f"  run {index + 1} {name:6s} steady {run.rate() * 100:.2f} % of a core, "
                f"whole process {run.cpu:.3f} s CPU in {run.wall:.1f} s, "
                f"{run.sleeps / seconds:.0f} wake-ups/s"
            )
    ours = min(r.rate() for r in found["ours"])
    cli = min(r.rate() for r in found["ffmpeg"])
    report = found["ours"][0].report
    files = sorted((work / "ingest_ffmpeg_0").glob("*.ts"))
    print(
        f"   ours recorded {report['footage']:.1f} s of footage in {report['segments']} segments "
        f"({report['bytes'] / 1e6:.1f} MB) per run, the CLI {len(files)} segments"
    )
    print(
        f"   steady (best of {runs}, from {warm_up:g} s to {seconds - 0.5:g} s): ours "
        f"{ours * 100:.2f} % of one core per camera, ffmpeg {cli * 100:.2f} %, "
        f"ours/ffmpeg {ratio(ours, cli)}"
    )
    return Ingest(ours=ours, cli=cli)


# ---- machine and report -------------------------------------------------------------------


def machine() -> dict[str, str]:
    model = "?"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as handle:
        for line in handle:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    cli = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True, check=False)
    cli_version = cli.stdout.split()[2] if cli.stdout.startswith("ffmpeg version") else "?"
    return {
        "nproc": str(len(os.sched_getaffinity(0))),
        "cpu": model,
        "python": platform.python_version(),
        "pyav": av.__version__,
        "pyav_ffmpeg": str(getattr(av, "ffmpeg_version_info", "?")),
        "cli_ffmpeg": cli_version,
    }


def ratio(ours: float, theirs: float) -> str:
    return f"{ours / theirs:.2f}" if theirs > 0 else "-"


def table(
    spec_seconds: float,
    runs: int,
    ours: Best,
    cli: Best,
    ours_probe: dict[str, Any],
    cli_probe: dict[str, Any],
    ingest: Ingest | None,
    info: dict[str, str],
) -> str:
    best = f"best of {runs}"
    rows = [
        "| Measure | Ours (vms_desktop) | ffmpeg CLI | Ours / CLI |",
        "| --- | ---: | ---: | ---: |",
        f"| Clip build, {spec_seconds:g} s 1080p15 → 640x480@15, wall s ({best}) "
        f"| {ours.wall:.2f} | {cli.wall:.2f} | {ratio(ours.wall, cli.wall)} |",
        f"| Clip build, CPU s user+sys ({best}) "
        f"| {ours.cpu:.2f} | {cli.cpu:.2f} | {ratio(ours.cpu, cli.cpu)} |",
        f"| Clip build, ours in-process (build only, no interpreter start-up), wall s "
        f"| {ours.build_wall:.2f} | {cli.wall:.2f} | {ratio(ours.build_wall, cli.wall)} |",
        f"| Clip build, ours in-process, CPU s "
        f"| {ours.build_cpu:.2f} | {cli.cpu:.2f} | {ratio(ours.build_cpu, cli.cpu)} |",
        f"| Clip frames (ffprobe) | {ours_probe['frames']} | {cli_probe['frames']} | |",
        f"| Clip size, kB | {ours_probe['size'] / 1000:.0f} | {cli_probe['size'] / 1000:.0f} "
        f"| {ratio(ours_probe['size'], cli_probe['size'])} |",
    ]
    if ingest is not None:
        rows += [
            f"| Ingest 1080p15 4 Mbit/s stream copy, steady % of one core per camera "
            f"| {ingest.ours * 100:.2f} | {ingest.cli * 100:.2f} "
            f"| {ratio(ingest.ours, ingest.cli)} |",
            f"| Such cameras on {CORES} cores at {LOAD_TARGET:.0%} load (CPU only) "
            f"| {ingest.cameras} | {ingest.cli_cameras} | |",
        ]
    rows.append("")
    rows.append(
        f"Machine: {info['nproc']} CPUs ({info['cpu']}), Python {info['python']}, "
        f"PyAV {info['pyav']} (FFmpeg {info['pyav_ffmpeg']}, x264 core {ours_probe['x264']}), "
        f"ffmpeg CLI {info['cli_ffmpeg']} (x264 core {cli_probe['x264']})."
    )
    return "\n".join(rows)


# ---- main ---------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--seconds", type=float, default=None, help="clip length (default 30, --quick 10)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp directory")
    parser.add_argument(
        "--quick", action="store_true", help="one run per contender, 10 s clip, 8 s ingest"
    )
    parser.add_argument("--no-ingest", action="store_true", help="skip the ingest benchmark")
    parser.add_argument("--child", choices=("clip", "ingest"), help=argparse.SUPPRESS)
    parser.add_argument("--child-args", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.child:
        payload = json.loads(args.child_args)
        (child_clip if args.child == "clip" else child_ingest)(payload)
        return

    seconds = args.seconds or (10.0 if args.quick else 30.0)
    # The defaults' 1:2 split of pre- and post-event time, kept for other lengths.
    window_pre, window_post = seconds / 3, seconds * 2 / 3
    runs = 1 if args.quick else 3
    ingest_seconds = 8.0 if args.quick else 20.0
    info = machine()
    print(
        f"Machine: {info['nproc']} CPUs, {info['cpu']}; Python {info['python']}; "
        f"PyAV {info['pyav']} (FFmpeg {info['pyav_ffmpeg']}); ffmpeg CLI {info['cli_ffmpeg']}"
    )
    print(f"Load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")

    work = Path(tempfile.mkdtemp(prefix="vms-bench-"))
    try:
        # Whole GOPs, with room before the window for its opening segment and after it for
        # the CLI's read-ahead.
        length = math.ceil((seconds + WINDOW_LEAD + 3.0) / 2) * 2
        reference = work / "reference_1080p15.mp4"
        print(f"\n1. Reference input: {length} s of {SOURCE_W}x{SOURCE_H}@{SOURCE_FPS} ...")
        made = time.perf_counter()
        make_reference(reference, length)
        facts = probe(reference)
        print(
            f"   {reference.name}: {facts['codec']} {facts['profile']} "
            f"{facts['width']}x{facts['height']} {facts['fps']} fps, {facts['frames']} frames, "
            f"{facts['kbps']:.0f} kbit/s, GOP {GOP_FRAMES} frames, no B-frames "
            f"(encoded in {time.perf_counter() - made:.1f} s)"
        )
        t0 = choose_t0(length)
        buffer = record_reference(reference, work / "buffer", t0)
        print(f"   recorded through SegmentWriter: {describe_segments(buffer.segments())}")

        window = Window(event_time=t0 + WINDOW_LEAD + window_pre, pre=window_pre, post=window_post)
        first = buffer.segment_at_or_before(window.start)
        assert first is not None
        print(
            f"\n2. Clip build: {seconds:g} s clip (pre {window_pre:g} s, post {window_post:g} s)"
            f" -> 640x480@15, veryfast, crf 23; both start at the segment "
            f"{first.path.name} ({window.start - first.start:.2f} s before the window)"
        )
        ours, cli, ours_probe, cli_probe = bench_clip(buffer, window, work, runs)
        print(
            f"   best wall: ours {ours.wall:.2f} s, ffmpeg {cli.wall:.2f} s, "
            f"ours/ffmpeg {ratio(ours.wall, cli.wall)}"
        )
        print(
            f"   best CPU:  ours {ours.cpu:.2f} s, ffmpeg {cli.cpu:.2f} s, "
            f"ours/ffmpeg {ratio(ours.cpu, cli.cpu)}"
        )
        print(
            f"   ours without the fresh interpreter (ClipBuilder.build alone): wall "
            f"{ours.build_wall:.2f} s ({ratio(ours.build_wall, cli.wall)} of ffmpeg's), CPU "
            f"{ours.build_cpu:.2f} s ({ratio(ours.build_cpu, cli.cpu)}); start-up and imports "
            f"{ours.startup_cpu:.2f} s CPU"
        )
        for name, facts in (("ours", ours_probe), ("ffmpeg", cli_probe)):
            print(
                f"   ffprobe {name:6s}: {facts['frames']} frames, {facts['width']}x"
                f"{facts['height']} {facts['fps']} fps, {facts['duration']:.2f} s, "
                f"{facts['size'] / 1000:.0f} kB ({facts['kbps']:.0f} kbit/s), "
                f"x264 core {facts['x264']}"
            )

        ingest = None
        if not args.no_ingest:
            print(
                f"\n3. Ingest: the reference looped in real time for {ingest_seconds:g} s, "
                "stream copy into segments"
            )
            ingest = bench_ingest(reference, ingest_seconds, work, runs)
            print(
                f"   {CORES} cores at {LOAD_TARGET:.0%} carry {ingest.cameras} such cameras "
                f"(CPU only; the CLI's figure would give {ingest.cli_cameras})"
            )

        print(f"\nLoad average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print(f"\n4. Table ({datetime.date.today().isoformat()}):\n")
        print(table(seconds, runs, ours, cli, ours_probe, cli_probe, ingest, info))
    finally:
        if args.keep:
            print(f"\nKept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
