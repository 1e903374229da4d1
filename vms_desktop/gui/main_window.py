"""The console's main window: live grid in the centre, dockable panels, status bar."""

from __future__ import annotations

import logging
import time
from functools import partial
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QSystemTrayIcon,
    QWidget,
)

from vms_desktop.__version__ import __version__
from vms_desktop.domain.camera import CameraState, CameraStatus
from vms_desktop.domain.clip import ClipJob, ClipMeta, ClipStatus
from vms_desktop.domain.clip_query import ClipQuery
from vms_desktop.domain.errors import operator_text
from vms_desktop.engine.console_port import StorageStatus
from vms_desktop.gui.alert_rules import Alert, AlertRules
from vms_desktop.gui.bridge import EngineBridge
from vms_desktop.gui.dashboard import DashboardPanel
from vms_desktop.gui.event_feed import EventFeedPanel
from vms_desktop.gui.library import ClipLibraryPanel
from vms_desktop.gui.live_view import LiveGrid
from vms_desktop.gui.player import SPEEDS, ArchivePlayer, ClipPlayer
from vms_desktop.gui.player.archive_player import MAX_CAMERAS
from vms_desktop.gui.resources import app_icon
from vms_desktop.gui.tasks import BackgroundTasks
from vms_desktop.gui.timeline import TimelinePlot

log = logging.getLogger(__name__)

# Where a live tile's or a camera's archive starts playing: a moment an operator just missed.
ARCHIVE_LOOKBACK = 30.0


class MainWindow(QMainWindow):
    """Everything an operator needs on one screen; the layout is remembered between runs."""

    def __init__(
        self,
        bridge: EngineBridge,
        *,
        api_url: str = "",
        api_token: str = "",
        settings_store: QSettings | None = None,
        open_settings: object = None,
    ) -> None:
        super().__init__()
        self.bridge = bridge
        self.api_url = api_url
        self.api_token = api_token
        self.qsettings = settings_store or QSettings("vms_desktop", "console")
        self._open_settings = open_settings
        self.setObjectName("MainWindow")
        self.setWindowTitle("vms_desktop")
        self.setWindowIcon(app_icon())
        console = bridge.console
        camera_ids = [camera.id for camera in console.cameras]
        # The service is asked off the GUI thread only, through these tasks.
        self._tasks = BackgroundTasks(2, self)
        self.alert_rules = AlertRules()

        self.live = LiveGrid(console, self, archive=console.open_archive, coverage=console.coverage)
        self.setCentralWidget(self.live)
        self.events = EventFeedPanel(self)
        self.events.set_cameras(camera_ids)
        self.library = ClipLibraryPanel(console, cameras=camera_ids, parent=self)
        self.player = ClipPlayer(self)
        self.archive = ArchivePlayer(console.open_archive, console.coverage, self)
        self.timeline = TimelinePlot(console, self)
        self.dashboard = DashboardPanel(console, self)
        self.docks = {
            "events": self._dock("Events", self.events, Qt.DockWidgetArea.RightDockWidgetArea),
            "player": self._dock("Player", self.player, Qt.DockWidgetArea.RightDockWidgetArea),
            "archive": self._dock("Archive", self.archive, Qt.DockWidgetArea.RightDockWidgetArea),
            "library": self._dock(
                "Clip library", self.library, Qt.DockWidgetArea.BottomDockWidgetArea
            ),
            "timeline": self._dock(
                "Timeline", self.timeline, Qt.DockWidgetArea.BottomDockWidgetArea
            ),
            "dashboard": self._dock(
                "Dashboard", self.dashboard, Qt.DockWidgetArea.BottomDockWidgetArea
            ),
        }
        self.tabifyDockWidget(self.docks["player"], self.docks["archive"])
        self.docks["player"].raise_()
        self.tabifyDockWidget(self.docks["library"], self.docks["timeline"])
        self.tabifyDockWidget(self.docks["timeline"], self.docks["dashboard"])
        self.docks["library"].raise_()

        self._build_menus()
        self._build_status_bar()
        self.tray = QSystemTrayIcon(self.windowIcon(), self)
        if QSystemTrayIcon.isSystemTrayAvailable():
            self.tray.show()

        bridge.camera_status.connect(self._on_camera_status)
        bridge.job_changed.connect(self._on_job)
        bridge.catalogue_changed.connect(self.library.on_catalogue_changed)
        bridge.catalogue_changed.connect(self.events.model.on_catalogue_changed)
        bridge.catalogue_changed.connect(self.timeline.on_catalogue_changed)
        bridge.notice.connect(self.show_notice)
        self.events.play_requested.connect(self.play_event)
        self.events.mark_requested.connect(self._on_mark_requested)
        self.events.camera_chosen.connect(self._on_camera_chosen)
        self.timeline.event_clicked.connect(self.play_event)
        self.timeline.archive_requested.connect(self.play_archive)
        self.timeline.scrubbing.connect(self._on_timeline_scrubbing)
        self.archive.moment_changed.connect(self.timeline.show_moment)
        self.archive.cameras_changed.connect(self.timeline.show_played)
        self.archive.live_requested.connect(self.go_live)
        self.archive.failed.connect(self.show_notice)
        self.timeline.notice.connect(self.show_notice)
        self.library.play_requested.connect(self._on_library_play)
        self.live.camera_activated.connect(self._on_camera_chosen)
        self.live.selection_changed.connect(self.events.show_selected_camera)
        self.live.camera_context_requested.connect(self._on_camera_context)

        if self.live.selected is not None:  # chosen before the feed listened
            self.events.show_selected_camera(self.live.selected)
        self._tasks.submit(
            lambda: (list(console.clips(ClipQuery(limit=100)).items), console.unfinished_jobs()),
            self._on_feed_loaded,
            self._on_feed_failed,
        )

        # States changed before the bridge listened are read once; later ones are told.
        self._tasks.submit(
            console.camera_statuses,
            lambda statuses: self._raise_alerts(self.alert_rules.learn(statuses)),
        )

        self._status_timer = QTimer(self)
        self._status_timer.timeout.connect(self._refresh_status_bar)
        self._status_timer.start(2000)
        # A camera's grace runs out with nothing new arriving: looked at every second.
        self._alert_timer = QTimer(self)
        self._alert_timer.timeout.connect(lambda: self._raise_alerts(self.alert_rules.tick()))
        self._alert_timer.start(1000)
        self._refresh_status_bar()
        self._restore_layout()

    # ---- construction --------------------------------------------------------------------

    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock-{title.lower().replace(' ', '-')}")
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        settings = QAction("&Settings...", self)
        settings.triggered.connect(self._on_settings)
        file_menu.addAction(settings)
        quit_action = QAction("&Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        file_menu.addAction(quit_action)

        view = self.menuBar().addMenu("&View")
        for tiles in (1, 4, 9, 16):
            action = QAction(f"{tiles} camera{'s' if tiles > 1 else ''}", self)
            action.setShortcut(QKeySequence(f"Ctrl+{ {1: 1, 4: 2, 9: 3, 16: 4}[tiles] }"))
            action.triggered.connect(lambda _=False, n=tiles: self.live.set_layout(n))
            view.addAction(action)
        view.addSeparator()
        for dock in self.docks.values():
            view.addAction(dock.toggleViewAction())

        events = self.menuBar().addMenu("&Events")
        mark = QAction("&Mark event on selected camera", self)
        mark.setShortcut(QKeySequence(Qt.Key.Key_F9))
        mark.triggered.connect(self._on_mark_selected)
        events.addAction(mark)
        self.mark_action = mark
        events.addSeparator()
        sound = QAction("Alert &sound", self)
        sound.setCheckable(True)
        sound.setToolTip("Beep when a camera goes down or uploads are stuck")
        sound.setChecked(bool(self.qsettings.value("alert_sound", False, type=bool)))
        sound.toggled.connect(lambda on: self.qsettings.setValue("alert_sound", on))
        events.addAction(sound)
        self.alert_sound_action = sound

        self._build_archive_menu()

        help_menu = self.menuBar().addMenu("&Help")
        about = QAction("&About vms_desktop", self)
        about.triggered.connect(self._on_about)
        help_menu.addAction(about)

    def _build_archive_menu(self) -> None:
        """Playback keys of the archive: they act while the archive or the timeline has focus
        (the clip player keeps its own keys when it has focus).
        """
        menu = self.menuBar().addMenu("&Archive")
        archive = self.archive
        entries = (
            ("&Play / pause", "Space", archive.toggle_playing),
            ("Previous &frame", ",", lambda: archive.step(-1)),
            ("&Next frame", ".", lambda: archive.step(+1)),
            ("&Slower", "[", lambda: self._change_speed(-1)),
            ("&Faster", "]", lambda: self._change_speed(+1)),
            ("Go &live", "L", archive.request_live),
        )
        self.archive_actions: dict[str, QAction] = {}
        for text, keys, slot in entries:
            action = QAction(text, self)
            action.setShortcut(QKeySequence(keys))
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            action.triggered.connect(slot)
            menu.addAction(action)
            for place in (self.docks["archive"], self.docks["timeline"]):
                place.addAction(action)
            self.archive_actions[text.replace("&", "")] = action

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.api_label = QLabel(self)
        self.api_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.api_label.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.api_label.customContextMenuRequested.connect(self._on_api_menu)
        self.storage_label = QLabel(self)
        self.disk_label = QLabel(self)
        self.queue_label = QLabel(self)
        for label in (self.api_label, self.storage_label, self.disk_label, self.queue_label):
            bar.addPermanentWidget(label)

    # ---- status ----------------------------------------------------------------------------

    def _refresh_status_bar(self) -> None:
        api = f"API {self.api_url}" if self.api_url else "API off"
        self.api_label.setText(api + ("  (token set)" if self.api_token else ""))
        self.api_label.setToolTip("Right-click to copy the API address or token")
        self._tasks.submit(
            self.bridge.console.storage_status, self._on_storage_measured, key="status"
        )

    def _on_storage_measured(self, status: StorageStatus) -> None:
        storage = status.health
        state = "ok" if storage.reachable else f"unreachable: {storage.detail}"
        self.storage_label.setText(f"Storage {storage.backend}: {state}")
        if status.disk_free_bytes is not None:
            self.disk_label.setText(f"Disk free {status.disk_free_bytes / 1e9:.1f} GB")
        elif self.bridge.console.has_local_files:
            self.disk_label.setText("Disk free: unknown")
        else:
            self.disk_label.setText("")
        self.queue_label.setText(f"Upload queue {status.upload_queue}")
        self._raise_alerts(
            self.alert_rules.on_storage(
                reachable=storage.reachable,
                upload_queue=status.upload_queue,
                detail=storage.detail,
            )
        )

    def _on_api_menu(self, position: object) -> None:
        menu = QMenu(self)
        copy_url = menu.addAction("Copy API address")
        copy_url.triggered.connect(lambda: QGuiApplication.clipboard().setText(self.api_url))
        copy_token = menu.addAction("Copy API token")
        copy_token.setEnabled(bool(self.api_token))
        copy_token.triggered.connect(lambda: QGuiApplication.clipboard().setText(self.api_token))
        menu.popup(self.api_label.mapToGlobal(self.api_label.rect().bottomLeft()))

    def show_notice(self, text: str) -> None:
        """A readable message for the operator in the status bar."""
        self.statusBar().showMessage(text, 10_000)

    # ---- slots -----------------------------------------------------------------------------

    def _on_feed_loaded(self, loaded: tuple[list[ClipMeta], list[ClipJob]]) -> None:
        clips, jobs = loaded
        # Live updates may have arrived first: they are newer, so known rows stay as they are.
        for clip in reversed(clips):
            self.events.model.on_clip(clip)
        for job in jobs:
            self.events.model.on_job(job, replace=False)

    def _on_feed_failed(self, error: Exception) -> None:
        log.warning("event feed not filled: %s", error)
        self.show_notice(f"Recent events could not be read: {error}")

    def _on_camera_status(self, status: CameraStatus) -> None:
        self.live.on_camera_status(status)
        self._raise_alerts(self.alert_rules.on_camera_status(status))
        if status.state in (CameraState.OFFLINE, CameraState.AUTH_FAILED):
            self.show_notice(f"Camera {status.camera_id}: {status.state.value} ({status.reason})")

    def _raise_alerts(self, alerts: list[Alert]) -> None:
        """Tell the operator: on top of the feed, in the tray, and with a beep if wanted."""
        for alert in alerts:
            # Logged too, so that an alert nobody watched is still on record.
            level = logging.WARNING if alert.kind.is_warning else logging.INFO
            log.log(level, "alert %s: %s", alert.kind.value, alert.text)
            self.events.show_alert(alert)
            if self.tray.isVisible():
                icon = (
                    QSystemTrayIcon.MessageIcon.Warning
                    if alert.kind.is_warning
                    else QSystemTrayIcon.MessageIcon.Information
                )
                self.tray.showMessage(alert.kind.value.capitalize(), alert.text, icon, 8000)
            if alert.kind.is_warning and self.alert_sound_action.isChecked():
                QApplication.beep()

    def _on_job(self, job: ClipJob) -> None:
        known = self.events.model.rowCount()
        self.events.model.on_job(job)
        self.timeline.on_job(job)
        if self.events.model.rowCount() > known and self.tray.isVisible():
            self.tray.showMessage(
                "New event",
                f"{job.event.event_type} on {job.event.camera_id}",
                QSystemTrayIcon.MessageIcon.Information,
                4000,
            )
        if job.status is ClipStatus.FAILED:
            self.show_notice(f"Clip for {job.event.id} failed: {job.error}")

    def _on_mark_selected(self) -> None:
        selected = self.live.selected
        if selected is None:
            self.show_notice("No camera to mark an event on")
            return
        self._on_mark_requested(selected)

    def _on_mark_requested(self, camera_id: str) -> None:
        status = self.live.tile(camera_id).status
        if status is None or status.state is not CameraState.RECORDING:
            state = status.state.value if status is not None else CameraState.CONNECTING.value
            why = f" ({status.reason})" if status is not None and status.reason else ""
            self.show_notice(f"No event marked: camera {camera_id} is {state}{why}, not recording")
            return
        event_id = self.bridge.mark_event(camera_id)
        self.show_notice(f"Event {event_id} marked on {camera_id}")

    def _on_camera_chosen(self, camera_id: str) -> None:
        self.live.select(camera_id, by_operator=True)

    def _on_camera_context(self, camera_id: str, position: object) -> None:
        menu = QMenu(self)
        mark = menu.addAction(f"Mark event on {camera_id}")
        mark.triggered.connect(lambda: self._on_mark_requested(camera_id))
        menu.addSeparator()
        if self.live.tile(camera_id).archive is None:
            back = menu.addAction(f"Archive: from {ARCHIVE_LOOKBACK:g} s ago")
            back.triggered.connect(
                lambda: self.live.show_archive(camera_id, time.time() - ARCHIVE_LOOKBACK)
            )
        else:
            live = menu.addAction("Back to live")
            live.triggered.connect(lambda: self.live.show_live(camera_id))
        menu.addAction(self._menu_entry(f"Open {camera_id} in the archive player", camera_id))
        self.camera_menu = menu
        menu.popup(position)  # type: ignore[arg-type]

    def _menu_entry(self, text: str, camera_id: str) -> QAction:
        action = QAction(text, self)
        action.triggered.connect(
            lambda: self.play_archive(camera_id, time.time() - ARCHIVE_LOOKBACK, False)
        )
        return action

    # ---- archive -----------------------------------------------------------------------------

    def play_archive(self, camera_id: str, moment: float, add: bool = False) -> None:
        """Play a camera's archive from ``moment`` in the archive player.

        With ``add`` (Ctrl-click), the camera joins the cameras played, in step (up to four),
        or leaves them if it was one of several. Without, a camera of a synchronized view
        moves the whole view to ``moment``; any other camera is played alone.
        """
        self.docks["archive"].show()
        self.docks["archive"].raise_()
        archive = self.archive
        played = archive.camera_ids
        if add and played:
            if camera_id not in played:
                if not archive.add_camera(camera_id):
                    self.show_notice(f"The archive plays at most {MAX_CAMERAS} cameras in step")
            elif len(played) > 1:
                archive.remove_camera(camera_id)
            return
        if camera_id in played and len(played) > 1:
            archive.seek(moment)
            archive.play()
        else:
            archive.open([camera_id], moment, play=True)
        archive.setFocus(Qt.FocusReason.OtherFocusReason)

    def go_live(self, camera_ids: list[str]) -> None:
        """Leave the archive player for the live pictures of ``camera_ids``."""
        self.archive.close_archive()
        if camera_ids:
            self.live.select(camera_ids[0], by_operator=True)
            self.live.tile(camera_ids[0]).setFocus(Qt.FocusReason.OtherFocusReason)
        self.show_notice(f"Live: {', '.join(camera_ids)}" if camera_ids else "Live")

    def _on_timeline_scrubbing(self, moment: float, ended: bool) -> None:
        if ended:
            self.archive.seek(moment)
        else:
            self.archive.scrub(moment)

    def _change_speed(self, direction: int) -> None:
        speeds = list(SPEEDS)
        index = speeds.index(self.archive.clock.speed) + direction
        self.archive.set_speed(speeds[max(0, min(len(speeds) - 1, index))])

    def _on_library_play(self, meta: ClipMeta, source: str) -> None:
        self.docks["player"].raise_()
        self.player.open_clip(source, meta)
        self.player.play()  # starts as soon as the clip is open

    def play_event(self, event_id: str) -> None:
        """Open an event's clip in the player and play it, once it is found (off the GUI
        thread); a newer request replaces one still being looked up.
        """
        console = self.bridge.console

        def find() -> tuple[ClipMeta, str] | None:
            meta = console.clip(event_id)
            return None if meta is None else (meta, console.playback_source(event_id))

        self._tasks.submit(
            find, partial(self._on_event_found, event_id), self._on_event_failed, key="play"
        )

    def _on_event_found(self, event_id: str, found: tuple[ClipMeta, str] | None) -> None:
        if found is None:
            self.show_notice(f"The clip for {event_id} is not ready")
            return
        self._on_library_play(*found)

    def _on_event_failed(self, error: Exception) -> None:
        self.show_notice(f"The clip cannot be played: {operator_text(error)}")

    def _on_settings(self) -> None:
        if callable(self._open_settings):
            self._open_settings(self)

    def _on_about(self) -> None:
        box = QMessageBox(self)
        box.setWindowTitle("About vms_desktop")
        box.setTextFormat(Qt.TextFormat.RichText)
        box.setText(about_text())
        box.setIconPixmap(self.windowIcon().pixmap(64, 64))
        box.open()

    # ---- layout persistence ----------------------------------------------------------------

    def _restore_layout(self) -> None:
        geometry = self.qsettings.value("geometry")
        state = self.qsettings.value("state")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        else:
            self.resize(1600, 960)
        if isinstance(state, QByteArray):
            self.restoreState(state)
        else:
            # Sizes apply once the window is laid out, hence after the first event loop turn.
            QTimer.singleShot(0, self._default_dock_sizes)
        tiles = self.qsettings.value("tiles")
        if tiles is not None:
            self.live.set_layout(int(str(tiles)))

    def _default_dock_sizes(self) -> None:
        height = self.height()
        self.resizeDocks([self.docks["library"]], [height * 3 // 10], Qt.Orientation.Vertical)
        self.resizeDocks(
            [self.docks["events"], self.docks["player"]], [2, 3], Qt.Orientation.Vertical
        )
        self.resizeDocks([self.docks["events"]], [self.width() * 3 // 8], Qt.Orientation.Horizontal)

    def save_layout(self) -> None:
        """Remember window geometry, docks and the grid layout."""
        self.qsettings.setValue("geometry", self.saveGeometry())
        self.qsettings.setValue("state", self.saveState())
        self.qsettings.setValue("tiles", self.live.tile_count)
        self.qsettings.sync()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.save_layout()
        self.tray.hide()
        self._status_timer.stop()
        self._alert_timer.stop()
        self.live.stop()
        self.archive.shutdown()
        self.timeline.stop()
        self.dashboard.stop()
        self._tasks.close()
        self.library.shutdown()
        super().closeEvent(event)


def about_text() -> str:
    """Version, the main components' versions and links to the licence files (rich text)."""
    import av
    from PySide6 import __version__ as pyside_version
    from PySide6.QtCore import qVersion

    from vms_desktop.resource_files import license_path, notices_path

    return (
        f"<p><b>vms_desktop {__version__}</b><br>Open-source video management console.</p>"
        f"<p>Qt {qVersion()} (PySide6 {pyside_version}), PyAV {av.__version__}, "
        f"FFmpeg {av.ffmpeg_version_info}</p>"
        "<p>Licensed under the GNU General Public License, version 3 or later: "
        f'<a href="{license_path().as_uri()}">LICENSE</a>. It ships FFmpeg, x264 and x265 (GPL), '
        "Qt (LGPL-3.0) and other components listed in "
        f'<a href="{notices_path().as_uri()}">THIRD_PARTY_NOTICES</a>.</p>'
    )


def default_env_path() -> Path:
    """Where the settings dialog saves: ``./.env`` if it exists, else the per-user one."""
    from vms_desktop.settings import user_env_file

    local = Path.cwd() / ".env"
    return local if local.exists() else user_env_file()
