"""The bundle: its size by component, its build time, and start-up to a listening API.

Start-up is measured from spawning the process to the first answer of ``GET /health``, for the
frozen app and for ``python -m vms_desktop`` from the source tree, both ``--headless`` with the
demo camera. ``ffmpeg -version`` (the same kind of FFmpeg libraries loaded, nothing else) is the
floor for comparison. Run ``make bundle`` first.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.ports import free_port  # noqa: E402

BUNDLE = ROOT / "dist" / "vms_desktop"
EXECUTABLE = BUNDLE / "vms-desktop"
GROUPS = [
    ("Qt 6 + PySide6 (incl. ICU 31 MB)", ("PySide6/", "shiboken6/", "libpyside6", "libshiboken6")),
    ("PyAV + FFmpeg, x264, x265 and codecs", ("av/", "av.libs/")),
    ("NumPy + OpenBLAS", ("numpy/", "numpy.libs/")),
    ("Python runtime (libpython, stdlib, extension modules)", ("libpython", "python3", "base_")),
    ("X11/xcb helper libraries", ("libxcb", "libxkb", "libX")),
]


def bundle_size() -> list[tuple[str, int]]:
    """Bytes per component (files only; links point at files counted elsewhere)."""
    totals = {name: 0 for name, _ in GROUPS}
    totals["everything else (pydantic, boto3, uvicorn, OpenSSL, app, licences...)"] = 0
    for path in BUNDLE.rglob("*"):
        if path.is_symlink() or not path.is_file():
            continue
        relative = str(path.relative_to(BUNDLE / "_internal")) if "_internal" in path.parts else ""
        size = path.stat().st_size
        for name, prefixes in GROUPS:
            if relative.startswith(prefixes):
                totals[name] += size
                break
        else:
            totals[list(totals)[-1]] += size
    return list(totals.items())


def time_to_api(command: list[str], base: Path) -> tuple[float, float]:
    """Seconds from spawn to a ``/health`` answer, and the process's RSS (MB) at that moment."""
    port = free_port()
    environ = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(base),
        "XDG_CONFIG_HOME": str(base / "config"),
        "API_PORT": str(port),
        "LOCAL_STORAGE_PATH": str(base / "clips"),
        "BUFFER_PATH": str(base / "buffer"),
        "STATE_PATH": str(base / "state"),
        "LOG_LEVEL": "WARNING",
    }
    started = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=base, env=environ, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{command[0]} exited with {process.returncode}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1):
                    elapsed = time.perf_counter() - started
                    break
            except OSError:
                time.sleep(0.01)
        rss = 0.0
        for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) / 1024
        return elapsed, rss
    finally:
        process.terminate()
        process.wait(timeout=30)


def time_command(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--build", action="store_true", help="also time a full PyInstaller build")
    args = parser.parse_args()
    if not EXECUTABLE.exists():
        sys.exit("no bundle: run `make bundle` first")

    total = sum(size for _, size in bundle_size())
    print(f"Bundle {BUNDLE.relative_to(ROOT)}: {total / 1e6:.0f} MB (target <= 300 MB)")
    for name, size in bundle_size():
        print(f"  {name:<72} {size / 1e6:7.1f} MB")

    if args.build:
        with tempfile.TemporaryDirectory() as scratch:
            pyinstaller = ROOT / ".bundle-venv" / "bin" / "pyinstaller"
            seconds = time_command(
                [
                    str(pyinstaller),
                    "--noconfirm",
                    "--clean",
                    "--log-level",
                    "ERROR",
                    "--distpath",
                    f"{scratch}/dist",
                    "--workpath",
                    f"{scratch}/build",
                    str(ROOT / "vms_desktop.spec"),
                ]
            )
        print(f"PyInstaller build (clean, warm pip cache): {seconds:.1f} s")

    contenders = {
        "frozen --headless": [str(EXECUTABLE), "--headless"],
        "source --headless": [sys.executable, "-m", "vms_desktop", "--headless"],
    }
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in contenders}
    for _ in range(args.runs):
        for name, command in contenders.items():
            with tempfile.TemporaryDirectory() as scratch:
                results[name].append(time_to_api(command, Path(scratch)))
    floor = statistics.median(time_command(["ffmpeg", "-version"]) for _ in range(args.runs))
    print(f"Start-up to a listening API (median of {args.runs}, demo camera):")
    source = statistics.median(t for t, _ in results["source --headless"])
    for name, runs in results.items():
        seconds = statistics.median(t for t, _ in runs)
        rss = statistics.median(r for _, r in runs)
        ratio = seconds / source
        print(f"  {name:<20} {seconds:6.2f} s  RSS {rss:5.0f} MB  ({ratio:.2f} x source)")
    print(f"  {'ffmpeg -version':<20} {floor:6.2f} s  (floor: loading FFmpeg's libraries alone)")

    with tempfile.TemporaryDirectory() as scratch:
        environ = {"PATH": "/usr/bin:/bin", "HOME": scratch, "XDG_CONFIG_HOME": scratch}
        started = time.perf_counter()
        result = subprocess.run(
            [str(EXECUTABLE), "--self-test"], env=environ, cwd=scratch, capture_output=True
        )
        seconds = time.perf_counter() - started
    verdict = result.stdout.decode().strip().splitlines()[-1]
    print(f"Frozen --self-test: {seconds:.1f} s, {verdict}")


if __name__ == "__main__":
    main()
