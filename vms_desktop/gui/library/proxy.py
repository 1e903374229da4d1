"""Sorting and the instant text filter over the loaded rows of the clip table."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QObject, QPersistentModelIndex, QSortFilterProxyModel

from vms_desktop.domain.clip import ClipMeta
from vms_desktop.domain.clip_query import matches_text
from vms_desktop.gui.library.columns import ClipRole, SortRole

_ModelIndex = QModelIndex | QPersistentModelIndex


class ClipFilterProxyModel(QSortFilterProxyModel):
    """Sorts the loaded rows by any column and narrows them at once with a quick text filter.

    The quick filter uses the catalogue's own text rule, so it shows immediately what the
    catalogue query (which also sees the rows not loaded yet) will answer.
    """

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._needle = ""
        self.setSortRole(SortRole)
        self.setDynamicSortFilter(True)

    def set_quick_text(self, text: str) -> None:
        """Show only the loaded rows matching ``text``."""
        text = text.strip()
        if text == self._needle:
            return
        if hasattr(self, "beginFilterChange"):  # Qt 6.10+; invalidateRowsFilter before
            self.beginFilterChange()
            self._needle = text
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:
            self._needle = text
            self.invalidateRowsFilter()

    def clip(self, index: _ModelIndex) -> ClipMeta | None:
        """The clip of a proxy index."""
        meta = index.data(ClipRole) if index.isValid() else None
        return meta if isinstance(meta, ClipMeta) else None

    def filterAcceptsRow(self, source_row: int, source_parent: _ModelIndex) -> bool:
        if not self._needle:
            return True
        meta = self.sourceModel().index(source_row, 0, source_parent).data(ClipRole)
        return not isinstance(meta, ClipMeta) or matches_text(meta, self._needle)
