"""Render resources/vms_desktop.svg to the PNG icons in resources/icons/, one per ICON_SIZES."""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

from vms_desktop.resource_files import ICON_SIZES, icon_path, resource_path


def render(renderer: QSvgRenderer, size: int) -> QImage:
    """The SVG drawn into a transparent ``size`` x ``size`` image, aspect ratio kept, centred."""
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    view = renderer.viewBoxF()
    scale = size / max(view.width(), view.height())
    width, height = view.width() * scale, view.height() * scale
    target = QRectF((size - width) / 2, (size - height) / 2, width, height)
    painter = QPainter(image)
    try:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        renderer.render(painter, target)
    finally:
        painter.end()
    # Straight (non-premultiplied) alpha is what PNG stores; converting here keeps it exact.
    return image.convertToFormat(QImage.Format.Format_ARGB32)


def main() -> int:
    """Write every icon size; returns the process exit status."""
    _app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])
    source = resource_path("vms_desktop.svg")
    renderer = QSvgRenderer(str(source))
    if not renderer.isValid():
        print(f"cannot read {source}", file=sys.stderr)
        return 1
    for size in ICON_SIZES:
        target = icon_path(size)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.stem}.tmp.png")  # Qt picks the format by suffix
        if not render(renderer, size).save(str(partial)):
            partial.unlink(missing_ok=True)
            print(f"cannot write {target}", file=sys.stderr)
            return 1
        os.replace(partial, target)
        print(target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
