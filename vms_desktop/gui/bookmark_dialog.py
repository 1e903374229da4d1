"""The small dialog that asks for a new bookmark's note and whether it protects the footage."""

from __future__ import annotations

from datetime import datetime

from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QWidget,
)

from vms_desktop.domain.bookmark import MAX_NOTE_LENGTH
from vms_desktop.gui.time_text import local_time_text


class BookmarkDialog(QDialog):
    """Asks for a note and the protect choice for a bookmark of ``camera_id`` at ``moment``."""

    def __init__(self, camera_id: str, moment: datetime, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.camera_id = camera_id
        self.moment = moment
        self.setWindowTitle("Bookmark")
        self.note_edit = QLineEdit(self)
        self.note_edit.setMaxLength(MAX_NOTE_LENGTH)
        self.note_edit.setPlaceholderText("What happened here")
        self.protect_box = QCheckBox("Keep this footage until the bookmark is deleted", self)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QFormLayout(self)
        layout.addRow("Camera", QLabel(camera_id, self))
        layout.addRow("Time", QLabel(local_time_text(moment), self))
        layout.addRow("Note", self.note_edit)
        layout.addRow("", self.protect_box)
        layout.addRow(buttons)

    @property
    def note(self) -> str:
        """The note typed, on one line (line breaks pasted in become spaces)."""
        return " ".join(self.note_edit.text().split())

    @property
    def protect(self) -> bool:
        """Whether the footage around the moment is to be kept."""
        return self.protect_box.isChecked()
