"""Pictures on screen: RGB arrays as ``QImage``s, and where a picture fits in an area."""

from __future__ import annotations

from PySide6.QtCore import QRect, QRectF
from PySide6.QtGui import QImage

from vms_desktop.engine.console_port import RgbArray


def rgb_image(rgb: RgbArray, *, pixel_ratio: float = 1.0) -> QImage:
    """An image over a (height, width, 3) RGB array, without copying: keep the array alive for
    as long as the image is used.
    """
    height, width = int(rgb.shape[0]), int(rgb.shape[1])
    image = QImage(rgb.data, width, height, rgb.strides[0], QImage.Format.Format_RGB888)
    if pixel_ratio != 1.0:
        image.setDevicePixelRatio(pixel_ratio)
    return image


def owned_rgb_image(rgb: RgbArray) -> QImage:
    """An image with its own copy of the pixels (safe to hand on once the array is gone)."""
    return rgb_image(rgb).copy()


def fitted_rect(width: float, height: float, area: QRect | QRectF) -> QRectF:
    """The largest rectangle of ``width``:``height`` inside ``area``, centred in it."""
    box = QRectF(area)
    if width <= 0 or height <= 0 or box.width() <= 0 or box.height() <= 0:
        return QRectF()
    scale = min(box.width() / width, box.height() / height)
    fitted_width, fitted_height = width * scale, height * scale
    return QRectF(
        box.x() + (box.width() - fitted_width) / 2,
        box.y() + (box.height() - fitted_height) / 2,
        fitted_width,
        fitted_height,
    )
