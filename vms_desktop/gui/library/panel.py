"""The clip library panel: filter bar, the paged clip table, and actions on the selected clip."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import TypeVar

from PySide6.QtCore import (
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    QTimer,
    QUrl,
    Signal,
    Slot,
)
from PySide6.QtGui import QAction, QDesktopServices, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QSpinBox,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from vms_desktop.domain.clip import ClipMeta
from vms_desktop.domain.clip_query import ClipQuery
from vms_desktop.domain.errors import operator_text
from vms_desktop.engine.console_port import MAX_URL_EXPIRY, CatalogueChange, ClipUrl, Console
from vms_desktop.gui import palette
from vms_desktop.gui.library.columns import ClipColumn
from vms_desktop.gui.library.delegate import ClipDelegate
from vms_desktop.gui.library.filters import EXPIRY_UNITS, ClipFilterControls
from vms_desktop.gui.library.model import DEFAULT_PAGE_SIZE, ClipTableModel
from vms_desktop.gui.library.proxy import ClipFilterProxyModel
from vms_desktop.gui.tasks import BackgroundTasks
from vms_desktop.gui.time_text import local_time_text

log = logging.getLogger(__name__)

_T = TypeVar("_T")
_ModelIndex = QModelIndex | QPersistentModelIndex
_LEFT = int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
_ACTION_THREADS = 2
_TEXT_DEBOUNCE_MS = 300


class ClipLibraryPanel(QWidget):
    """The clip library: filter bar, the paged clip table, and actions on the selected clip."""

    play_requested = Signal(object, str)
    """Play a clip: its :class:`ClipMeta` and what to open (a file path or a URL)."""
    message_shown = Signal(str)
    """A result or an error was shown to the operator (the text shown)."""

    def __init__(
        self,
        console: Console,
        *,
        cameras: Iterable[str] | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.console = console
        self._tasks = BackgroundTasks(_ACTION_THREADS, self)
        self._busy: set[tuple[str, str]] = set()  # (action, event id) running

        self.model = ClipTableModel(console, page_size=page_size, parent=self)
        self.proxy = ClipFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.delegate = ClipDelegate(parent=self)
        self.view = QTableView(self)
        self._build_view()
        self._build_filters(
            sorted(cameras) if cameras is not None else [camera.id for camera in console.cameras]
        )
        self._build_actions()
        self._text_timer = QTimer(self)
        self._text_timer.setSingleShot(True)
        self._text_timer.setInterval(_TEXT_DEBOUNCE_MS)
        self._text_timer.timeout.connect(self.refresh)
        self._layout()

        self.model.total_changed.connect(self._on_total_changed)
        self.model.load_failed.connect(self._on_load_failed)
        self.model.modelReset.connect(self._on_rows_changed)
        self.model.rowsInserted.connect(self._on_rows_changed)
        self.view.selectionModel().selectionChanged.connect(self._on_selection_changed)
        self.view.activated.connect(self._on_row_activated)
        self.refresh()

    # ---- construction ------------------------------------------------------------------------

    def _build_view(self) -> None:
        view = self.view
        view.setModel(self.proxy)
        view.setItemDelegate(self.delegate)
        view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        view.setAlternatingRowColors(True)
        view.setWordWrap(False)
        view.setSortingEnabled(True)
        view.sortByColumn(ClipColumn.TIME, Qt.SortOrder.DescendingOrder)
        view.verticalHeader().hide()
        # Fixed row heights and column widths: sizing to contents would visit every row.
        rows = view.verticalHeader()
        rows.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        rows.setDefaultSectionSize(self.delegate.row_height)
        header = view.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        widths = {
            ClipColumn.TIME: self.delegate.thumbnail_size.width() + 190,  # date, time, zone
            ClipColumn.CAMERA: 90,
            ClipColumn.EVENT_TYPE: 100,
            ClipColumn.DURATION: 70,
            ClipColumn.SIZE: 80,
            ClipColumn.AUDIO: 50,
            ClipColumn.GAPS: 80,
        }
        for column, width in widths.items():
            view.setColumnWidth(column, width)

    def _build_filters(self, cameras: list[str]) -> None:
        self.filters = ClipFilterControls(self, cameras)
        filters = self.filters
        self.camera_combo, self.type_combo = filters.camera_combo, filters.type_combo
        self.from_check, self.from_edit = filters.from_check, filters.from_edit
        self.to_check, self.to_edit = filters.to_check, filters.to_edit
        self.text_edit = filters.text_edit
        self.camera_combo.currentIndexChanged.connect(self._on_filter_changed)
        for check, edit in ((self.from_check, self.from_edit), (self.to_check, self.to_edit)):
            check.toggled.connect(self._on_filter_changed)
            edit.dateTimeChanged.connect(self._on_date_edited)
        self.type_combo.currentTextChanged.connect(self._on_text_edited)
        self.text_edit.textChanged.connect(self._on_search_edited)

    def _build_actions(self) -> None:
        def action(text: str, tip: str, slot: Callable[[], None]) -> QAction:
            made = QAction(text, self)
            made.setToolTip(tip)
            # Called without arguments: Qt would pass ``checked`` (False) as the first
            # parameter of a method that has one, such as save_copy's destination.
            made.triggered.connect(lambda _checked=False: slot())
            self.view.addAction(made)
            return made

        self.refresh_action = QAction("Refresh", self)
        self.refresh_action.setShortcut(QKeySequence.StandardKey.Refresh)
        self.refresh_action.triggered.connect(self.refresh)
        self.play_action = action("Play", "Play the selected clip", self.play_selected)
        self.copy_url_action = action(
            "Copy link", "Copy a time-limited link to the selected clip", self.copy_url
        )
        self.save_action = action("Save copy…", "Save a copy of the clip to disk", self.save_copy)
        self.show_folder_action = action(
            "Show in folder", "Open the folder holding the clip file", self.show_in_folder
        )
        self.verify_action = action(
            "Verify", "Check the clip against its SHA-256 checksum", self.verify_selected
        )
        self.delete_action = action("Delete…", "Delete the clip", self.delete_selected)
        self.delete_action.setShortcut(QKeySequence.StandardKey.Delete)
        self.delete_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)

        self.expiry_spin = QSpinBox(self)
        self.expiry_spin.setToolTip("How long the copied link stays valid")
        self.expiry_unit = QComboBox(self)
        for name, _unit in EXPIRY_UNITS:
            self.expiry_unit.addItem(name)
        self.expiry_unit.currentIndexChanged.connect(self._on_expiry_unit_changed)
        self.expiry_unit.setCurrentIndex(1)
        self._on_expiry_unit_changed(1)
        self.expiry_spin.setValue(1)

        self.count_label = QLabel(self)
        self.message_label = QLabel(self)
        self.message_label.setWordWrap(True)
        self.message_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message_label.hide()
        self._update_actions()

    def _layout(self) -> None:
        filters = QHBoxLayout()
        for widget, stretch in self.filters.in_order():
            filters.addWidget(widget, stretch)
        filters.addWidget(self._button(self.refresh_action))

        actions = QHBoxLayout()
        actions.addWidget(self.count_label)
        actions.addStretch(1)
        actions.addWidget(self._button(self.play_action))
        actions.addWidget(self._button(self.copy_url_action))
        actions.addWidget(self.expiry_spin)
        actions.addWidget(self.expiry_unit)
        for each in (
            self.save_action,
            self.show_folder_action,
            self.verify_action,
            self.delete_action,
        ):
            actions.addWidget(self._button(each))

        layout = QVBoxLayout(self)
        layout.addLayout(filters)
        layout.addWidget(self.message_label)
        layout.addWidget(self.view, 1)
        layout.addLayout(actions)

    def _button(self, action: QAction) -> QToolButton:
        button = QToolButton(self)
        button.setDefaultAction(action)
        button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        return button

    # ---- public API --------------------------------------------------------------------------

    def current_filter(self) -> ClipQuery:
        """The filter the filter bar describes."""
        return self.filters.query()

    @Slot()
    def refresh(self) -> None:
        """Ask the catalogue again with the filter bar's values."""
        self._text_timer.stop()
        self._clear_message()
        self.proxy.set_quick_text(self.text_edit.text())
        self.model.set_filter(self.current_filter())

    @Slot(object)
    def on_catalogue_changed(self, change: CatalogueChange) -> None:
        """Clips were stored, changed or removed: follow (wired to the engine bridge)."""
        self.model.apply_change(change)
        console = self.console
        if console.has_thumbnails and change.removed:
            gone = [meta.event_id for meta in change.removed]
            # Cached thumbnail files of deleted clips go too, off the GUI thread.

            def forget() -> None:
                for event_id in gone:
                    console.forget_thumbnail(event_id)

            self._tasks.submit(forget, _ignore)

    def selected_clip(self) -> ClipMeta | None:
        """The clip selected in the table."""
        rows = self.view.selectionModel().selectedRows()
        return self.proxy.clip(rows[0]) if rows else None

    def select_clip(self, event_id: str) -> bool:
        """Select (and scroll to) a loaded clip; False if it is not loaded or filtered out."""
        row = self.model.row_of(event_id)
        if row is None:
            return False
        index = self.proxy.mapFromSource(self.model.index(row, 0))
        if not index.isValid():
            return False
        self.view.selectRow(index.row())
        self.view.scrollTo(index)
        return True

    def url_expiry(self) -> timedelta:
        """How long a copied link stays valid (the expiry chooser's value)."""
        unit = EXPIRY_UNITS[max(0, self.expiry_unit.currentIndex())][1]
        return min(unit * self.expiry_spin.value(), MAX_URL_EXPIRY)

    def play_selected(self) -> None:
        """Ask for the selected clip to be played (``play_requested`` once its source is known)."""
        meta = self.selected_clip()
        if meta is None:
            return
        console = self.console
        self._run(
            "play",
            meta,
            lambda: console.playback_source(meta.event_id),
            partial(self._on_source_ready, meta),
        )

    def copy_url(self) -> None:
        """Put a time-limited link to the selected clip into the clipboard."""
        meta = self.selected_clip()
        if meta is None:
            return
        expiry = self.url_expiry()
        console = self.console
        self._run(
            "link",
            meta,
            lambda: console.link(meta.event_id, expiry),
            partial(self._on_url_ready, meta),
        )

    def save_copy(self, destination: Path | None = None) -> None:
        """Save a copy of the selected clip; without ``destination`` a file dialog asks."""
        meta = self.selected_clip()
        if meta is None:
            return
        if destination is None:
            dialog = QFileDialog(self, "Save a copy of the clip")
            dialog.setObjectName("saveClipDialog")
            # Qt's own dialog: a native one cannot be driven or found by name.
            dialog.setOption(QFileDialog.Option.DontUseNativeDialog)
            dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
            dialog.setNameFilter("MP4 video (*.mp4)")
            dialog.setDefaultSuffix("mp4")
            dialog.selectFile(f"{meta.event_id}.mp4")
            dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            dialog.fileSelected.connect(partial(self._on_save_path_chosen, meta))
            dialog.open()  # not exec(): a nested event loop would stall the qasync loop
            return
        self._save(meta, Path(destination))

    def show_in_folder(self) -> None:
        """Open the folder holding the selected clip's file (local storage only)."""
        meta = self.selected_clip()
        console = self.console
        if meta is None or not console.has_local_files:
            return
        self._run(
            "show in folder",
            meta,
            lambda: console.local_path(meta.event_id),
            self._on_clip_path,
        )

    def _on_clip_path(self, path: Path | None) -> None:
        if path is None:
            self._show_box(
                QMessageBox.Icon.Warning, "Show in folder", "The clip's file is missing."
            )
            return
        if not QDesktopServices.openUrl(QUrl.fromLocalFile(str(path.parent))):
            self._show_box(
                QMessageBox.Icon.Warning,
                "Show in folder",
                f"No file manager could open the clip folder. The file is {path}.",
            )

    def verify_selected(self) -> None:
        """Check the selected clip's bytes against its SHA-256 (off the GUI thread)."""
        meta = self.selected_clip()
        if meta is None:
            return
        self.model.set_status(meta.event_id, "verifying…")
        console = self.console
        self._run(
            "verify",
            meta,
            lambda: console.verify(meta.event_id),
            partial(self._on_verified, meta),
            partial(self._on_verify_failed, meta),
        )

    def delete_selected(self) -> None:
        """Ask for confirmation, then delete the selected clip."""
        meta = self.selected_clip()
        if meta is None:
            return
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Delete clip",
            f"Delete the clip of event {meta.event_id} ({meta.event.camera_id}, "
            f"{local_time_text(meta.event.timestamp)})? This cannot be undone.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            self,
        )
        box.setObjectName("deleteConfirmation")
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(partial(self._on_delete_answered, box, meta))
        box.open()  # not exec(): a nested event loop would stall the qasync loop

    def shutdown(self) -> None:
        """Stop background work (call before the application quits)."""
        self._text_timer.stop()
        self._tasks.close()
        self.model.close()

    # ---- slots -------------------------------------------------------------------------------

    @Slot(int)
    def _on_total_changed(self, total: int) -> None:
        self.count_label.setText(f"{total:,} clip" + ("" if total == 1 else "s"))

    @Slot(str)
    def _on_load_failed(self, message: str) -> None:
        self._show_message(f"The clip list could not be loaded: {message}", error=True)

    @Slot()
    def _on_rows_changed(self) -> None:
        self.filters.add_seen(self.model.seen_cameras, self.model.seen_event_types)

    @Slot()
    def _on_selection_changed(self) -> None:
        self._update_actions()

    @Slot(QModelIndex)
    def _on_row_activated(self, _index: QModelIndex) -> None:
        self.play_selected()

    @Slot()
    def _on_filter_changed(self) -> None:
        self.refresh()

    @Slot()
    def _on_date_edited(self) -> None:
        if self.from_check.isChecked() or self.to_check.isChecked():
            self._text_timer.start()

    @Slot(str)
    def _on_text_edited(self, _text: str) -> None:
        self._text_timer.start()

    @Slot(str)
    def _on_search_edited(self, text: str) -> None:
        # Loaded rows narrow at once; the catalogue query follows when typing pauses.
        self.proxy.set_quick_text(text)
        self._text_timer.start()

    @Slot(int)
    def _on_expiry_unit_changed(self, index: int) -> None:
        unit = EXPIRY_UNITS[max(0, index)][1]
        self.expiry_spin.setRange(1, MAX_URL_EXPIRY // unit)

    def _on_source_ready(self, meta: ClipMeta, source: str) -> None:
        self.play_requested.emit(meta, source)

    def _on_url_ready(self, meta: ClipMeta, url: ClipUrl) -> None:
        clipboard = QGuiApplication.clipboard()
        clipboard.setText(url.url)
        self._show_message(
            f"Link to clip {meta.event_id} copied; valid until {local_time_text(url.expires_at)}."
        )

    def _on_save_path_chosen(self, meta: ClipMeta, path: str) -> None:
        if path:
            self._save(meta, Path(path))

    def _on_saved(self, meta: ClipMeta, destination: Path, intact: bool) -> None:
        if intact:
            self._show_message(f"Clip {meta.event_id} saved to {destination}.")
        else:
            self._show_box(
                QMessageBox.Icon.Warning,
                "Clip saved, but damaged",
                f"Clip {meta.event_id} was saved to {destination}, but the stored file does not "
                "match its SHA-256 checksum: it was changed or damaged after it was recorded.",
            )

    def _on_verified(self, meta: ClipMeta, intact: bool) -> None:
        if intact:
            self.model.set_status(meta.event_id, "verified")
            self._show_box(
                QMessageBox.Icon.Information,
                "Clip verified",
                f"Clip {meta.event_id} is intact: its SHA-256 checksum matches.",
            )
        else:
            self.model.set_status(meta.event_id, "checksum mismatch")
            self._show_box(
                QMessageBox.Icon.Warning,
                "Clip damaged",
                f"Clip {meta.event_id} does not match its SHA-256 checksum: the file was "
                "changed or damaged after it was recorded.",
            )

    def _on_verify_failed(self, meta: ClipMeta, error: Exception) -> None:
        self.model.set_status(meta.event_id, None)
        self._show_box(
            QMessageBox.Icon.Warning,
            "Verify",
            f"Clip {meta.event_id} could not be verified. {operator_text(error)}",
        )

    def _on_delete_answered(self, box: QMessageBox, meta: ClipMeta, _result: int) -> None:
        if box.standardButton(box.clickedButton()) != QMessageBox.StandardButton.Yes:
            return
        console = self.console
        self._run(
            "delete", meta, lambda: console.delete(meta.event_id), partial(self._on_deleted, meta)
        )

    def _on_deleted(self, meta: ClipMeta, _existed: bool) -> None:
        self.model.remove_clip(meta.event_id)
        self._show_message(f"Clip {meta.event_id} deleted.")

    # ---- helpers -----------------------------------------------------------------------------

    def _run(
        self,
        action: str,
        meta: ClipMeta,
        work: Callable[[], _T],
        done: Callable[[_T], None],
        failed: Callable[[Exception], None] | None = None,
    ) -> None:
        """Run ``work`` off the GUI thread once per clip and action; report failures."""
        key = (action, meta.event_id)
        if key in self._busy:
            return  # a double click must not start a second delete or copy
        self._busy.add(key)

        def finish(result: _T) -> None:
            self._busy.discard(key)
            done(result)

        def fail(error: Exception) -> None:
            self._busy.discard(key)
            if failed is not None:
                failed(error)
            else:
                self._show_box(
                    QMessageBox.Icon.Warning,
                    action.capitalize(),
                    f"Clip {meta.event_id}: {operator_text(error)}",
                )

        self._tasks.submit(work, finish, fail)

    def _save(self, meta: ClipMeta, destination: Path) -> None:
        console = self.console
        self._run(
            "save",
            meta,
            lambda: console.save_copy(meta.event_id, destination),
            partial(self._on_saved, meta, destination),
        )

    def _update_actions(self) -> None:
        selected = self.selected_clip() is not None
        for each in (
            self.play_action,
            self.copy_url_action,
            self.save_action,
            self.verify_action,
            self.delete_action,
        ):
            each.setEnabled(selected)
        local = self.console.has_local_files
        self.show_folder_action.setEnabled(selected and local)
        self.show_folder_action.setToolTip(
            "Open the folder holding the clip file"
            if local
            else "Only clips stored on this computer have a folder"
        )

    def _show_message(self, text: str, *, error: bool = False) -> None:
        self.message_label.setText(text)
        self.message_label.setStyleSheet(f"color: {palette.ERROR_TEXT.name()};" if error else "")
        self.message_label.show()
        self.message_shown.emit(text)

    def _clear_message(self) -> None:
        self.message_label.clear()
        self.message_label.hide()

    def _show_box(self, icon: QMessageBox.Icon, title: str, text: str) -> None:
        box = QMessageBox(icon, title, text, QMessageBox.StandardButton.Ok, self)
        box.setObjectName("libraryMessage")
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()  # not exec(): a nested event loop would stall the qasync loop
        self.message_shown.emit(text)


def _ignore(_result: object) -> None:
    pass
