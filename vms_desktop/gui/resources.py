"""The console's theme and application icon, loaded from the resource files."""

from __future__ import annotations

from PySide6.QtGui import QIcon

from vms_desktop.resource_files import ICON_SIZES, icon_path, resource_path


def stylesheet() -> str:
    """The dark theme's Qt style sheet, or an empty one if the file is missing."""
    path = resource_path("dark.qss")
    return path.read_text(encoding="utf-8") if path.exists() else ""


def app_icon() -> QIcon:
    """The application icon in every size shipped, so each place picks a sharp one."""
    icon = QIcon()
    for size in ICON_SIZES:
        path = icon_path(size)
        if path.exists():
            icon.addFile(str(path))
    return icon
