"""The clip library's filter controls and the catalogue query they describe."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from PySide6.QtCore import QDateTime
from PySide6.QtWidgets import QCheckBox, QComboBox, QDateTimeEdit, QLineEdit, QWidget

from vms_desktop.domain.clip_query import ClipQuery
from vms_desktop.gui.time_text import current_zone_label

EXPIRY_UNITS: tuple[tuple[str, timedelta], ...] = (
    ("minutes", timedelta(minutes=1)),
    ("hours", timedelta(hours=1)),
    ("days", timedelta(days=1)),
)
"""The units a copied link's validity is chosen in."""


class ClipFilterControls:
    """The filter bar's widgets (children of ``parent``, laid out by it) and their query."""

    def __init__(self, parent: QWidget, cameras: list[str]) -> None:
        self.camera_combo = QComboBox(parent)
        self.camera_combo.setMinimumContentsLength(12)
        self.camera_combo.addItem("All cameras", None)
        for camera_id in cameras:
            self.camera_combo.addItem(camera_id, camera_id)

        now = QDateTime.currentDateTime()
        self.from_check = QCheckBox("From", parent)
        self.from_edit = QDateTimeEdit(now.addDays(-1), parent)
        self.to_check = QCheckBox("To", parent)
        self.to_edit = QDateTimeEdit(now, parent)
        for check, edit in ((self.from_check, self.from_edit), (self.to_check, self.to_edit)):
            edit.setDisplayFormat("yyyy-MM-dd HH:mm")
            edit.setToolTip(f"Local time ({current_zone_label()})")
            edit.setCalendarPopup(True)
            edit.setEnabled(False)
            check.toggled.connect(edit.setEnabled)

        self.type_combo = QComboBox(parent)
        self.type_combo.setEditable(True)
        self.type_combo.setMinimumContentsLength(14)
        self.type_combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.type_combo.addItem("")
        line = self.type_combo.lineEdit()
        if line is not None:
            line.setPlaceholderText("All event types")

        self.text_edit = QLineEdit(parent)
        self.text_edit.setPlaceholderText("Search event id, camera, type")
        self.text_edit.setClearButtonEnabled(True)

    def in_order(self) -> list[tuple[QWidget, int]]:
        """The widgets in the order they are laid out, with their stretch."""
        return [
            (self.camera_combo, 0),
            (self.from_check, 0),
            (self.from_edit, 0),
            (self.to_check, 0),
            (self.to_edit, 0),
            (self.type_combo, 0),
            (self.text_edit, 1),
        ]

    def query(self) -> ClipQuery:
        """The filter the controls describe."""
        camera = self.camera_combo.currentData()
        event_type = self.type_combo.currentText().strip() or None
        start = _minute(self.from_edit.dateTime()) if self.from_check.isChecked() else None
        # "To 10:30" means up to the end of that minute.
        end = (
            _minute(self.to_edit.dateTime()) + timedelta(minutes=1)
            if self.to_check.isChecked()
            else None
        )
        text = self.text_edit.text().strip() or None
        return ClipQuery(
            camera_id=camera if isinstance(camera, str) else None,
            event_type=event_type,
            start=start,
            end=end,
            text=text,
        )

    def add_seen(self, cameras: Iterable[str], event_types: Iterable[str]) -> None:
        """Offer cameras and event types met in the listing that the choosers lack."""
        _merge_items(self.camera_combo, cameras, with_data=True)
        _merge_items(self.type_combo, event_types, with_data=False)


def _merge_items(combo: QComboBox, values: Iterable[str], *, with_data: bool) -> None:
    present = {combo.itemText(i) for i in range(combo.count())}
    for value in sorted(set(values) - present):
        if with_data:
            combo.addItem(value, value)
        else:
            combo.addItem(value)


def _minute(moment: QDateTime) -> datetime:
    """A date edit's local time as an aware UTC datetime, cut to the minute it shows."""
    seconds = moment.toSecsSinceEpoch()
    return datetime.fromtimestamp(seconds - seconds % 60, UTC)
