"""A few minutes of scripted real use of ``python -m vms_desktop`` under Xvfb: nothing may stall."""

from __future__ import annotations

from pathlib import Path

from tests.support.soak import SoakOptions, SoakRun

# Long enough for every operator action and event kind to come up many times, short enough for
# the suite; `bench/soak.py` runs the same for an hour and reports the trends.
SOAK_SECONDS = 150.0


def test_the_console_survives_scripted_operator_and_detector_use(tmp_path: Path) -> None:
    report = SoakRun(tmp_path, SoakOptions(seconds=SOAK_SECONDS, warmup=45.0)).run()
    print(report.describe())
    assert report.log_problems == [], "\n".join(report.log_problems[:40])
    assert report.exit_code == 0 and report.stop_seconds < 30
    assert report.api_errors == []
    assert report.loop and report.loop["stalls"] == 0
    assert len(report.events) >= SOAK_SECONDS / 4
    assert report.unfinished == []
    # Every event had footage (past ones within the buffer, future ones recorded as they came).
    assert report.failed == {}
    assert report.ready == len(report.events)
    assert sum(report.actions.values()) >= SOAK_SECONDS / 4
    assert not any(action.startswith("failed") for action in report.actions)
    assert report.operator_clips >= 1  # F9 reached the window and made a clip
    # Responsive throughout: /health is answered on the GUI thread's loop.
    assert report.health_percentile(0.99) < 500
    # Nothing accumulates: the quiet-moment floor of threads and descriptors stays put.
    assert report.floor_rise("threads") <= 4
    assert report.floor_rise("fds") <= 6
