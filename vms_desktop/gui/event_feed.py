"""The live event feed: alerts on top, then events from detectors and operators with their
clip's progress.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import UTC, datetime

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QRect,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QPushButton,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionProgressBar,
    QStyleOptionViewItem,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from vms_desktop.domain.clip import ClipJob, ClipMeta, ClipStatus
from vms_desktop.domain.clip_query import to_ms
from vms_desktop.engine.console_port import CatalogueChange
from vms_desktop.gui import palette
from vms_desktop.gui.alert_rules import Alert
from vms_desktop.gui.time_text import local_time_text

JobRole = Qt.ItemDataRole.UserRole + 1
ProgressRole = Qt.ItemDataRole.UserRole + 2
AlertRole = Qt.ItemDataRole.UserRole + 3

_COLUMNS = ("Time", "Camera", "Type", "Clip")
MAX_ROWS = 500
MAX_ALERTS = 20  # the newest alerts; older ones have been seen or are over

AnyIndex = QModelIndex | QPersistentModelIndex


@dataclass
class _Row:
    job: ClipJob


class EventFeedModel(QAbstractTableModel):
    """Alerts first (newest first), then events, newest event first, each with its clip job's
    state; updated in place as jobs move, and following the catalogue (a deleted clip's event
    leaves, a synced one arrives).
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._alerts: list[Alert] = []
        self._rows: list[_Row] = []
        self._by_id: dict[str, _Row] = {}

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._alerts) + len(self._rows)

    @property
    def alert_count(self) -> int:
        """How many rows at the top are alerts."""
        return len(self._alerts)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(_COLUMNS)

    def headerData(
        self,
        section: int,
        orientation: Qt.Orientation,
        role: int = Qt.ItemDataRole.DisplayRole,
    ) -> object:
        if (
            role == Qt.ItemDataRole.DisplayRole
            and orientation == Qt.Orientation.Horizontal
            and 0 <= section < len(_COLUMNS)
        ):
            return _COLUMNS[section]
        return None

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid() or not 0 <= index.row() < self.rowCount():
            return None
        if index.row() < len(self._alerts):
            return _alert_data(self._alerts[index.row()], index.column(), role)
        job = self._rows[index.row() - len(self._alerts)].job
        column = index.column()
        if role == JobRole:
            return job
        if role == ProgressRole:
            return job.progress
        if role == Qt.ItemDataRole.DisplayRole:
            if column == 0:
                return local_time_text(job.event.timestamp, date=False)
            if column == 1:
                return job.event.camera_id
            if column == 2:
                return job.event.event_type
            if column == 3:
                return _status_text(job)
        if role == Qt.ItemDataRole.ToolTipRole:
            stamp = local_time_text(job.event.timestamp, milliseconds=True)
            detail = f"{job.event.id}\n{stamp}\n{_status_text(job)}"
            return detail + (f"\n{job.error}" if job.error else "")
        return None

    def job_at(self, row: int) -> ClipJob | None:
        """The job shown in a row (None for an alert's row)."""
        row -= len(self._alerts)
        return self._rows[row].job if 0 <= row < len(self._rows) else None

    def alert_at(self, row: int) -> Alert | None:
        """The alert shown in a row (None for an event's row)."""
        return self._alerts[row] if 0 <= row < len(self._alerts) else None

    def on_alert(self, alert: Alert) -> None:
        """Show an alert at the top; the oldest one leaves beyond :data:`MAX_ALERTS`."""
        self.beginInsertRows(QModelIndex(), 0, 0)
        self._alerts.insert(0, alert)
        self.endInsertRows()
        if len(self._alerts) > MAX_ALERTS:
            last = len(self._alerts) - 1
            self.beginRemoveRows(QModelIndex(), last, last)
            self._alerts.pop()
            self.endRemoveRows()

    def on_job(self, job: ClipJob, *, replace: bool = True) -> None:
        """Add a new event at its place (newest first), or update the row of a known one
        (unless ``replace`` is False: then a known event keeps its row as it is).
        """
        row = self._by_id.get(job.event.id)
        if row is not None:
            if not replace:
                return
            row.job = job
            position = len(self._alerts) + self._rows.index(row)
            self.dataChanged.emit(self.index(position, 0), self.index(position, len(_COLUMNS) - 1))
            return
        # Before every row of the same moment or older: the newest arrival leads a tie.
        keys = [-to_ms(known.job.event.timestamp) for known in self._rows]
        position = bisect.bisect_left(keys, -to_ms(job.event.timestamp))
        if position >= MAX_ROWS:
            return  # older than everything kept
        shown = len(self._alerts) + position
        self.beginInsertRows(QModelIndex(), shown, shown)
        row = _Row(job)
        self._rows.insert(position, row)
        self._by_id[job.event.id] = row
        self.endInsertRows()
        if len(self._rows) > MAX_ROWS:
            last = self.rowCount() - 1
            self.beginRemoveRows(QModelIndex(), last, last)
            dropped = self._rows.pop()
            self._by_id.pop(dropped.job.event.id, None)
            self.endRemoveRows()

    def on_clip(self, meta: ClipMeta) -> None:
        """A stored clip (e.g. at start-up, from the catalogue) appears as a ready event."""
        if meta.event_id not in self._by_id:
            self.on_job(ClipJob(meta.event, ClipStatus.READY, 1.0, updated_at=meta.created_at))

    def remove_event(self, event_id: str) -> bool:
        """Take an event's row out; False if it is not shown."""
        row = self._by_id.pop(event_id, None)
        if row is None:
            return False
        position = self._rows.index(row)
        shown = len(self._alerts) + position
        self.beginRemoveRows(QModelIndex(), shown, shown)
        del self._rows[position]
        self.endRemoveRows()
        return True

    def on_catalogue_changed(self, change: CatalogueChange) -> None:
        """Clips stored elsewhere appear as ready events; deleted clips take their event along."""
        for meta in change.removed:
            row = self._by_id.get(meta.event_id)
            if row is not None and row.job.status is ClipStatus.READY:
                self.remove_event(meta.event_id)
        for meta in change.added:
            self.on_clip(meta)


def _alert_data(alert: Alert, column: int, role: int) -> object:
    """An alert's row: its time, camera, kind and text, in the colours of a warning."""
    warning = alert.kind.is_warning
    if role == AlertRole:
        return alert
    if role == Qt.ItemDataRole.DisplayRole:
        moment = datetime.fromtimestamp(alert.at, UTC)
        texts = (local_time_text(moment, date=False), alert.subject, alert.kind.value, alert.text)
        return texts[column] if 0 <= column < len(texts) else None
    if role == Qt.ItemDataRole.ToolTipRole:
        moment = datetime.fromtimestamp(alert.at, UTC)
        return f"{local_time_text(moment)}\n{alert.text}"
    if role == Qt.ItemDataRole.DecorationRole and column == 0:
        icon = (
            QStyle.StandardPixmap.SP_MessageBoxWarning
            if warning
            else QStyle.StandardPixmap.SP_DialogApplyButton
        )
        return QApplication.style().standardIcon(icon)
    if role == Qt.ItemDataRole.BackgroundRole:
        tint = QColor(palette.PENDING if warning else palette.CHART_STORAGE)
        tint.setAlpha(70)
        return tint
    if role == Qt.ItemDataRole.ForegroundRole and warning:
        return palette.ERROR_TEXT
    return None


def _status_text(job: ClipJob) -> str:
    if job.status is ClipStatus.FAILED:
        return f"failed: {job.error}" if job.error else "failed"
    if job.status in (ClipStatus.RECORDING, ClipStatus.ENCODING):
        return f"{job.status.value} {round(job.progress * 100)} %"
    return job.status.value


class ProgressDelegate(QStyledItemDelegate):
    """Paints a clip's state as a progress bar while it records and encodes."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: AnyIndex) -> None:
        job = index.data(JobRole)
        if not isinstance(job, ClipJob) or job.status.finished:
            super().paint(painter, option, index)
            return
        bar = QStyleOptionProgressBar()
        bar.rect = QRect(option.rect).adjusted(2, 3, -2, -3)
        bar.minimum = 0
        bar.maximum = 100
        bar.progress = round(job.progress * 100)
        bar.text = _status_text(job)
        bar.textVisible = True
        style = QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_ProgressBar, bar, painter)


class EventFeedPanel(QWidget):
    """The feed, the selected camera (also chosen here) and a button to mark an event on it."""

    play_requested = Signal(str)  # event id of a ready clip
    mark_requested = Signal(str)  # camera id
    camera_chosen = Signal(str)  # the operator picked a camera in the list

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = EventFeedModel(self)
        self.view = QTableView(self)
        self.view.setModel(self.model)
        self.view.setItemDelegateForColumn(3, ProgressDelegate(self.view))
        self.view.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        self.view.setEditTriggers(QTableView.EditTrigger.NoEditTriggers)
        self.view.verticalHeader().hide()
        self.view.horizontalHeader().setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.view.clicked.connect(self._on_clicked)
        self.cameras = QComboBox(self)
        self.cameras.setToolTip("The selected camera (click a live tile to select one)")
        self.cameras.activated.connect(self._on_camera_picked)  # the operator's picks only
        self.mark_button = QPushButton("Mark event", self)
        self.mark_button.setToolTip("Record a clip around this moment on the chosen camera (F9)")
        self.mark_button.clicked.connect(self._on_mark_clicked)
        bar = QHBoxLayout()
        bar.addWidget(self.cameras, 1)
        bar.addWidget(self.mark_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(bar)
        layout.addWidget(self.view)

    def set_cameras(self, camera_ids: list[str]) -> None:
        """The cameras an operator can mark events on."""
        self.cameras.clear()
        self.cameras.addItems(camera_ids)

    def show_selected_camera(self, camera_id: str) -> None:
        """Show which camera is selected (the live grid's selection)."""
        index = self.cameras.findText(camera_id)
        if index >= 0:
            self.cameras.setCurrentIndex(index)

    def show_alert(self, alert: Alert) -> None:
        """Put an alert on top of the feed, in view."""
        self.model.on_alert(alert)
        self.view.resizeColumnToContents(0)  # the warning icon widens the time
        self.view.scrollToTop()

    def _on_camera_picked(self, index: int) -> None:
        if index >= 0:
            self.camera_chosen.emit(self.cameras.itemText(index))

    def _on_mark_clicked(self) -> None:
        if self.cameras.currentText():
            self.mark_requested.emit(self.cameras.currentText())

    def _on_clicked(self, index: QModelIndex) -> None:
        job = self.model.job_at(index.row())
        if job is not None and job.status is ClipStatus.READY:
            self.play_requested.emit(job.event.id)
