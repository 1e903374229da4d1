"""Installing the menu entry and icons: files, validity, Exec quoting, launching, removal."""

from __future__ import annotations

import shutil
import stat
import subprocess
import textwrap
from pathlib import Path

import pytest

from tests.support.waiting import wait_until
from vms_desktop import desktop_entry
from vms_desktop.desktop_entry import (
    escape_string_value,
    exec_value,
    install_desktop_entry,
    render_desktop_entry,
    uninstall_desktop_entry,
)
from vms_desktop.resource_files import ICON_SIZES, icon_path, resource_path

SYSTEM_PYTHON = "/usr/bin/python3"  # with python3-gi, as tests/support/rtsp_camera.py uses
AWKWARD_DIRECTORIES = [
    "VMS Desktop",
    'o\'neil "quoted" dir',
    "back\\slash $HOME `date` 100% ~ & | ; < > * ? # ( )",
    "  leading and trailing spaces  ",
    "ünïcödé кириллица",
]


# --- an independent reading of a desktop entry, per the Desktop Entry Specification ----------


def unescape_string(value: str) -> str:
    """Undo the escapes of a ``string`` value: ``\\s``, ``\\n``, ``\\t``, ``\\r`` and ``\\\\``."""
    escapes = {"s": " ", "n": "\n", "t": "\t", "r": "\r", "\\": "\\"}
    out: list[str] = []
    chars = iter(value)
    for char in chars:
        if char == "\\":
            following = next(chars, "")
            assert following in escapes, f"undefined escape \\{following} in {value!r}"
            out.append(escapes[following])
        else:
            out.append(char)
    return "".join(out)


def split_exec(value: str) -> list[str]:
    """The argv of an ``Exec`` value as written in the file (no field codes other than ``%%``)."""
    reserved = set(" \t\n\"'\\><~|&;$*?#()`")
    command = unescape_string(value)
    arguments: list[str] = []
    current: list[str] | None = None
    position = 0
    while position < len(command):
        char = command[position]
        if char == " ":
            if current is not None:
                arguments.append("".join(current))
                current = None
        elif char == '"':
            assert current is None, f"a quote opens inside an argument in {command!r}"
            current = []
            position += 1
            while True:
                assert position < len(command), f"unterminated quote in {command!r}"
                char = command[position]
                if char == '"':
                    break
                if char == "\\":
                    position += 1
                    char = command[position]
                    assert char in '"`$\\', f"backslash before {char!r} in quotes in {command!r}"
                current.append(char)
                position += 1
            following = command[position + 1 : position + 2]
            assert following in ("", " "), f"text right after a closing quote in {command!r}"
        else:
            assert char not in reserved, f"reserved {char!r} outside quotes in {command!r}"
            current = [*(current or []), char]
        position += 1
    if current is not None:
        arguments.append("".join(current))
    # Field codes are expanded after unquoting; the only one allowed here is %%.
    result: list[str] = []
    for argument in arguments:
        assert "%" not in argument.replace("%%", ""), f"a field code in {argument!r}"
        result.append(argument.replace("%%", "%"))
    return result


def read_main_group(path: Path) -> dict[str, str]:
    """The keys of ``[Desktop Entry]`` with their raw values; every key exactly once."""
    entries: dict[str, str] = {}
    group = None
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            group = line
            continue
        key, separator, value = line.partition("=")
        assert separator, f"not a key=value line: {line!r}"
        if group == "[Desktop Entry]":
            assert key.strip() not in entries, f"{key} twice"
            entries[key.strip()] = value.strip(" ")
    return entries


def validate(path: Path) -> None:
    """Fail unless desktop-file-validate accepts ``path`` without a word (hints included)."""
    validator = shutil.which("desktop-file-validate")
    if validator is None:
        pytest.fail("desktop-file-validate is not installed: apt-get install -y desktop-file-utils")
    result = subprocess.run([validator, str(path)], capture_output=True, text=True, check=False)
    output = (result.stdout + result.stderr).strip()
    assert result.returncode == 0 and not output, output or f"exit status {result.returncode}"


def files_under(root: Path) -> set[Path]:
    return {path for path in root.rglob("*") if not path.is_dir()}


def expected_paths(data_home: Path) -> list[Path]:
    icons = [
        data_home / "icons" / "hicolor" / f"{n}x{n}" / "apps" / "vms_desktop.png"
        for n in ICON_SIZES
    ]
    return [*icons, data_home / "applications" / "vms_desktop.desktop"]


# --- the shipped template ----------------------------------------------------------------------


def test_template_passes_desktop_file_validate() -> None:
    validate(resource_path("vms_desktop.desktop"))


def test_template_describes_the_application() -> None:
    entry = read_main_group(resource_path("vms_desktop.desktop"))
    assert entry["Type"] == "Application"
    assert entry["Name"] == "vms_desktop"
    assert entry["GenericName"] == "Video Management Console"
    assert entry["Exec"] == "vms-desktop"
    assert entry["TryExec"] == "vms-desktop"
    assert entry["Icon"] == "vms_desktop"
    assert entry["Terminal"] == "false"
    # Qt's xcb plugin sets the WM_CLASS class to QCoreApplication.applicationName() (app.py).
    assert entry["StartupWMClass"] == "vms_desktop"
    assert entry["Categories"].split(";")[:2] == ["AudioVideo", "Video"]
    assert entry["Comment"]
    assert entry["Keywords"].endswith(";")


# --- install ---------------------------------------------------------------------------------


def test_install_writes_the_entry_and_every_icon(tmp_path: Path) -> None:
    data_home = tmp_path / "share"
    executable = Path("/opt/vms-desktop/vms-desktop")
    written = install_desktop_entry(executable, data_home)
    assert written == expected_paths(data_home)
    assert files_under(tmp_path) == set(written), "stray (temporary?) files left behind"
    for size, path in zip(ICON_SIZES, written, strict=False):
        assert path.read_bytes() == icon_path(size).read_bytes()
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
    entry_path = written[-1]
    assert stat.S_IMODE(entry_path.stat().st_mode) == 0o644
    entry = read_main_group(entry_path)
    assert split_exec(entry["Exec"]) == [str(executable)]
    assert unescape_string(entry["TryExec"]) == str(executable)
    template = read_main_group(resource_path("vms_desktop.desktop"))
    assert {k: v for k, v in entry.items() if k not in ("Exec", "TryExec")} == {
        k: v for k, v in template.items() if k not in ("Exec", "TryExec")
    }
    validate(entry_path)


def test_install_makes_a_relative_executable_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    written = install_desktop_entry(Path("bin/vms-desktop"), tmp_path / "share")
    entry = read_main_group(written[-1])
    assert split_exec(entry["Exec"]) == [str(tmp_path / "bin" / "vms-desktop")]


@pytest.mark.parametrize("directory", AWKWARD_DIRECTORIES)
def test_exec_round_trips_an_awkward_path(tmp_path: Path, directory: str) -> None:
    executable = Path("/opt") / directory / "vms-desktop"
    written = install_desktop_entry(executable, tmp_path)
    entry = read_main_group(written[-1])
    # A percent sign in the program path trips GLib (see test_installed_entry_launches_...).
    command = ["env", str(executable)] if "%" in directory else [str(executable)]
    assert split_exec(entry["Exec"]) == command
    assert unescape_string(entry["TryExec"]) == str(executable)
    validate(written[-1])


def test_exec_value_quotes_only_when_needed() -> None:
    assert exec_value(["/opt/vms/vms-desktop"]) == "/opt/vms/vms-desktop"
    assert exec_value(["/opt/my vms/vms-desktop"]) == '"/opt/my vms/vms-desktop"'
    # Quoting escapes the backslash once, the string escape doubles both: four in the file.
    assert exec_value(["/a\\b"]) == '"/a\\\\\\\\b"'
    assert exec_value(['/a"b$c']) == '"/a\\\\"b\\\\$c"'
    assert exec_value(["/100%"]) == "/100%%"


@pytest.mark.parametrize("value", [" ", " a ", "a\\b", "tab\tnew\nline\rend", "/plain/path"])
def test_string_values_round_trip(value: str) -> None:
    escaped = escape_string_value(value)
    assert escaped == escaped.strip(" \t"), "surrounding whitespace would be lost"
    assert not any(char in escaped for char in "\n\t\r")
    assert unescape_string(escaped) == value


@pytest.mark.parametrize("bad", ["/opt/new\nline/vms-desktop", "/opt/tab\there/vms-desktop"])
def test_control_characters_are_refused(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ValueError, match="control characters"):
        install_desktop_entry(Path(bad), tmp_path)
    assert files_under(tmp_path) == set()


def test_a_path_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    latin1 = Path(b"/opt/caf\xe9/vms-desktop".decode("utf-8", "surrogateescape"))
    with pytest.raises(ValueError, match="UTF-8"):
        install_desktop_entry(latin1, tmp_path)
    assert files_under(tmp_path) == set()


def test_template_without_exec_is_refused() -> None:
    with pytest.raises(ValueError, match="no Exec key"):
        render_desktop_entry("[Desktop Entry]\nType=Application\n", Path("/x"))


def test_only_the_main_group_is_rewritten() -> None:
    template = "[Desktop Entry]\nExec=old\nTryExec=old\n\n[Desktop Action New]\nExec=other\n"
    rendered = render_desktop_entry(template, Path("/opt/a b/x"))
    assert rendered == (
        '[Desktop Entry]\nExec="/opt/a b/x"\nTryExec=/opt/a b/x\n\n'
        "[Desktop Action New]\nExec=other\n"
    )


def test_installed_entry_launches_through_glib(tmp_path: Path) -> None:
    """GLib (GNOME and most launchers) accepts the entry, TryExec included, and runs the file."""
    assert Path(SYSTEM_PYTHON).exists(), f"{SYSTEM_PYTHON} is missing (python3-gi)"
    folder = tmp_path / AWKWARD_DIRECTORIES[2] / AWKWARD_DIRECTORIES[1]
    folder.mkdir(parents=True)
    executable = folder / "vms-desktop"
    marker = tmp_path / "launched"
    executable.write_text(
        f'#!/bin/sh\nprintf %s "$0" > "{marker}.tmp" && mv "{marker}.tmp" "{marker}"\n'
    )
    executable.chmod(0o755)
    entry_path = install_desktop_entry(executable, tmp_path / "share")[-1]
    launcher = textwrap.dedent(
        """
        import sys
        import gi
        gi.require_version("Gio", "2.0")
        from gi.repository import Gio
        info = Gio.DesktopAppInfo.new_from_filename(sys.argv[1])
        if info is None:
            sys.exit("GLib rejected the entry (or its TryExec)")
        print(info.get_commandline())
        info.launch([], None)
        """
    )
    result = subprocess.run(
        [SYSTEM_PYTHON, "-c", launcher, str(entry_path)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    wait_until(marker.exists, 20, "the launched program to run")
    assert marker.read_text() == str(executable)


def test_data_home_defaults_to_xdg_data_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    written = install_desktop_entry(Path("/opt/vms/vms-desktop"))
    assert written == expected_paths(tmp_path / "xdg")
    assert uninstall_desktop_entry() == [written[-1], *written[:-1]]
    assert files_under(tmp_path) == set()


@pytest.mark.parametrize("xdg_data_home", [None, "", "relative/share"])
def test_data_home_falls_back_to_local_share(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, xdg_data_home: str | None
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    if xdg_data_home is None:
        monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    else:
        monkeypatch.setenv("XDG_DATA_HOME", xdg_data_home)
    written = install_desktop_entry(Path("/opt/vms/vms-desktop"))
    assert written == expected_paths(tmp_path / ".local" / "share")


def test_reinstall_replaces_the_entry(tmp_path: Path) -> None:
    install_desktop_entry(Path("/opt/old/vms-desktop"), tmp_path)
    written = install_desktop_entry(Path("/opt/new/vms-desktop"), tmp_path)
    assert split_exec(read_main_group(written[-1])["Exec"]) == ["/opt/new/vms-desktop"]
    assert files_under(tmp_path) == set(written)


def test_a_failed_write_keeps_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    written = install_desktop_entry(Path("/opt/old/vms-desktop"), tmp_path)
    before = written[-1].read_bytes()

    def refuse(source: object, target: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(desktop_entry.os, "replace", refuse)
    with pytest.raises(OSError, match="disk full"):
        install_desktop_entry(Path("/opt/new/vms-desktop"), tmp_path)
    assert written[-1].read_bytes() == before
    assert files_under(tmp_path) == set(written)


# --- uninstall -------------------------------------------------------------------------------


def test_uninstall_removes_everything_install_wrote(tmp_path: Path) -> None:
    data_home = tmp_path / "share"
    other = data_home / "icons" / "hicolor" / "48x48" / "apps" / "someone-else.png"
    other.parent.mkdir(parents=True)
    other.write_bytes(b"not ours")
    written = install_desktop_entry(Path("/opt/a b/vms-desktop"), data_home)
    assert uninstall_desktop_entry(data_home) == [written[-1], *written[:-1]]
    assert files_under(tmp_path) == {other}
    assert uninstall_desktop_entry(data_home) == []


def test_the_exec_reader_fails_on_bad_quoting() -> None:
    with pytest.raises(AssertionError, match="outside quotes"):
        split_exec("/opt/a b/x;")
    with pytest.raises(AssertionError, match="unterminated"):
        split_exec('"/opt/a b/x')
    with pytest.raises(AssertionError, match="field code"):
        split_exec("/opt/100%")
    assert split_exec('"/a \\\\"b" c') == ['/a "b', "c"]
