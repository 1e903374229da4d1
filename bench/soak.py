"""An hour (or any length) of scripted real use of the console or the headless service.

Prints the figures docs/RELIABILITY.md reports: loop lag and stalls, /health latency, RSS slope,
file descriptors and threads after warm-up, clips made, and a clean stop.

    PYTHONPATH=. .venv/bin/python bench/soak.py --minutes 60            # console under Xvfb
    PYTHONPATH=. .venv/bin/python bench/soak.py --minutes 60 --headless
"""

from __future__ import annotations

import argparse
import csv
import shutil
import sys
import tempfile
from pathlib import Path

from tests.support.soak import SoakOptions, SoakRun


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--cameras", type=int, default=4)
    parser.add_argument("--headless", action="store_true")
    parser.add_argument("--samples", type=Path, help="write the resource samples as CSV here")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (log, clips)")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="vms-soak-"))
    options = SoakOptions(
        seconds=args.minutes * 60,
        cameras=args.cameras,
        console=not args.headless,
        warmup=min(300.0, args.minutes * 60 / 4),
    )
    report = SoakRun(workdir, options).run()
    print(report.describe())
    for line in report.log_problems[:20]:
        print("log:", line)
    for line in report.api_errors[:20]:
        print("api:", line)
    if args.samples is not None:
        with args.samples.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["seconds", "rss_mb", "fds", "threads"])
            for sample in report.samples:
                writer.writerow(
                    [f"{sample.at:.0f}", f"{sample.rss_mb:.1f}", sample.fds, sample.threads]
                )
    if args.keep:
        print(f"work folder: {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    healthy = (
        not report.log_problems
        and report.exit_code == 0
        and report.loop.get("stalls", 1) == 0
        and not report.unfinished
    )
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
