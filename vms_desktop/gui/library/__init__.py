"""The clip library: the paged clip table (model, proxy, delegate) and its panel."""

from vms_desktop.gui.library.columns import (
    ClipColumn,
    ClipRole,
    SortRole,
    ThumbnailRole,
    ThumbnailState,
    ThumbnailStateRole,
)
from vms_desktop.gui.library.delegate import ClipDelegate
from vms_desktop.gui.library.model import DEFAULT_PAGE_SIZE, ClipTableModel
from vms_desktop.gui.library.panel import ClipLibraryPanel
from vms_desktop.gui.library.proxy import ClipFilterProxyModel

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "ClipColumn",
    "ClipDelegate",
    "ClipFilterProxyModel",
    "ClipLibraryPanel",
    "ClipRole",
    "ClipTableModel",
    "SortRole",
    "ThumbnailRole",
    "ThumbnailState",
    "ThumbnailStateRole",
]
