"""Paints a clip row's thumbnail (or a placeholder) before the event time."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QModelIndex, QObject, QPersistentModelIndex, QRect, QSize, Qt
from PySide6.QtGui import QImage, QPalette
from PySide6.QtWidgets import QApplication, QStyle, QStyledItemDelegate, QStyleOptionViewItem

from vms_desktop.gui.library.columns import (
    LEFT,
    ClipColumn,
    ThumbnailRole,
    ThumbnailState,
    ThumbnailStateRole,
)
from vms_desktop.gui.pictures import fitted_rect

_ModelIndex = QModelIndex | QPersistentModelIndex


class ClipDelegate(QStyledItemDelegate):
    """Paints the clip's thumbnail (or a placeholder until it is made) before the event time."""

    def __init__(self, thumbnail_size: QSize | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.thumbnail_size = thumbnail_size or QSize(96, 72)
        self.margin = 4

    @property
    def row_height(self) -> int:
        """The height a row needs for its thumbnail."""
        return self.thumbnail_size.height() + 2 * self.margin

    def paint(self, painter: Any, option: QStyleOptionViewItem, index: _ModelIndex) -> None:
        if index.column() != ClipColumn.TIME:
            super().paint(painter, option, index)
            return
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        text = opt.text
        opt.text = ""
        widget = opt.widget
        style = widget.style() if widget is not None else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, widget)

        rect = opt.rect
        size = self.thumbnail_size
        box = QRect(
            rect.left() + self.margin,
            rect.top() + max(0, (rect.height() - size.height()) // 2),
            size.width(),
            min(size.height(), rect.height()),
        )
        painter.save()
        image = index.data(ThumbnailRole)
        if isinstance(image, QImage) and not image.isNull():
            painter.drawImage(fitted_rect(image.width(), image.height(), box), image)
        else:
            painter.fillRect(box, opt.palette.color(QPalette.ColorRole.Mid))
            state = index.data(ThumbnailStateRole)
            label = "…" if state == ThumbnailState.PENDING else "no preview"
            painter.setPen(opt.palette.color(QPalette.ColorRole.Light))
            painter.drawText(box, int(Qt.AlignmentFlag.AlignCenter), label)
        selected = bool(opt.state & QStyle.StateFlag.State_Selected)
        role = QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
        painter.setPen(opt.palette.color(role))
        painter.setFont(opt.font)
        text_rect = rect.adjusted(size.width() + 2 * self.margin, 0, -self.margin, 0)
        elided = opt.fontMetrics.elidedText(text, Qt.TextElideMode.ElideRight, text_rect.width())
        painter.drawText(text_rect, LEFT, elided)
        painter.restore()

    def sizeHint(self, option: QStyleOptionViewItem, index: _ModelIndex) -> QSize:
        base = super().sizeHint(option, index)
        height = max(base.height(), self.row_height)
        if index.column() != ClipColumn.TIME:
            return QSize(base.width(), height)
        return QSize(base.width() + self.thumbnail_size.width() + 2 * self.margin, height)
