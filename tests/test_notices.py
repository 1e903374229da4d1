"""The licence files shipped with the bundle: LICENSE and the third-party notices check."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SCRIPT = REPO_ROOT / "scripts" / "check_notices.py"
NOTICES = REPO_ROOT / "THIRD_PARTY_NOTICES.md"
LICENSE = REPO_ROOT / "LICENSE"

SUMMARY = re.compile(r"^(\d+) distributions and (\d+) native libraries covered$")


def run_check(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the notices check with this interpreter, as the build and CI do."""
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def without_section(text: str, heading: str) -> str:
    """``text`` with the ``## heading`` section (up to the next heading) cut out."""
    pattern = rf"^## {re.escape(heading)}\n.*?(?=^#)"
    shortened, count = re.subn(pattern, "", text, count=1, flags=re.MULTILINE | re.DOTALL)
    assert count == 1, f"the notices have no '## {heading}' section to remove"
    return shortened


@pytest.fixture(scope="module")
def check_notices() -> Iterator[ModuleType]:
    """The script loaded as a module, for its helpers."""
    spec = importlib.util.spec_from_file_location("check_notices", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[spec.name]


def test_license_is_the_gpl_version_3() -> None:
    text = LICENSE.read_text(encoding="utf-8")
    assert text.lstrip().startswith("GNU GENERAL PUBLIC LICENSE")
    assert "Version 3, 29 June 2007" in text
    assert "TERMS AND CONDITIONS" in text
    assert "How to Apply These Terms to Your New Programs" in text
    assert "LESSER" not in text.splitlines()[0]


def test_real_notices_cover_the_installed_dependencies() -> None:
    result = run_check()
    assert result.returncode == 0, result.stderr
    match = SUMMARY.match(result.stdout.strip())
    assert match is not None, result.stdout
    distributions, libraries = (int(group) for group in match.groups())
    # The closure holds at least the eleven direct dependencies of pyproject.toml.
    assert distributions >= 11
    # FFmpeg's own libraries alone are seven; numpy adds its BLAS and compiler runtimes.
    assert libraries >= 10


@pytest.mark.parametrize("distribution", ["qasync", "h11", "PySide6_Essentials"])
def test_a_missing_section_fails_and_names_the_distribution(
    tmp_path: Path, distribution: str
) -> None:
    notices = tmp_path / "notices.md"
    notices.write_text(
        without_section(NOTICES.read_text(encoding="utf-8"), distribution), encoding="utf-8"
    )

    result = run_check("--notices", str(notices))

    assert result.returncode == 1, result.stdout
    assert distribution in result.stderr
    assert "covered" not in result.stdout


def test_an_unmentioned_native_library_fails(tmp_path: Path) -> None:
    text = NOTICES.read_text(encoding="utf-8")
    assert "libx264" in text
    notices = tmp_path / "notices.md"
    # "libx264-encoder" must not count as a mention of libx264 either.
    notices.write_text(text.replace("libx264", "libx264-encoder"), encoding="utf-8")

    result = run_check("--notices", str(notices))

    assert result.returncode == 1, result.stdout
    assert "libx264" in result.stderr
    assert "libx265" not in result.stderr


def test_a_library_a_bundle_copied_from_the_system_must_be_named(tmp_path: Path) -> None:
    internal = tmp_path / "bundle" / "_internal"
    internal.mkdir(parents=True)
    (internal / "libsqlite3.so.0").write_bytes(b"")  # named in the notices
    (internal / "libexotic.so.3").write_bytes(b"")
    (internal / "libQt6Core.so.6").symlink_to(internal / "libsqlite3.so.0")  # links are skipped

    result = run_check("--bundle", str(tmp_path / "bundle"))

    assert result.returncode == 1, result.stdout
    assert "native libraries not mentioned: libexotic" in result.stderr


def test_requirements_are_followed_transitively(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\nname = "probe"\ndependencies = ["pytest"]\n', encoding="utf-8")

    result = run_check("--pyproject", str(pyproject))

    assert result.returncode == 1
    # pytest is not shipped, and neither is pluggy, which only pytest pulls in.
    assert "pytest" in result.stderr
    assert "pluggy" in result.stderr


def test_extra_only_requirements_are_skipped(tmp_path: Path) -> None:
    # pydantic's "email" extra needs email-validator, which is not installed; asking for
    # pydantic without the extra must not look for it.
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        '[project]\nname = "probe"\ndependencies = ["pydantic>=2", "uvicorn"]\n', encoding="utf-8"
    )

    result = run_check("--pyproject", str(pyproject))

    assert result.returncode == 0, result.stderr
    match = SUMMARY.match(result.stdout.strip())
    assert match is not None, result.stdout
    # pydantic, pydantic-core, annotated-types, typing-extensions, typing-inspection,
    # uvicorn, click, h11.
    assert int(match.group(1)) == 8


@pytest.mark.parametrize(
    ("filename", "stem"),
    [
        ("libx264-d6533a8d.so.165", "libx264"),
        ("libavcodec-5e6b81c2.so.62.28.102", "libavcodec"),
        ("libopencore-amrnb-d72c52e2.so.0.0.5", "libopencore-amrnb"),
        ("libxcb-shape-7716c890.so.0.0.0", "libxcb-shape"),
        ("libgfortran-040039e1-0352e75f.so.5.0.0", "libgfortran"),
        ("libscipy_openblas64_-32a4b2a6.so", "libscipy_openblas64_"),
        ("libhogweed-006f41d4.so.6.11", "libhogweed"),
    ],
)
def test_library_stem_drops_hash_and_version(
    check_notices: ModuleType, filename: str, stem: str
) -> None:
    assert check_notices.library_stem(filename) == stem


def test_a_library_is_only_mentioned_by_its_whole_name(check_notices: ModuleType) -> None:
    assert check_notices.mentions("| `libxcb` | X11 |", "libxcb")
    assert not check_notices.mentions("| `libxcb-shm` | X11 |", "libxcb")
    assert check_notices.mentions("uses libSvtAv1Enc.", "libsvtav1enc")
