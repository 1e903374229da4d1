"""Where the configuration and the application's data live by default: the per-user directories."""

from __future__ import annotations

from pathlib import Path

import platformdirs

APP_NAME = "vms_desktop"


def user_config_dir() -> Path:
    """Per-user configuration directory of the application (holds the user's ``.env``)."""
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def user_env_file() -> Path:
    """The per-user ``.env``, read after ``./.env`` so a double-clicked bundle finds it too."""
    return user_config_dir() / ".env"


def default_env_files() -> list[Path]:
    """``.env`` files read by :func:`~vms_desktop.settings.load_settings` by default, highest
    priority first.
    """
    return [Path.cwd() / ".env", user_env_file()]


def default_storage_path() -> Path:
    """Directory of locally stored clips when LOCAL_STORAGE_PATH is unset."""
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)) / "clips"


def default_buffer_path() -> Path:
    """Directory of the recording archive when BUFFER_PATH is unset: days of footage are data,
    not a cache a cleaner may empty.
    """
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)) / "archive"


def default_state_path() -> Path:
    """Directory of the application's own state when STATE_PATH is unset."""
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)) / "state"
