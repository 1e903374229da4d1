"""The environment and ``.env`` files as pydantic-settings sources, read under the seed's names."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dotenv import dotenv_values
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, DotEnvSettingsSource, EnvSettingsSource

ENVIRONMENT_LABEL = "the environment"

# A relative directory in a .env file is relative to that file, so the file means the same
# wherever the application is started from.
_RELATIVE_TO_FILE = ("LOCAL_STORAGE_PATH", "BUFFER_PATH")


def _present(values: Mapping[str, str | None]) -> dict[str, str]:
    # A blank value counts as unset like an empty one (env_ignore_empty): "CLIP_FPS=" in a .env
    # file leaves the value of a lower source, or the default, in place.
    return {name: value for name, value in values.items() if value is not None and value.strip()}


class _Variables:
    """What the environment and a ``.env`` file share: one plain-text variable per setting.

    ``env_vars`` holds every non-blank variable of the source (cameras are found among them),
    ``label`` names the source in messages, ``base_dir`` anchors the relative paths it holds.
    """

    label: str
    base_dir: Path | None
    env_vars: Mapping[str, str | None]

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        """The value of the field's variable, keyed by the variable's name."""
        # Only the documented variable is read: not the field name (clip_fps), and not the camera
        # list, which comes from the CAMERA_{ID}_URL variables.
        if not field.alias:
            return None, field_name, False
        return self.env_vars.get(field.alias), field.alias, False

    def prepare_field_value(
        self, field_name: str, field: FieldInfo, value: Any, value_is_complex: bool
    ) -> Any:
        """The value as written: the model's validators parse it (640,480 is no JSON)."""
        return value


class EnvironmentSource(_Variables, EnvSettingsSource):
    """The settings in an environment: ``os.environ`` or a mapping standing for it."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self.label = ENVIRONMENT_LABEL
        self.base_dir = None
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        # Names keep their case, also on Windows: variable names are case-sensitive.
        return _present(self._environ)


class EnvFileSource(_Variables, DotEnvSettingsSource):
    """The settings in one ``.env`` file; relative directories in it are relative to the file.

    Raises OSError, or UnicodeDecodeError, when the file cannot be read as UTF-8 text.
    """

    def __init__(self, settings_cls: type[BaseSettings], path: Path) -> None:
        self.label = str(path)
        self.base_dir = path.parent
        super().__init__(settings_cls, env_file=path)

    def _read_env_file(self, file_path: Path) -> Mapping[str, str | None]:
        # No interpolation: a "$" in a password stays as written, and nothing is pulled in from
        # the real environment behind an injected one.
        return _present(
            dotenv_values(file_path, interpolate=False, encoding=self.env_file_encoding)
        )

    def __call__(self) -> dict[str, Any]:
        """The settings of the file, by variable name."""
        # The other variables of the file are cameras or belong to other programs: they are not
        # passed on as extra values, which the model would refuse.
        settings_variables = {
            info.alias for info in self.settings_cls.model_fields.values() if info.alias
        }
        data = {
            name: value for name, value in super().__call__().items() if name in settings_variables
        }
        for name in _RELATIVE_TO_FILE:
            if name in data and self.base_dir is not None:
                path = Path(str(data[name]).strip()).expanduser()
                data[name] = str(path if path.is_absolute() else self.base_dir / path)
        return data


VariableSource = EnvironmentSource | EnvFileSource
"""A source :func:`~vms_desktop.settings.load_settings` reads, with its label and variables."""
