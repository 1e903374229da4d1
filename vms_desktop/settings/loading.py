"""``load_settings``: the environment over ``./.env`` over the per-user ``.env`` over defaults."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from vms_desktop.settings.cameras import discover_cameras
from vms_desktop.settings.messages import Problem, SettingsError
from vms_desktop.settings.model import Settings
from vms_desktop.settings.paths import default_env_files
from vms_desktop.settings.sources import EnvFileSource, EnvironmentSource, VariableSource


def _read_sources(
    env_files: Sequence[str | os.PathLike[str]], environ: Mapping[str, str]
) -> tuple[list[VariableSource], list[Problem]]:
    """The sources in order of priority, and a problem for each file that cannot be read."""
    sources: list[VariableSource] = [EnvironmentSource(Settings, environ)]
    problems: list[Problem] = []
    for entry in env_files:
        path = Path(entry)
        try:
            if not path.is_file():
                continue
            sources.append(EnvFileSource(Settings, path))
        except OSError as exc:
            problems.append(
                (str(path), f"cannot be read ({exc.strerror}); allowed: a readable file")
            )
        except UnicodeDecodeError:
            problems.append((str(path), "is not UTF-8 text; allowed: a UTF-8 .env file"))
    return sources, problems


def load_settings(
    env_files: Sequence[str | os.PathLike[str]] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Read the configuration; raises :class:`SettingsError` listing every bad variable.

    ``env_files`` are ``.env`` paths, highest priority first (default :func:`default_env_files`:
    ``./.env`` then the per-user one); missing files are skipped. ``environ`` (default
    ``os.environ``) beats them all. Variable names are case-sensitive, except the ``{ID}`` in
    ``CAMERA_{ID}_...``. Empty values count as unset, and unknown variables are ignored. A relative
    path in a ``.env`` file is relative to that file's directory.
    """
    sources, problems = _read_sources(
        default_env_files() if env_files is None else env_files,
        os.environ if environ is None else environ,
    )
    data: dict[str, Any] = {}
    for source in sources:
        # For each variable the first source that sets it wins.
        for variable, value in source().items():
            data.setdefault(variable, value)
    settings_variables = frozenset(
        info.alias for info in Settings.model_fields.values() if info.alias
    )
    cameras, retention, camera_problems = discover_cameras(sources, settings_variables)
    data["cameras"] = tuple(cameras)
    data["camera_retention_hours"] = retention
    loaded_from = [source.label for source in sources]
    try:
        settings = Settings(**data)
    except SettingsError as exc:
        problems += exc.problems
    problems += camera_problems
    if problems:
        raise SettingsError(problems, loaded_from)
    settings._loaded_from = tuple(loaded_from)
    return settings
