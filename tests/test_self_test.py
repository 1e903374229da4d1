"""``--self-test`` from the source tree: every check runs, and a broken part makes it fail."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from tests.support.app import run_app
from vms_desktop import self_test
from vms_desktop.self_test import SelfTest


def test_self_test_passes_and_reports_every_check(tmp_path: Path) -> None:
    result = run_app(tmp_path, "--self-test", timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("vms-desktop ") and "(source: " in lines[0]
    checks = [line for line in lines if line.startswith(("PASS", "FAIL", "SKIP"))]
    assert len(checks) == 10 and all(line.startswith("PASS") for line in checks)
    assert "the picture at 2 s is the event's moment" in result.stdout
    assert "'demo' live after" in result.stdout
    assert "the archive plays" in result.stdout
    assert lines[-1] == "self-test PASSED: 10 of 10 checks passed"
    # The user's own folders are not touched: everything went into a scratch folder.
    assert not (tmp_path / "clips").exists() and not (tmp_path / "state").exists()


def test_headless_self_test_leaves_the_gui_out(tmp_path: Path) -> None:
    result = run_app(tmp_path, "--self-test", "--headless", timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "GUI offscreen" not in result.stdout
    assert result.stdout.splitlines()[-1] == "self-test PASSED: 9 of 9 checks passed"


def test_a_missing_resource_fails_the_self_test(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(self_test, "license_path", lambda: tmp_path / "LICENSE")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    status = SelfTest(out, with_gui=False).run()
    report = out.getvalue()
    assert status == 1
    assert f"FAIL  resources (0.0 s): missing: {tmp_path / 'LICENSE'}" in report
    assert report.splitlines()[-1] == "self-test FAILED: 8 of 9 checks passed"


def test_a_dead_camera_fails_the_checks_that_need_footage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(self_test, "RECORDING_TIMEOUT", 0.0)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    status = SelfTest(out, with_gui=True).run()
    report = out.getvalue()
    assert status == 1
    assert "FAIL  demo camera recording" in report
    for check in (
        "HTTP API",
        "clip generated via HTTP",
        "GUI offscreen: open, live picture, close",
    ):
        assert f"SKIP  {check}: not run" in report
    assert "PASS  service stop" in report
