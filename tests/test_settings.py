"""Settings: the seed's .env, our additions, cameras, source precedence and safe error messages."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from dotenv import dotenv_values
from pydantic import SecretStr

from vms_desktop.domain.camera import CameraConfig
from vms_desktop.settings import (
    DEMO_CAMERA_ID,
    Settings,
    SettingsError,
    default_env_files,
    load_settings,
)
from vms_desktop.settings import paths as settings_paths

# The configuration block of the seed service's README, verbatim.
SEED_ENV = """\
# Storage Configuration
VIDEO_STORAGE_TYPE=s3  # or "local"

# S3 Storage (if using S3)
S3_BUCKET_NAME=surveillance-clips
AWS_REGION=us-east-1
AWS_ACCESS_KEY_ID=your-access-key
AWS_SECRET_ACCESS_KEY=your-secret-key

# Local Storage (if using local)
LOCAL_STORAGE_PATH=/data/clips
CLIP_BASE_URL=http://localhost:8000/clips

# Clip Generation Settings
CLIP_DURATION_SECONDS=30
PRE_EVENT_BUFFER_SECONDS=10
POST_EVENT_BUFFER_SECONDS=20
CLIP_FPS=15
CLIP_RESOLUTION=640,480

# Camera URLs (pattern: CAMERA_{ID}_URL)
CAMERA_CAM01_URL=rtsp://admin:password@camera-01:554/stream
CAMERA_CAM02_URL=rtsp://admin:password@camera-02:554/stream
"""

ENV_EXAMPLE = Path(__file__).resolve().parent.parent / ".env.example"

CAMERA_PASSWORD = "Sup3r/S3cret@pw"
CAMERA_URL = f"rtsp://admin:{quote(CAMERA_PASSWORD, safe='')}@cam-01:554/stream"
AWS_KEY_ID = "AKIAKEYIDSENTINEL"
AWS_SECRET = "aws-secret-sentinel-value"
TOKEN = "api-token-sentinel-value"

# Every secret-bearing value a bad-configuration test puts in, in every spelling that could leak.
SENTINELS = (
    CAMERA_PASSWORD,
    quote(CAMERA_PASSWORD, safe=""),
    quote(CAMERA_PASSWORD),
    CAMERA_URL,
    AWS_KEY_ID,
    AWS_SECRET,
    TOKEN,
)

LINE = re.compile(r"  (?P<variable>\S+): (?P<what>.+); allowed: (?P<allowed>.+)")


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never read the developer's ./.env or per-user .env, whatever a test forgets to inject."""
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    config = tmp_path / "user-config"
    config.mkdir()
    monkeypatch.setattr(settings_paths, "user_config_dir", lambda: config)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def load(environ: dict[str, str], *env_files: Path) -> Settings:
    return load_settings(env_files=list(env_files), environ=environ)


def settings_error(environ: dict[str, str], *env_files: Path) -> SettingsError:
    with pytest.raises(SettingsError) as caught:
        load(environ, *env_files)
    return caught.value


def assert_safe(text: str) -> None:
    for sentinel in SENTINELS:
        assert sentinel not in text


def variables_in(error: SettingsError) -> set[str]:
    return {variable for variable, _ in error.problems}


# --- Defaults ---


def test_defaults() -> None:
    settings = load({})
    assert settings.video_storage_type == "local"
    assert settings.s3_bucket_name is None
    assert settings.aws_region == "us-east-1"
    assert settings.aws_access_key_id is None
    assert settings.aws_secret_access_key is None
    assert settings.local_storage_path.parts[-2:] == ("vms_desktop", "clips")
    assert settings.local_storage_path.is_absolute()
    assert settings.clip_base_url is None
    assert settings.clip_duration_seconds == 30
    assert settings.pre_event_buffer_seconds == 10
    assert settings.post_event_buffer_seconds == 20
    assert settings.clip_fps == 15
    assert settings.clip_resolution == (640, 480)
    assert (settings.clip_width, settings.clip_height) == (640, 480)
    assert settings.s3_endpoint_url is None
    assert settings.api_host == "127.0.0.1"
    assert settings.api_port == 8000
    assert settings.api_token is None
    assert settings.api_is_loopback
    assert settings.retention_days == 30
    assert settings.retention_interval_minutes == 60
    assert settings.buffer_path.parts[-2:] == ("vms_desktop", "archive")
    assert settings.recording_retention_hours is None
    assert settings.buffer_retention_seconds is None
    assert settings.retention_seconds == 24 * 3600
    assert settings.buffer_max_size_mb is None
    assert settings.buffer_max_bytes is None
    assert settings.recording_max_gb is None
    assert settings.recording_max_bytes is None
    assert settings.buffer_segment_seconds == 2.0
    assert settings.clip_preset == "veryfast"
    assert settings.clip_crf == 23
    assert settings.demo_camera == "auto"
    assert settings.camera_connect_timeout_seconds == 10
    assert settings.camera_stall_timeout_seconds == 10
    assert settings.camera_reconnect_max_seconds == 30
    assert settings.camera_auth_retry_seconds == 120
    assert settings.log_level == "INFO"
    assert settings.cameras == ()
    assert settings.demo_camera_enabled
    assert [camera.id for camera in settings.active_cameras] == [DEMO_CAMERA_ID]
    assert settings.loaded_from == ("the environment",)


def test_settings_constructor_reads_nothing_ambient(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLIP_FPS", "5")
    monkeypatch.setenv("CAMERA_AMBIENT_URL", "demo://")
    write(Path.cwd() / ".env", "CLIP_FPS=7\n")
    settings = Settings()
    assert settings.clip_fps == 15
    assert settings.cameras == ()
    # Field names for typed code; variable names work too (type checkers only know the former).
    assert Settings(clip_fps=12).clip_fps == 12
    by_variable: dict[str, Any] = {"CLIP_FPS": 10}
    assert Settings(**by_variable).clip_fps == 10


def test_settings_constructor_validates_too() -> None:
    with pytest.raises(SettingsError, match="CLIP_FPS"):
        Settings(clip_fps=0)
    unknown: dict[str, Any] = {"not_a_setting": 1}
    with pytest.raises(SettingsError, match="not_a_setting"):
        Settings(**unknown)


def test_settings_are_frozen() -> None:
    settings = load({})
    with pytest.raises(ValueError):
        settings.clip_fps = 30


# --- The seed's .env ---


def test_seed_env_loads_as_is(tmp_path: Path) -> None:
    settings = load({}, write(tmp_path / ".env", SEED_ENV))
    assert settings.video_storage_type == "s3"
    assert settings.s3_bucket_name == "surveillance-clips"
    assert settings.aws_region == "us-east-1"
    assert isinstance(settings.aws_access_key_id, SecretStr)
    assert settings.aws_access_key_id.get_secret_value() == "your-access-key"
    assert isinstance(settings.aws_secret_access_key, SecretStr)
    assert settings.aws_secret_access_key.get_secret_value() == "your-secret-key"
    assert settings.local_storage_path == Path("/data/clips")
    assert settings.clip_base_url == "http://localhost:8000/clips"
    assert settings.clip_duration_seconds == 30
    assert settings.clip_resolution == (640, 480)
    assert [camera.id for camera in settings.cameras] == ["cam01", "cam02"]
    assert settings.cameras[0].url == "rtsp://admin:password@camera-01:554/stream"
    assert settings.cameras[0].display_url == "rtsp://***@camera-01:554/stream"
    assert not settings.demo_camera_enabled
    assert set(settings.secret_values()) >= {"password", "your-access-key", "your-secret-key"}

    shown = [
        repr(settings),
        str(settings),
        repr(settings.describe()),
        str(settings.model_dump()),
        settings.model_dump_json(),
        repr(settings.cameras),
    ]
    for text in shown:
        assert "password" not in text
        assert "your-secret-key" not in text
        assert "your-access-key" not in text
    assert ("CAMERA_CAM01_URL", "rtsp://***@camera-01:554/stream") in settings.describe()
    assert ("AWS_SECRET_ACCESS_KEY", "(set, hidden)") in settings.describe()


def test_describe_lists_every_variable_once() -> None:
    settings = load({"CAMERA_CAM01_URL": CAMERA_URL, "CAMERA_CAM01_NAME": "Gate"})
    rows = settings.describe()
    names = [name for name, _ in rows]
    assert len(names) == len(set(names))
    assert set(names) == settings_fields() | {"CAMERA_CAM01_URL", "CAMERA_CAM01_NAME"}
    assert dict(rows)["CLIP_RESOLUTION"] == "640,480"
    assert_safe(repr(rows))


# --- Values and normalisation ---


def test_additions_and_normalisation(tmp_path: Path) -> None:
    settings = load(
        {
            "VIDEO_STORAGE_TYPE": "S3",
            "S3_BUCKET_NAME": "clips",
            "S3_ENDPOINT_URL": "http://127.0.0.1:8333/",
            "CLIP_RESOLUTION": "1280x720",
            "PRE_EVENT_BUFFER_SECONDS": "2.5",
            "POST_EVENT_BUFFER_SECONDS": "7.5",
            "CLIP_DURATION_SECONDS": "10.0004",
            "API_HOST": "0.0.0.0",
            "API_TOKEN": TOKEN,
            "API_PORT": "9000",
            "CLIP_PRESET": "Medium",
            "LOG_LEVEL": "debug",
            "DEMO_CAMERA": "Off",
            "LOCAL_STORAGE_PATH": str(tmp_path / "clips"),
            "BUFFER_PATH": str(tmp_path / "buffer"),
        }
    )
    assert settings.video_storage_type == "s3"
    assert settings.s3_endpoint_url == "http://127.0.0.1:8333"
    assert (settings.clip_width, settings.clip_height) == (1280, 720)
    assert settings.clip_duration_seconds == pytest.approx(10.0004)
    assert settings.api_token is not None
    assert settings.api_token.get_secret_value() == TOKEN
    assert not settings.api_is_loopback
    assert settings.clip_preset == "medium"
    assert settings.log_level == "DEBUG"
    assert not settings.demo_camera_enabled
    assert settings.active_cameras == ()
    assert TOKEN in settings.secret_values()
    assert_safe(repr(settings) + repr(settings.describe()))


@pytest.mark.parametrize("host", ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"])
def test_loopback_hosts_need_no_token(host: str) -> None:
    assert load({"API_HOST": host}).api_is_loopback


@pytest.mark.parametrize(
    ("token", "why"),
    [
        ("a", "shorter than 16"),
        ("t0ken-for-tests", "shorter than 16"),
        ("aaaaaaaaaaaaaaaaaaaa", "fewer than 6 different"),
        ("abababababababababab", "fewer than 6 different"),
        ("hunter42hunter42", "repeats"),
        ("Secret12Secret12Secret12", "repeats"),
        ("abcdefghijklmnopqrst", "run of consecutive"),
        ("zyxwvutsrqponmlkji", "run of consecutive"),
        ("change-me-to-a-long-random-string", "example value"),
        ("MyPassword-2024-xyz", "example value"),
        ("0123456789:;<=>?@", "run of consecutive"),
    ],
)
def test_a_weak_token_is_refused_off_loopback(token: str, why: str) -> None:
    error = settings_error({"API_HOST": "0.0.0.0", "API_TOKEN": token})
    assert variables_in(error) == {"API_TOKEN"}
    message = str(error)
    assert why in message and "0.0.0.0" in message
    assert 'python -c "import secrets; print(secrets.token_urlsafe(32))"' in message
    assert LINE.fullmatch(message.splitlines()[1]), message
    if len(token) > 1:
        assert token not in message
    # The same token is fine where only this machine can reach the API.
    assert load({"API_HOST": "127.0.0.1", "API_TOKEN": token}).api_is_loopback


def test_a_random_token_is_accepted_off_loopback() -> None:
    import secrets

    for token in (secrets.token_urlsafe(32), secrets.token_hex(16), TOKEN):
        settings = load({"API_HOST": "192.168.1.10", "API_TOKEN": token})
        assert settings.api_token is not None and settings.api_token.get_secret_value() == token


def test_the_missing_token_message_says_how_to_make_one() -> None:
    message = str(settings_error({"API_HOST": "0.0.0.0"}))
    assert "API_TOKEN" in message
    assert "secrets.token_urlsafe(32)" in message and "at least 16" in message


def test_duration_follows_buffers_when_unset() -> None:
    settings = load({"PRE_EVENT_BUFFER_SECONDS": "5", "POST_EVENT_BUFFER_SECONDS": "15.5"})
    assert settings.clip_duration_seconds == 20.5


def test_empty_values_count_as_unset(tmp_path: Path) -> None:
    env_file = write(tmp_path / ".env", "CLIP_FPS=20\nAWS_ACCESS_KEY_ID=\nCLIP_BASE_URL=\n")
    settings = load({"CLIP_FPS": ""}, env_file)
    assert settings.clip_fps == 20
    assert settings.aws_access_key_id is None
    assert settings.clip_base_url is None


def test_unknown_and_lower_case_variables_are_ignored(tmp_path: Path) -> None:
    env_file = write(
        tmp_path / ".env",
        "AWS_PROFILE=dev\nAWS_SESSION_TOKEN=x\nCOMPOSE_PROJECT_NAME=vms\nclip_fps=99\n"
        "CAMERA_URL=rtsp://nobody\nDATABASE_URL=postgres://u:p@db/x\n",
    )
    settings = load({"Clip_Fps": "0", "HOME": "/root"}, env_file)
    assert settings.clip_fps == 15
    assert settings.cameras == ()


def test_relative_paths_in_env_file_are_relative_to_it(tmp_path: Path) -> None:
    env_file = write(tmp_path / "conf" / ".env", "LOCAL_STORAGE_PATH=clips\nBUFFER_PATH=../buf\n")
    settings = load({}, env_file)
    assert settings.local_storage_path == tmp_path / "conf" / "clips"
    assert Path(settings.buffer_path).resolve() == (tmp_path / "buf").resolve()


def test_no_interpolation_of_dollar_signs(tmp_path: Path) -> None:
    env_file = write(tmp_path / ".env", "API_TOKEN=pa${HOME}ss\n")
    settings = load({}, env_file)
    assert settings.api_token is not None
    assert settings.api_token.get_secret_value() == "pa${HOME}ss"


# --- Cameras ---


def test_cameras_discovered_from_environment_and_files(tmp_path: Path) -> None:
    video = write(tmp_path / "media" / "lobby.mp4", "not really a video")
    env_file = write(
        tmp_path / "media" / ".env",
        "CAMERA_FRONT_DOOR_URL=rtsp://cam-2/stream\n"
        "CAMERA_FRONT_DOOR_NAME=  Front door  \n"
        "CAMERA_LOBBY_URL=lobby.mp4\n",
    )
    settings = load(
        {
            "CAMERA_Cam01_URL": CAMERA_URL,
            "CAMERA_DEMO-1_URL": "demo://?width=1280&height=720&fps=15",
        },
        env_file,
    )
    assert [camera.id for camera in settings.cameras] == ["cam01", "demo-1", "front_door", "lobby"]
    by_id = {camera.id: camera for camera in settings.cameras}
    assert by_id["cam01"].url == CAMERA_URL
    assert by_id["front_door"].name == "Front door"
    assert by_id["front_door"].label == "Front door"
    assert by_id["lobby"].url == str(video)
    assert all(isinstance(camera, CameraConfig) for camera in settings.cameras)
    assert CAMERA_PASSWORD in settings.secret_values()
    assert_safe(repr(settings) + str(settings) + repr(settings.describe()))
    assert_safe(str(settings.model_dump()) + settings.model_dump_json())


def test_camera_settings_are_not_cameras() -> None:
    settings = load({"CAMERA_STALL_TIMEOUT_SECONDS": "5", "CAMERA_AUTH_RETRY_SECONDS": "60"})
    assert settings.cameras == ()
    assert settings.camera_stall_timeout_seconds == 5


def test_higher_source_wins_per_camera(tmp_path: Path) -> None:
    env_file = write(
        tmp_path / ".env", "CAMERA_cam01_URL=rtsp://from-file/s\nCAMERA_CAM01_NAME=File\n"
    )
    settings = load({"CAMERA_CAM01_URL": "rtsp://from-env/s"}, env_file)
    assert settings.cameras == (CameraConfig(id="cam01", url="rtsp://from-env/s", name="File"),)


def test_demo_camera_on_runs_alongside_cameras() -> None:
    settings = load({"DEMO_CAMERA": "on", "CAMERA_CAM01_URL": "rtsp://cam/s"})
    assert settings.demo_camera_enabled
    assert [camera.id for camera in settings.active_cameras] == ["cam01", DEMO_CAMERA_ID]


# --- Bad values: one line per variable, nothing secret in the text ---

BASE = {
    "CAMERA_CAM01_URL": CAMERA_URL,
    "AWS_ACCESS_KEY_ID": AWS_KEY_ID,
    "AWS_SECRET_ACCESS_KEY": AWS_SECRET,
}


@pytest.mark.parametrize(
    ("overrides", "variable"),
    [
        ({"CLIP_RESOLUTION": "640"}, "CLIP_RESOLUTION"),
        ({"CLIP_RESOLUTION": "abc,480"}, "CLIP_RESOLUTION"),
        ({"CLIP_RESOLUTION": "641,480"}, "CLIP_RESOLUTION"),
        ({"CLIP_RESOLUTION": "640,481"}, "CLIP_RESOLUTION"),
        ({"CLIP_RESOLUTION": "8,8"}, "CLIP_RESOLUTION"),
        ({"CLIP_RESOLUTION": "8000,480"}, "CLIP_RESOLUTION"),
        ({"CLIP_RESOLUTION": "640,480,3"}, "CLIP_RESOLUTION"),
        ({"CLIP_RESOLUTION": "-640,480"}, "CLIP_RESOLUTION"),
        ({"CLIP_FPS": "0"}, "CLIP_FPS"),
        ({"CLIP_FPS": "61"}, "CLIP_FPS"),
        ({"CLIP_FPS": "fast"}, "CLIP_FPS"),
        ({"CLIP_DURATION_SECONDS": "25"}, "CLIP_DURATION_SECONDS"),
        ({"CLIP_DURATION_SECONDS": "30.01"}, "CLIP_DURATION_SECONDS"),
        ({"CLIP_DURATION_SECONDS": "inf"}, "CLIP_DURATION_SECONDS"),
        ({"PRE_EVENT_BUFFER_SECONDS": "-1"}, "PRE_EVENT_BUFFER_SECONDS"),
        ({"PRE_EVENT_BUFFER_SECONDS": "nan"}, "PRE_EVENT_BUFFER_SECONDS"),
        ({"POST_EVENT_BUFFER_SECONDS": "0"}, "POST_EVENT_BUFFER_SECONDS"),
        ({"VIDEO_STORAGE_TYPE": "ftp"}, "VIDEO_STORAGE_TYPE"),
        ({"VIDEO_STORAGE_TYPE": "s3"}, "S3_BUCKET_NAME"),
        ({"VIDEO_STORAGE_TYPE": "s3", "S3_BUCKET_NAME": "bad bucket"}, "S3_BUCKET_NAME"),
        ({"S3_ENDPOINT_URL": "ftp://store"}, "S3_ENDPOINT_URL"),
        ({"S3_ENDPOINT_URL": f"http://{AWS_KEY_ID}:{AWS_SECRET}@store"}, "S3_ENDPOINT_URL"),
        ({"CLIP_BASE_URL": f"http://admin:{CAMERA_PASSWORD}@host/clips"}, "CLIP_BASE_URL"),
        ({"CLIP_BASE_URL": "clips"}, "CLIP_BASE_URL"),
        ({"API_HOST": "0.0.0.0"}, "API_TOKEN"),
        ({"API_HOST": "192.168.1.10"}, "API_TOKEN"),
        ({"API_HOST": "my host"}, "API_HOST"),
        ({"API_PORT": "0"}, "API_PORT"),
        ({"API_PORT": "65536"}, "API_PORT"),
        ({"API_TOKEN": f"{TOKEN} with space"}, "API_TOKEN"),
        ({"RETENTION_DAYS": "0"}, "RETENTION_DAYS"),
        ({"RETENTION_INTERVAL_MINUTES": "0"}, "RETENTION_INTERVAL_MINUTES"),
        ({"BUFFER_RETENTION_SECONDS": "39"}, "BUFFER_RETENTION_SECONDS"),
        ({"BUFFER_MAX_SIZE_MB": "63"}, "BUFFER_MAX_SIZE_MB"),
        ({"BUFFER_SEGMENT_SECONDS": "0.4"}, "BUFFER_SEGMENT_SECONDS"),
        ({"BUFFER_SEGMENT_SECONDS": "11"}, "BUFFER_SEGMENT_SECONDS"),
        ({"CLIP_PRESET": "lightspeed"}, "CLIP_PRESET"),
        ({"CLIP_CRF": "52"}, "CLIP_CRF"),
        ({"DEMO_CAMERA": "maybe"}, "DEMO_CAMERA"),
        ({"DEMO_CAMERA": "on", "CAMERA_DEMO_URL": "demo://"}, "DEMO_CAMERA"),
        ({"CAMERA_STALL_TIMEOUT_SECONDS": "0"}, "CAMERA_STALL_TIMEOUT_SECONDS"),
        ({"CAMERA_CONNECT_TIMEOUT_SECONDS": "-3"}, "CAMERA_CONNECT_TIMEOUT_SECONDS"),
        ({"CAMERA_RECONNECT_MAX_SECONDS": "x"}, "CAMERA_RECONNECT_MAX_SECONDS"),
        ({"CAMERA_AUTH_RETRY_SECONDS": "0"}, "CAMERA_AUTH_RETRY_SECONDS"),
        ({"LOG_LEVEL": "verbose"}, "LOG_LEVEL"),
        ({"LOCAL_STORAGE_PATH": "/srv/vms", "BUFFER_PATH": "/srv/vms/buffer"}, "BUFFER_PATH"),
        (
            {"VIDEO_STORAGE_TYPE": "s3", "S3_BUCKET_NAME": "bkt", "AWS_ACCESS_KEY_ID": ""},
            "AWS_ACCESS_KEY_ID",
        ),
        ({"CAMERA_../_URL": CAMERA_URL}, "CAMERA_../_URL"),
        ({"CAMERA_" + "X" * 33 + "_URL": "rtsp://cam/s"}, "CAMERA_" + "X" * 33 + "_URL"),
        ({"CAMERA_CAM\u00c9_URL": "rtsp://cam/s"}, None),
        ({"CAMERA_CAM01_URL": "/no/such/video.mp4"}, "CAMERA_CAM01_URL"),
        ({"CAMERA_CAM01_URL": f"admin:{CAMERA_PASSWORD}@cam-01/stream"}, "CAMERA_CAM01_URL"),
        ({"CAMERA_CAM01_URL": f"udp://admin:{CAMERA_PASSWORD}@cam-01:1234"}, "CAMERA_CAM01_URL"),
        ({"CAMERA_CAM01_URL": f"rtsp://admin:{CAMERA_PASSWORD}@cam-01/s"}, "CAMERA_CAM01_URL"),
        ({"CAMERA_CAM01_URL": "rtsp:///stream"}, "CAMERA_CAM01_URL"),
        ({"CAMERA_CAM01_URL": "demo://?width=641"}, "CAMERA_CAM01_URL"),
        ({"CAMERA_CAM01_URL": "demo://?colour=red"}, "CAMERA_CAM01_URL"),
        ({"CAMERA_CAM01_URL": "demo://somewhere/else"}, "CAMERA_CAM01_URL"),
        ({"CAMERA_CAM02_NAME": "Orphan"}, "CAMERA_CAM02_NAME"),
        ({"CAMERA_CAM01_NAME": "x" * 65}, "CAMERA_CAM01_NAME"),
    ],
)
def test_bad_value_names_its_variable(overrides: dict[str, str], variable: str | None) -> None:
    error = settings_error({**BASE, **overrides})
    message = str(error)
    if variable is None:
        # Hostile variable names are shown escaped; the line is still there.
        assert len(error.problems) == 1
    else:
        assert variable in variables_in(error), message
    assert message.startswith("Invalid configuration")
    for line in message.splitlines()[1:-1]:
        assert LINE.fullmatch(line), line
    assert_safe(message)
    for value in overrides.values():
        # Rejected text is never repeated; consistency messages quote validated numbers and
        # addresses on purpose.
        if len(value) > 3 and value not in ("demo://", "30.01", "0.0.0.0", "192.168.1.10"):
            assert value not in message


def test_duration_error_names_all_three_variables() -> None:
    message = str(settings_error({"CLIP_DURATION_SECONDS": "25"}))
    for name in ("CLIP_DURATION_SECONDS", "PRE_EVENT_BUFFER_SECONDS", "POST_EVENT_BUFFER_SECONDS"):
        assert name in message


def test_every_problem_is_reported_at_once() -> None:
    error = settings_error(
        {
            **BASE,
            "CLIP_FPS": "0",
            "CLIP_RESOLUTION": "abc,480",
            "CLIP_DURATION_SECONDS": "25",
            "API_HOST": "0.0.0.0",
            "CAMERA_../_URL": CAMERA_URL,
            "CAMERA_CAM02_URL": "/missing.mp4",
        }
    )
    assert variables_in(error) == {
        "CLIP_FPS",
        "CLIP_RESOLUTION",
        "CLIP_DURATION_SECONDS",
        "API_TOKEN",
        "CAMERA_../_URL",
        "CAMERA_CAM02_URL",
    }
    assert len(str(error).splitlines()) == 1 + 6 + 1
    assert_safe(str(error))


def test_same_camera_twice_in_one_source(tmp_path: Path) -> None:
    env_file = write(
        tmp_path / ".env", "CAMERA_CAM01_URL=rtsp://a/s\nCAMERA_cam01_URL=rtsp://b/s\n"
    )
    error = settings_error({}, env_file)
    assert "CAMERA_cam01_URL" in variables_in(error)
    assert "CAMERA_CAM01_URL" in str(error)


def test_hostile_variable_names_are_escaped() -> None:
    name = "CAMERA_\x1b[31m" + "A" * 5000 + "_URL"
    error = settings_error({name: "rtsp://cam/s"})
    message = str(error)
    assert "\x1b" not in message
    assert len(message) < 2000


def test_unreadable_env_file_is_reported(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_bytes(b"CLIP_FPS=\xff\xfe\n")
    error = settings_error({}, env_file)
    assert str(env_file) in variables_in(error)


def test_error_lists_where_values_came_from(tmp_path: Path) -> None:
    env_file = write(tmp_path / ".env", "CLIP_FPS=0\n")
    missing = tmp_path / "absent" / ".env"
    message = str(settings_error({}, env_file, missing))
    assert message.splitlines()[-1] == f"Values were read from: the environment, {env_file}"


# --- Sources and precedence ---


def test_precedence_environment_then_cwd_then_user_config(tmp_path: Path) -> None:
    cwd_env = write(Path.cwd() / ".env", "CLIP_FPS=20\nCLIP_CRF=30\n")
    user_env = write(
        settings_paths.user_config_dir() / ".env",
        "CLIP_FPS=25\nCLIP_CRF=35\nRETENTION_DAYS=7\n",
    )
    assert default_env_files() == [cwd_env, user_env]

    settings = load_settings(environ={"CLIP_FPS": "10"})
    assert settings.clip_fps == 10  # environment
    assert settings.clip_crf == 30  # ./.env
    assert settings.retention_days == 7  # per-user .env
    assert settings.loaded_from == ("the environment", str(cwd_env), str(user_env))


def test_default_environment_is_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLIP_FPS", "12")
    monkeypatch.setenv("CAMERA_ENVCAM_URL", "demo://")
    settings = load_settings(env_files=[])
    assert settings.clip_fps == 12
    assert [camera.id for camera in settings.cameras] == ["envcam"]


def test_missing_env_files_are_skipped(tmp_path: Path) -> None:
    assert load({}, tmp_path / "nope" / ".env", tmp_path).clip_fps == 15


# --- .env.example ---


def settings_fields() -> set[str]:
    return {info.alias for info in Settings.model_fields.values() if info.alias}


def test_env_example_loads() -> None:
    settings = load({}, ENV_EXAMPLE)
    assert settings.video_storage_type == "local"
    assert settings.cameras == ()
    assert settings.demo_camera_enabled


def test_env_example_documents_every_setting() -> None:
    text = ENV_EXAMPLE.read_text(encoding="utf-8")
    documented = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]*)=", text, flags=re.MULTILINE))
    cameras = {
        name for name in documented if re.fullmatch(r"CAMERA_.+_(URL|NAME|RETENTION_HOURS)", name)
    }
    assert cameras, "camera examples missing"
    assert documented - cameras == settings_fields()
    active = set(dotenv_values(ENV_EXAMPLE, interpolate=False))
    assert not any(re.fullmatch(r"CAMERA_.+_URL", name) for name in active)


def test_env_example_commented_values_are_valid(tmp_path: Path) -> None:
    # Uncommenting any example must give a loadable configuration (given its companions).
    text = ENV_EXAMPLE.read_text(encoding="utf-8")
    uncommented = re.sub(r"^# ?([A-Z][A-Z0-9_]*=)", r"\1", text, flags=re.MULTILINE)
    env_file = write(tmp_path / "all" / ".env", uncommented)
    settings = load({"LOCAL_STORAGE_PATH": str(tmp_path / "clips")}, env_file)
    assert settings.video_storage_type == "s3"
    assert {camera.id for camera in settings.cameras} == {"cam01", "cam02", "lobby"}
