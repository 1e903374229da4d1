"""Where the application's own files are: theme, icons and documents beside the code or bundle."""

from __future__ import annotations

import sys
from pathlib import Path

ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def is_frozen() -> bool:
    """True inside a PyInstaller bundle."""
    return getattr(sys, "frozen", False) and hasattr(sys, "_MEIPASS")


def app_root() -> Path:
    """The folder holding ``resources/``, ``.env.example`` and the licence files.

    In a bundle that is PyInstaller's unpacked data folder, wherever the bundle was started
    from; in a checkout it is the repository root.
    """
    if is_frozen():
        return Path(sys._MEIPASS)  # type: ignore[attr-defined]  # set by the bundle's loader
    return Path(__file__).resolve().parent.parent


def resources_dir() -> Path:
    """The ``resources`` folder: theme, icons, desktop entry."""
    return app_root() / "resources"


def resource_path(name: str) -> Path:
    """The path of one file under ``resources/``."""
    return resources_dir() / name


def icon_path(size: int) -> Path:
    """The application icon as a PNG of ``size`` x ``size`` pixels."""
    return resources_dir() / "icons" / f"vms_desktop-{size}.png"


def env_example_path() -> Path:
    """``.env.example``: every setting with its default and what it accepts."""
    return app_root() / ".env.example"


def license_path() -> Path:
    """The project's licence (GPL-3.0-or-later)."""
    return app_root() / "LICENSE"


def notices_path() -> Path:
    """Licences of the third-party components shipped with the application."""
    return app_root() / "THIRD_PARTY_NOTICES.md"
