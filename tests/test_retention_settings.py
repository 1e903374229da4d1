"""Retention a site configures: per camera, for all, the seed's seconds; the disk budget."""

from __future__ import annotations

from pathlib import Path

import platformdirs
import pytest

from vms_desktop.runtime import recorder_options
from vms_desktop.settings import Settings, SettingsError, env_values, load_settings, write_env
from vms_desktop.settings.paths import default_buffer_path

HOUR = 3600.0
MB = 1024 * 1024
CAMERAS = {"CAMERA_CAM01_URL": "demo://", "CAMERA_CAM02_URL": "demo://"}


def load(**environ: str) -> Settings:
    return load_settings(env_files=[], environ=environ)


def problems(**environ: str) -> dict[str, str]:
    with pytest.raises(SettingsError) as caught:
        load(**environ)
    found = dict(caught.value.problems)
    assert len(found) == len(caught.value.problems), caught.value.problems
    return found


def test_a_day_is_kept_by_default_with_no_cap_per_camera_and_no_budget() -> None:
    settings = load(**CAMERAS)
    assert settings.retention_seconds == 24 * HOUR
    assert settings.retention_by_camera == {"cam01": 24 * HOUR, "cam02": 24 * HOUR}
    options = recorder_options(settings)
    assert options.retention_seconds == 24 * HOUR
    assert dict(options.retention_by_camera) == {"cam01": 24 * HOUR, "cam02": 24 * HOUR}
    assert options.max_bytes_per_camera is None
    assert options.max_total_bytes is None


def test_the_seed_retention_in_seconds_works_as_before_when_it_is_the_only_one_set() -> None:
    settings = load(BUFFER_RETENTION_SECONDS="600")
    assert settings.retention_seconds == 600
    assert settings.retention_by_camera == {"demo": 600}
    assert recorder_options(settings).retention_seconds == 600


def test_hours_for_all_beat_the_seed_seconds_and_a_camera_s_own_hours_beat_both() -> None:
    settings = load(
        **CAMERAS,
        BUFFER_RETENTION_SECONDS="600",
        RECORDING_RETENTION_HOURS="12",
        CAMERA_cam01_RETENTION_HOURS="72.5",
    )
    assert settings.retention_seconds == 12 * HOUR
    assert settings.camera_retention_hours == (("cam01", 72.5),)
    assert settings.retention_by_camera == {"cam01": 72.5 * HOUR, "cam02": 12 * HOUR}
    assert dict(recorder_options(settings).retention_by_camera) == settings.retention_by_camera
    # The seed's seconds alone with a camera's own hours: the others keep the seed's seconds.
    mixed = load(**CAMERAS, BUFFER_RETENTION_SECONDS="900", CAMERA_CAM02_RETENTION_HOURS="2")
    assert mixed.retention_by_camera == {"cam01": 900, "cam02": 2 * HOUR}


def test_the_demo_camera_takes_its_own_retention_while_it_runs() -> None:
    assert load(CAMERA_DEMO_RETENTION_HOURS="2").retention_by_camera == {"demo": 2 * HOUR}
    found = problems(**CAMERAS, CAMERA_DEMO_RETENTION_HOURS="2")
    assert found == {
        "CAMERA_DEMO_RETENTION_HOURS": "is set but CAMERA_DEMO_URL is not; allowed: a retention "
        "for a camera that has a URL (or for the demo camera while it runs)"
    }


def test_the_budget_and_the_cap_per_camera_in_bytes() -> None:
    settings = load(RECORDING_MAX_GB="0.5", BUFFER_MAX_SIZE_MB="64")
    assert settings.recording_max_bytes == 512 * MB
    options = recorder_options(settings)
    assert options.max_total_bytes == 512 * MB
    assert options.max_bytes_per_camera == 64 * MB


@pytest.mark.parametrize(
    ("environ", "variable", "explanation"),
    [
        ({"RECORDING_RETENTION_HOURS": "0"}, "RECORDING_RETENTION_HOURS", "is too small"),
        ({"RECORDING_RETENTION_HOURS": "8761"}, "RECORDING_RETENTION_HOURS", "is too large"),
        ({"RECORDING_RETENTION_HOURS": "a day"}, "RECORDING_RETENTION_HOURS", "is not a number"),
        ({"RECORDING_RETENTION_HOURS": "nan"}, "RECORDING_RETENTION_HOURS", "is not a finite"),
        ({"RECORDING_MAX_GB": "0"}, "RECORDING_MAX_GB", "is too small"),
        ({"RECORDING_MAX_GB": "-2"}, "RECORDING_MAX_GB", "is too small"),
        ({"RECORDING_MAX_GB": "lots"}, "RECORDING_MAX_GB", "is not a number"),
        ({"RECORDING_MAX_GB": "inf"}, "RECORDING_MAX_GB", "is not a finite"),
        ({"BUFFER_MAX_SIZE_MB": "63"}, "BUFFER_MAX_SIZE_MB", "is too small"),
        (
            {**CAMERAS, "CAMERA_CAM01_RETENTION_HOURS": "two"},
            "CAMERA_CAM01_RETENTION_HOURS",
            "is not a number",
        ),
        (
            {**CAMERAS, "CAMERA_CAM01_RETENTION_HOURS": "0"},
            "CAMERA_CAM01_RETENTION_HOURS",
            "is too small",
        ),
        (
            {**CAMERAS, "CAMERA_CAM02_RETENTION_HOURS": "9000"},
            "CAMERA_CAM02_RETENTION_HOURS",
            "is too large",
        ),
        (
            {**CAMERAS, "CAMERA_CAM02_RETENTION_HOURS": "inf"},
            "CAMERA_CAM02_RETENTION_HOURS",
            "is not a finite number",
        ),
    ],
)
def test_bad_values_name_their_variable_and_what_is_allowed(
    environ: dict[str, str], variable: str, explanation: str
) -> None:
    found = problems(**environ)
    assert list(found) == [variable]
    assert found[variable].startswith(explanation)
    assert "; allowed: " in found[variable]
    for value in environ.values():
        if len(value) > 2 and value != "demo://":
            assert value not in found[variable]


def test_every_retention_set_must_outlive_the_pre_event_window_by_the_margin() -> None:
    found = problems(
        **CAMERAS,
        PRE_EVENT_BUFFER_SECONDS="60",
        RECORDING_RETENTION_HOURS="0.02",  # 72 s
        CAMERA_CAM01_RETENTION_HOURS="0.01",  # 36 s
        BUFFER_RETENTION_SECONDS="89",
    )
    assert found == {
        "BUFFER_RETENTION_SECONDS": "89 is too short for PRE_EVENT_BUFFER_SECONDS = 60; allowed: "
        "at least PRE_EVENT_BUFFER_SECONDS + 30 = 90",
        "RECORDING_RETENTION_HOURS": "0.02 hours is too short for PRE_EVENT_BUFFER_SECONDS = 60; "
        "allowed: at least PRE_EVENT_BUFFER_SECONDS + 30 = 90 seconds (0.025 hours)",
        "CAMERA_CAM01_RETENTION_HOURS": "0.01 hours is too short for PRE_EVENT_BUFFER_SECONDS = "
        "60; allowed: at least PRE_EVENT_BUFFER_SECONDS + 30 = 90 seconds (0.025 hours)",
    }
    # Just long enough passes.
    assert load(PRE_EVENT_BUFFER_SECONDS="60", RECORDING_RETENTION_HOURS="0.025")


def test_a_retention_for_a_camera_without_a_url_is_an_error_with_the_others() -> None:
    found = problems(
        CAMERA_CAM01_URL="demo://",
        CAMERA_CAM09_RETENTION_HOURS="5",
        RECORDING_MAX_GB="0",
        CAMERA_CAM01_RETENTION_HOURS="x",
    )
    assert set(found) == {
        "CAMERA_CAM09_RETENTION_HOURS",
        "RECORDING_MAX_GB",
        "CAMERA_CAM01_RETENTION_HOURS",
    }
    assert found["CAMERA_CAM09_RETENTION_HOURS"].startswith(
        "is set but CAMERA_CAM09_URL is not; allowed: a retention for a camera that has a URL"
    )
    # A camera with a wrong URL is reported once, for its URL.
    found = problems(CAMERA_CAM01_URL="ftp://cam/s", CAMERA_CAM01_RETENTION_HOURS="5")
    assert list(found) == ["CAMERA_CAM01_URL"]
    # Built directly, the same check applies.
    with pytest.raises(SettingsError) as caught:
        Settings(DEMO_CAMERA="off", camera_retention_hours={"cam01": 3})
    assert [variable for variable, _ in caught.value.problems] == ["CAMERA_CAM01_RETENTION_HOURS"]


def test_camera_retention_is_shown_and_saved_with_the_camera(tmp_path: Path) -> None:
    settings = load(**CAMERAS, CAMERA_CAM02_RETENTION_HOURS="0.0125", RECORDING_MAX_GB="1.5")
    assert isinstance(hash(settings), int)  # frozen settings stay hashable
    rows = dict(settings.describe())
    assert rows["CAMERA_CAM02_RETENTION_HOURS"] == "0.0125"
    assert rows["RECORDING_MAX_GB"] == "1.5"
    assert rows["RECORDING_RETENTION_HOURS"] == "(not set)"
    assert "BUFFER_RETENTION_SECONDS" not in env_values(settings)
    env_file = tmp_path / ".env"
    write_env(env_file, env_values(settings))
    again = load_settings(env_files=[env_file], environ={})
    assert again.retention_by_camera == settings.retention_by_camera
    assert again.recording_max_bytes == settings.recording_max_bytes
    # Saved defaults stay defaults: the day, not the seed's seconds, after a save and a load.
    assert again.retention_seconds == 24 * HOUR


def test_the_archive_lives_in_the_data_directory_unless_buffer_path_says_otherwise(
    tmp_path: Path,
) -> None:
    data = Path(platformdirs.user_data_dir("vms_desktop", appauthor=False))
    assert default_buffer_path() == data / "archive"
    assert load().buffer_path == data / "archive"
    assert load(BUFFER_PATH=str(tmp_path / "elsewhere")).buffer_path == tmp_path / "elsewhere"
