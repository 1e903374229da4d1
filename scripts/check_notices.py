"""Check that THIRD_PARTY_NOTICES.md covers every runtime distribution and native library."""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name

REPO_ROOT = Path(__file__).resolve().parent.parent

# Folders that auditwheel/delocate/delvewheel fill with a wheel's vendored shared libraries,
# keyed by the distribution that owns them.
NATIVE_LIBRARY_FOLDERS: tuple[tuple[str, str], ...] = (("av", "av.libs"), ("numpy", "numpy.libs"))

_SHARED_SUFFIX = re.compile(r"\.(?:so(?:\.[0-9.]+)?|dylib|dll|pyd)$", re.IGNORECASE)
_SO_VERSION = re.compile(r"\.so(?:\.[0-9]+)*$")
_HASH_SUFFIX = re.compile(r"-[0-9a-f]{8}$")


class MissingDistributionError(Exception):
    """A runtime requirement is not installed in the running interpreter."""


@dataclass
class Closure:
    """The installed distributions reachable from the project's runtime requirements."""

    names: dict[NormalizedName, str] = field(default_factory=dict)
    extras: dict[NormalizedName, set[str]] = field(default_factory=dict)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line: where the notices and pyproject.toml are."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--notices",
        type=Path,
        default=REPO_ROOT / "THIRD_PARTY_NOTICES.md",
        help="the notices file to check (default: %(default)s)",
    )
    parser.add_argument(
        "--pyproject",
        type=Path,
        default=REPO_ROOT / "pyproject.toml",
        help="the project file whose [project] dependencies are checked (default: %(default)s)",
    )
    parser.add_argument(
        "--bundle",
        type=Path,
        help="also require every library a built bundle copied from the system (the files at "
        "the top of its _internal folder) to be mentioned",
    )
    return parser.parse_args(argv)


def project_requirements(pyproject: Path) -> list[Requirement]:
    """The ``[project] dependencies`` of ``pyproject``."""
    with pyproject.open("rb") as handle:
        data = tomllib.load(handle)
    project = data.get("project", {})
    dependencies: list[str] = project.get("dependencies", [])
    return [Requirement(text) for text in dependencies]


def applies(requirement: Requirement, extras: Iterable[str]) -> bool:
    """Whether ``requirement`` is needed here, given the extras requested of its parent."""
    if requirement.marker is None:
        return True
    return any(requirement.marker.evaluate({"extra": extra}) for extra in ("", *extras))


def resolve_closure(roots: Iterable[Requirement]) -> Closure:
    """Every installed distribution the ``roots`` need, following ``Requires-Dist`` transitively.

    Requirements whose environment markers are false (including those that only apply to an
    extra nobody asked for) are skipped.
    """
    closure = Closure()
    pending: list[tuple[Requirement, frozenset[str]]] = [(req, frozenset()) for req in roots]
    while pending:
        requirement, parent_extras = pending.pop()
        if not applies(requirement, parent_extras):
            continue
        key = canonicalize_name(requirement.name)
        try:
            dist = metadata.distribution(requirement.name)
        except metadata.PackageNotFoundError as exc:
            raise MissingDistributionError(requirement.name) from exc
        wanted = {canonicalize_name(extra) for extra in requirement.extras}
        known = closure.extras.get(key)
        if known is not None and wanted <= known:
            continue
        closure.names.setdefault(key, dist.metadata["Name"])
        closure.extras[key] = (known or set()) | wanted
        extras = frozenset(closure.extras[key])
        for text in dist.requires or []:
            pending.append((Requirement(text), extras))
    return closure


def notice_headings(text: str) -> set[NormalizedName]:
    """The normalized names of the level-2 headings in the notices."""
    headings: set[NormalizedName] = set()
    for line in text.splitlines():
        if line.startswith("## "):
            title = line[3:].strip().strip("`").strip()
            if title:
                headings.add(canonicalize_name(title))
    return headings


def library_stem(filename: str) -> str:
    """``libx264-d6533a8d.so.165`` -> ``libx264``: no auditwheel hash, no ``.so`` version."""
    stem = _SO_VERSION.sub("", filename)
    stem = re.sub(r"\.(?:dylib|dll|pyd)$", "", stem, flags=re.IGNORECASE)
    while _HASH_SUFFIX.search(stem):
        stem = _HASH_SUFFIX.sub("", stem)
    return stem


def native_libraries() -> dict[str, list[str]]:
    """The vendored shared libraries of the installed wheels, by folder, as sorted file names."""
    found: dict[str, list[str]] = {}
    for dist_name, folder_name in NATIVE_LIBRARY_FOLDERS:
        try:
            dist = metadata.distribution(dist_name)
        except metadata.PackageNotFoundError:
            continue
        folder = Path(str(dist.locate_file(folder_name)))
        if not folder.is_dir():
            continue
        names = sorted(
            entry.name
            for entry in folder.iterdir()
            if entry.is_file() and _SHARED_SUFFIX.search(entry.name)
        )
        found[folder_name] = names
    return found


def bundle_libraries(bundle: Path) -> list[str]:
    """Shared libraries PyInstaller copied to the top of a bundle's ``_internal`` folder.

    Links are left out: they point at libraries inside the wheels' own folders.
    """
    internal = bundle / "_internal"
    return sorted(
        entry.name
        for entry in internal.iterdir()
        if entry.is_file() and not entry.is_symlink() and _SHARED_SUFFIX.search(entry.name)
    )


def mentions(text: str, stem: str) -> bool:
    """Whether ``stem`` occurs in ``text`` as a whole name (``libxcb`` is not ``libxcb-shm``)."""
    pattern = rf"(?<![\w-]){re.escape(stem)}(?![\w-])"
    return re.search(pattern, text, flags=re.IGNORECASE) is not None


def main(argv: Sequence[str] | None = None) -> int:
    """Check the notices; print what is missing and return 1, or a summary and return 0."""
    args = parse_args(argv)
    notices_path: Path = args.notices
    pyproject_path: Path = args.pyproject
    try:
        text = notices_path.read_text(encoding="utf-8")
    except OSError as exc:
        print(f"cannot read the notices: {exc}", file=sys.stderr)
        return 2
    try:
        closure = resolve_closure(project_requirements(pyproject_path))
    except MissingDistributionError as exc:
        print(
            f"runtime requirement {exc.args[0]!r} is not installed in {sys.executable}; "
            "install the project's runtime dependencies first",
            file=sys.stderr,
        )
        return 2
    except (OSError, tomllib.TOMLDecodeError) as exc:
        print(f"cannot read {pyproject_path}: {exc}", file=sys.stderr)
        return 2

    headings = notice_headings(text)
    missing_dists = [name for key, name in sorted(closure.names.items()) if key not in headings]

    libraries = native_libraries()
    if args.bundle is not None:
        libraries["bundle"] = bundle_libraries(args.bundle)
    stems = sorted({library_stem(name) for names in libraries.values() for name in names})
    missing_libs = [stem for stem in stems if not mentions(text, stem)]

    if missing_dists or missing_libs:
        if missing_dists:
            print(
                f"{notices_path}: no '## <name>' section for: {', '.join(missing_dists)}",
                file=sys.stderr,
            )
        if missing_libs:
            print(
                f"{notices_path}: native libraries not mentioned: {', '.join(missing_libs)}",
                file=sys.stderr,
            )
        return 1

    print(f"{len(closure.names)} distributions and {len(stems)} native libraries covered")
    return 0


if __name__ == "__main__":
    sys.exit(main())
