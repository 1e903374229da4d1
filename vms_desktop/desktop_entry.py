"""Install and remove the freedesktop menu entry and icons for the current user."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from vms_desktop.resource_files import ICON_SIZES, icon_path, resource_path

APP_ID = "vms_desktop"
DESKTOP_FILE_NAME = f"{APP_ID}.desktop"

# Desktop Entry Spec, "The Exec key": an argument holding any of these must be quoted, and inside
# the double quotes these four must be escaped with a backslash.
_EXEC_RESERVED = frozenset(" \t\n\"'\\><~|&;$*?#()`")
_EXEC_QUOTE_ESCAPED = frozenset('"`$\\')


def default_data_home() -> Path:
    """``$XDG_DATA_HOME`` if set to an absolute path, else ``~/.local/share`` (XDG Base Dir)."""
    value = os.environ.get("XDG_DATA_HOME", "")
    if value and os.path.isabs(value):
        return Path(value)
    return Path.home() / ".local" / "share"


def desktop_file_path(data_home: Path) -> Path:
    """Where the menu entry goes under ``data_home``."""
    return data_home / "applications" / DESKTOP_FILE_NAME


def icon_install_path(data_home: Path, size: int) -> Path:
    """Where the ``size`` px icon goes in the user's hicolor theme under ``data_home``."""
    return data_home / "icons" / "hicolor" / f"{size}x{size}" / "apps" / f"{APP_ID}.png"


def escape_string_value(value: str) -> str:
    """``value`` as a desktop entry ``string``: backslash escapes for \\, newline, tab, CR."""
    escaped = (
        value.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r")
    )
    # Parsers strip spaces around a value; ``\s`` keeps them.
    if escaped.startswith(" "):
        escaped = "\\s" + escaped[1:]
    if escaped.endswith(" "):
        escaped = escaped[:-1] + "\\s"
    return escaped


def quote_exec_argument(argument: str) -> str:
    """One Exec argument, double-quoted and escaped where the spec needs it (not yet \\-escaped)."""
    quoted = argument
    if not argument or any(char in _EXEC_RESERVED for char in argument):
        inner = "".join("\\" + char if char in _EXEC_QUOTE_ESCAPED else char for char in argument)
        quoted = f'"{inner}"'
    # A literal percent sign would start a field code.
    return quoted.replace("%", "%%")


def exec_value(arguments: list[str]) -> str:
    """The value of an ``Exec`` key running ``arguments``, as it is written in the file."""
    return escape_string_value(" ".join(quote_exec_argument(argument) for argument in arguments))


def _checked_executable(executable: Path) -> str:
    path = str(executable.absolute())
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"a desktop entry is UTF-8; this path is not: {path!r}") from None
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in path):
        raise ValueError(f"control characters cannot go in a desktop entry: {path!r}")
    return path


def render_desktop_entry(template: str, executable: Path) -> str:
    """``template`` with ``Exec`` and ``TryExec`` of its main group pointing at ``executable``."""
    path = _checked_executable(executable)
    # GLib looks the program up before it turns ``%%`` back into ``%``, so it would drop an
    # entry whose program path has a percent sign; through env(1) the path is only an argument.
    command = ["env", path] if "%" in path else [path]
    replacements = {"Exec": exec_value(command), "TryExec": escape_string_value(path)}
    found: set[str] = set()
    lines: list[str] = []
    group = ""
    for line in template.splitlines():
        stripped = line.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            group = stripped[1:-1]
        elif group == "Desktop Entry" and "=" in line and not stripped.startswith("#"):
            key = line.split("=", 1)[0].strip()
            if key in replacements:
                line = f"{key}={replacements[key]}"
                found.add(key)
        lines.append(line)
    if "Exec" not in found:
        raise ValueError("the desktop entry template has no Exec key in [Desktop Entry]")
    return "\n".join(lines) + "\n"


def _write_atomic(target: Path, data: bytes) -> None:
    """Write ``data`` to ``target`` through a temporary file beside it and ``os.replace``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def install_desktop_entry(executable: Path, data_home: Path | None = None) -> list[Path]:
    """Install the menu entry running ``executable`` and the icons; returns the paths written."""
    home = data_home if data_home is not None else default_data_home()
    template = resource_path(DESKTOP_FILE_NAME).read_text(encoding="utf-8")
    entry = render_desktop_entry(template, executable)
    # Icons first: the menu entry that names them appears only once they are in place.
    written: list[Path] = []
    for size in ICON_SIZES:
        target = icon_install_path(home, size)
        _write_atomic(target, icon_path(size).read_bytes())
        written.append(target)
    target = desktop_file_path(home)
    _write_atomic(target, entry.encode("utf-8"))
    written.append(target)
    return written


def uninstall_desktop_entry(data_home: Path | None = None) -> list[Path]:
    """Remove what ``install_desktop_entry`` writes; returns the paths that were there."""
    home = data_home if data_home is not None else default_data_home()
    removed: list[Path] = []
    for target in [desktop_file_path(home), *(icon_install_path(home, s) for s in ICON_SIZES)]:
        try:
            target.unlink()
        except FileNotFoundError:
            continue
        removed.append(target)
    return removed
