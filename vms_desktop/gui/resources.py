"""Finding the files under ``resources/`` (theme, icons) from a checkout, a wheel or a bundle."""

from __future__ import annotations

import sys
from pathlib import Path


def resources_dir() -> Path:
    """The ``resources`` directory: beside the package in a checkout, unpacked in a bundle."""
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle is not None:
        return Path(bundle) / "resources"
    return Path(__file__).resolve().parent.parent.parent / "resources"


def resource_path(name: str) -> Path:
    """The path of one resource file."""
    return resources_dir() / name


def stylesheet() -> str:
    """The dark theme's Qt style sheet, or an empty one if the file is missing."""
    path = resource_path("dark.qss")
    return path.read_text(encoding="utf-8") if path.exists() else ""
