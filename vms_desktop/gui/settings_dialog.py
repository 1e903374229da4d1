"""Settings dialog: edits the ``.env`` values with the start-up validation, secrets masked."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from vms_desktop.gui.tasks import BackgroundTasks
from vms_desktop.settings import (
    Settings,
    SettingsError,
    camera_variable,
    env_values,
    load_settings,
    write_env,
)


class SettingsDialog(QDialog):
    """One field per variable; camera lines as ``ID = URL``. Saving validates like start-up."""

    def __init__(self, settings: Settings, env_path: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.resize(640, 720)
        self.settings = settings
        self.env_path = env_path
        self.saved: Settings | None = None
        self.restart_needed: list[str] = []
        self._writes = BackgroundTasks(1, self)  # the file is written off the GUI thread
        self._original = env_values(settings)
        self._fields: dict[str, QLineEdit] = {}
        form_host = QWidget()
        form = QFormLayout(form_host)
        for name, info in type(settings).model_fields.items():
            if name == "cameras" or not info.alias:
                continue
            edit = QLineEdit(form_host)
            value = getattr(settings, name)
            if isinstance(value, SecretStr) or info.annotation in (SecretStr, SecretStr | None):
                edit.setEchoMode(QLineEdit.EchoMode.Password)
                edit.setPlaceholderText("(unchanged)" if value is not None else "(not set)")
            else:
                edit.setText(self._original.get(info.alias, ""))
            edit.setToolTip(info.description or "")
            self._fields[info.alias] = edit
            form.addRow(info.alias, edit)
        self.cameras = QPlainTextEdit(form_host)
        self.cameras.setPlaceholderText("cam01 = rtsp://user:password@camera-01:554/stream")
        self.cameras.setPlainText("\n".join(f"{c.id} = {c.display_url}" for c in settings.cameras))
        self.cameras.setToolTip(
            "One camera per line. Passwords show as ***; leave them so to keep them."
        )
        form.addRow("Cameras", self.cameras)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setWidget(form_host)
        self.message = QLabel(self)
        self.message.setWordWrap(True)
        self.message.setObjectName("settingsMessage")
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel, self
        )
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        self.buttons = buttons
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(f"Saved to {env_path}", self))
        layout.addWidget(scroll, 1)
        layout.addWidget(self.message)
        layout.addWidget(buttons)

    def edited_values(self) -> dict[str, str]:
        """The values as they would be written (secrets left blank keep their old value)."""
        values: dict[str, str] = {}
        for variable, edit in self._fields.items():
            text = edit.text().strip()
            if edit.echoMode() is QLineEdit.EchoMode.Password and not text:
                text = self._original.get(variable, "")
            if text:
                values[variable] = text
        originals = {c.id: c for c in self.settings.cameras}
        # A camera's own retention is not edited here, but must survive the save.
        retention = dict(self.settings.camera_retention_hours)
        for line in self.cameras.toPlainText().splitlines():
            if "=" not in line:
                continue
            camera_id, url = (part.strip() for part in line.split("=", 1))
            known = originals.get(camera_id.lower())
            if known is not None and url == known.display_url:
                url = known.url  # the masked form stands for the stored URL
            values[camera_variable(camera_id)] = url
            if known is not None and known.name:
                values[camera_variable(camera_id, "NAME")] = known.name
            hours = retention.get(camera_id.lower())
            if hours is not None:
                values[camera_variable(camera_id, "RETENTION_HOURS")] = f"{hours:.12g}"
        return values

    def save(self) -> None:
        """Validate as at start-up; write the file (in the background), then close saying what
        needs a restart; or show why not.
        """
        values = self.edited_values()
        try:
            checked = load_settings(env_files=[], environ=values)
        except SettingsError as exc:
            self.message.setText("Not saved:\n" + "\n".join(f"{v}: {w}" for v, w in exc.problems))
            return
        self.message.setText("Saving…")
        self.buttons.setEnabled(False)
        path = self.env_path
        self._writes.submit(
            lambda: write_env(path, values),
            lambda _none: self._on_written(checked, values),
            self._on_write_failed,
            key="write",
        )

    def _on_written(self, checked: Settings, values: dict[str, str]) -> None:
        changed = sorted(
            key
            for key in set(values) | set(self._original)
            if values.get(key) != self._original.get(key)
        )
        self.saved = checked
        self.restart_needed = changed  # every setting is read at start-up
        self.buttons.setEnabled(True)
        self.accept()

    def _on_write_failed(self, error: Exception) -> None:
        self.buttons.setEnabled(True)
        why = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        self.message.setText(f"Not saved: {self.env_path} could not be written ({why}).")
