"""Configuration from the environment and ``.env`` files, under the seed service's variable names.

Use :func:`load_settings` to read the configuration: it merges the process environment, ``./.env``
and the per-user ``.env`` (in that order of priority), discovers the ``CAMERA_{ID}_URL`` cameras and
reports every bad value at once as a :class:`SettingsError` whose text never shows a secret or a
camera URL. ``Settings(...)`` on its own reads nothing from the environment or from files, so tests
can build one from keyword arguments (``Settings(CLIP_FPS=10)``, or by field name) without picking
up a developer's configuration; it validates the same way and raises the same SettingsError.
:func:`write_env` saves settings back to a ``.env`` file.
"""

from vms_desktop.settings.cameras import (
    DEMO_CAMERA,
    DEMO_CAMERA_ID,
    camera_name,
    camera_source,
    camera_variable,
)
from vms_desktop.settings.env_writer import env_values, write_env
from vms_desktop.settings.loading import load_settings
from vms_desktop.settings.messages import Problem, SettingsError
from vms_desktop.settings.model import X264_PRESETS, LogLevel, Settings, X264Preset
from vms_desktop.settings.paths import APP_NAME, default_env_files, user_config_dir, user_env_file
from vms_desktop.settings.values import (
    BUFFER_MARGIN_SECONDS,
    DURATION_TOLERANCE_SECONDS,
    MAKE_TOKEN_COMMAND,
    MAX_CLIP_HEIGHT,
    MAX_CLIP_WIDTH,
    MIN_API_TOKEN_LENGTH,
    MIN_CLIP_SIDE,
    api_token_weakness,
)

__all__ = [
    "APP_NAME",
    "BUFFER_MARGIN_SECONDS",
    "DEMO_CAMERA",
    "DEMO_CAMERA_ID",
    "DURATION_TOLERANCE_SECONDS",
    "MAKE_TOKEN_COMMAND",
    "MAX_CLIP_HEIGHT",
    "MAX_CLIP_WIDTH",
    "MIN_API_TOKEN_LENGTH",
    "MIN_CLIP_SIDE",
    "X264_PRESETS",
    "LogLevel",
    "Problem",
    "Settings",
    "SettingsError",
    "X264Preset",
    "api_token_weakness",
    "camera_name",
    "camera_source",
    "camera_variable",
    "default_env_files",
    "env_values",
    "load_settings",
    "user_config_dir",
    "user_env_file",
    "write_env",
]
