"""Entry point: settings, then the whole service (engine, stores, API); runs until stopped."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import faulthandler
import logging
import shutil
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from vms_desktop.__version__ import __version__
from vms_desktop.api.server import ApiServer, ApiStartError
from vms_desktop.domain.errors import StoreError
from vms_desktop.domain.redaction import RedactingFilter
from vms_desktop.engine.av_logging import FfmpegLogRelay
from vms_desktop.engine.recorder import Recorder
from vms_desktop.loop_watchdog import LoopWatchdog
from vms_desktop.resource_files import env_example_path, is_frozen
from vms_desktop.runtime import Runtime, build_runtime, build_store
from vms_desktop.settings import Settings, SettingsError, load_settings
from vms_desktop.storage.base import stored_sha256

log = logging.getLogger("vms_desktop")

STATUS_INTERVAL = 10.0


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="vms-desktop",
        description="Video management console: records cameras and cuts clips around events.",
    )
    parser.add_argument(
        "--headless",
        action="store_true",
        help="run engine, storage and API without a window (for servers)",
    )
    parser.add_argument(
        "--self-test",
        action="store_true",
        help="run the service on the demo camera, make and check a clip through the HTTP API, "
        "open the console offscreen (not with --headless); exit 0 only if every check passed",
    )
    parser.add_argument("--version", action="version", version=f"vms-desktop {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    verify = commands.add_parser(
        "verify", help="check stored clips against their SHA-256 (exit 1 on a mismatch)"
    )
    verify.add_argument("event_ids", nargs="*", metavar="EVENT_ID", help="default: every clip")
    commands.add_parser(
        "apply-lifecycle",
        help="put an S3 bucket lifecycle rule that expires clips after RETENTION_DAYS",
    )
    commands.add_parser(
        "config-example",
        help="print .env.example: every setting with its default (redirect it into a .env)",
    )
    desktop = commands.add_parser(
        "install-desktop-entry",
        help="add the application to the desktop's menu (Linux: ~/.local/share/applications)",
    )
    desktop.add_argument(
        "--remove", action="store_true", help="remove the menu entry and icons again"
    )
    return parser.parse_args(argv)


def run_verify(settings: Settings, event_ids: Sequence[str]) -> int:
    """Recompute stored clips' SHA-256 and compare with their metadata."""
    store = build_store(settings)
    metas = [store.get(event_id) for event_id in event_ids] if event_ids else list(store.iter_all())
    bad = 0
    names = list(event_ids) or [m.event_id for m in metas if m is not None]
    for wanted, meta in zip(names, metas, strict=True):
        if meta is None:
            print(f"MISSING  {wanted}")
            bad += 1
            continue
        ok = stored_sha256(store, meta.event_id) == meta.sha256
        bad += not ok
        print(f"{'OK      ' if ok else 'CORRUPT '} {meta.event_id}  {meta.sha256}")
    print(f"{len(metas) - bad} of {len(metas)} clips verified")
    return 0 if bad == 0 else 1


def run_apply_lifecycle(settings: Settings) -> int:
    """Make the bucket expire clips after RETENTION_DAYS."""
    store = build_store(settings)
    lifecycle = store.lifecycle()
    if lifecycle is None:
        print("vms-desktop: apply-lifecycle needs VIDEO_STORAGE_TYPE=s3", file=sys.stderr)
        return 2
    lifecycle.apply_lifecycle(settings.retention_days)
    print(f"bucket {settings.s3_bucket_name}: clips expire after {settings.retention_days} days")
    return 0


def configure_logging(settings: Settings) -> FfmpegLogRelay:
    """Log to stderr at LOG_LEVEL with every secret the settings know of redacted, FFmpeg's
    messages included (relayed from its own threads without calling into Python there).

    Also arms Python's fault handler: a crash, or ``kill -USR1``, writes every thread's stack.
    Stop the returned relay when the process is done.
    """
    relay = FfmpegLogRelay(settings.log_level, settings.secret_values)
    relay.start()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter(settings.secret_values))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    faulthandler.enable(file=sys.stderr, all_threads=True)
    if hasattr(signal, "SIGUSR1"):
        faulthandler.register(signal.SIGUSR1, file=sys.stderr, all_threads=True)
    return relay


def report(recorder: Recorder) -> None:
    """One line per camera: its state and how much footage its buffer holds."""
    buffers = {b.camera_id: b for b in recorder.buffer_status()}
    for status in recorder.status():
        held = buffers[status.camera_id]
        log.info(
            "camera %s: %s, %.0f s buffered in %d segments (%.1f MB)%s",
            status.camera_id,
            status.state.value,
            held.seconds,
            held.segments,
            held.size_bytes / 1e6,
            f" - {status.reason}" if status.reason else "",
        )


def run_headless(settings: Settings) -> int:
    """Record every camera and serve the API until asked to stop."""
    cameras = settings.active_cameras
    if not cameras:
        log.warning("no camera configured and DEMO_CAMERA=off: nothing to record")
    for name, value in settings.describe():
        log.debug("%s=%s", name, value)
    runtime = build_runtime(settings)
    runtime.start(with_api=False)
    try:
        server = runtime.make_api_server()
    except ApiStartError as exc:
        log.error("%s", exc)
        runtime.stop()
        return 1
    names = ", ".join(f"{c.id} ({c.display_url})" for c in cameras)
    log.info("recording %d camera(s) into %s: %s", len(cameras), settings.buffer_path, names)
    storage = runtime.health.storage
    log.info(
        "clips go to %s storage (%s); API on %s",
        storage.backend,
        "reachable" if storage.reachable else f"unreachable: {storage.detail}",
        server.base_url,
    )
    watchdog = LoopWatchdog()
    try:
        asyncio.run(_serve_headless(runtime, server, watchdog))
    finally:
        runtime.stop()
    report(runtime.recorder)
    log.info("%s", watchdog.stats().describe())
    log.info("stopped")
    return 0


async def _serve_headless(runtime: Runtime, server: ApiServer, watchdog: LoopWatchdog) -> None:
    """The API, the loop watchdog and the periodic status report on one loop, until a signal."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def on_signal(signum: int) -> None:
        log.info("stopping (%s)", signal.Signals(signum).name)
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal, signum)
    watchdog.start(loop)
    serving = loop.create_task(server.serve(), name="api")
    try:
        while not stop.is_set() and not serving.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), STATUS_INTERVAL)
            if not stop.is_set():
                # Off the loop: a camera's buffer status walks its segment list.
                await asyncio.to_thread(report, runtime.recorder)
    finally:
        server.stop()
        await serving
        watchdog.stop()


def run_console(settings: Settings) -> int:
    """The operator console: engine and API inside the Qt application, on one event loop."""
    import qasync
    from PySide6.QtWidgets import QApplication, QMessageBox

    import vms_desktop.gui  # noqa: F401  (pins the Qt binding before qasync is imported)
    from vms_desktop.gui.bridge import EngineBridge
    from vms_desktop.gui.main_window import MainWindow, default_env_path
    from vms_desktop.gui.qt_logging import route_qt_messages
    from vms_desktop.gui.resources import app_icon, stylesheet
    from vms_desktop.gui.settings_dialog import SettingsDialog

    route_qt_messages()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    # The loop ends when the service has stopped (below), not when Qt sees the window close:
    # stopping the loop under a running coroutine would cut the shutdown short.
    app.setQuitOnLastWindowClosed(False)
    app.setApplicationName("vms_desktop")
    app.setOrganizationName("vms_desktop")
    app.setWindowIcon(app_icon())
    # Matches the desktop entry's StartupWMClass and Icon, so the menu entry and the window group.
    app.setDesktopFileName("vms_desktop")
    app.setStyleSheet(stylesheet())
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    runtime = build_runtime(settings)
    token = settings.api_token.get_secret_value() if settings.api_token else ""

    def open_settings(parent: MainWindow) -> None:
        dialog = SettingsDialog(settings, default_env_path(), parent)

        def on_finished(result: int) -> None:
            if dialog.saved is not None:
                changed = ", ".join(dialog.restart_needed) or "nothing"
                parent.show_notice(f"Settings saved. Restart to apply: {changed}")

        dialog.finished.connect(on_finished)
        dialog.open()

    watchdog = LoopWatchdog()
    with loop:
        # The Qt GUI thread is this loop's thread: one watchdog covers both.
        watchdog.start(loop)
        runtime.start(with_api=False)
        try:
            server = runtime.make_api_server()
        except ApiStartError as exc:
            log.error("%s", exc)
            server = None
        bridge = EngineBridge(runtime.console)
        window = MainWindow(
            bridge,
            api_url=server.base_url if server else "",
            api_token=token,
            open_settings=open_settings,
        )
        if server is None:
            QMessageBox.warning(window, "API not started", "The HTTP API could not listen.")
        closed = asyncio.Event()
        app.aboutToQuit.connect(closed.set)
        app.lastWindowClosed.connect(closed.set)
        signal.signal(signal.SIGINT, lambda *_: window.close())
        signal.signal(signal.SIGTERM, lambda *_: window.close())
        window.show()
        log.info("console open; API on %s", server.base_url if server else "-")

        async def serve_until_closed() -> None:
            # One run of the loop from start to finish: re-entering it for the server's
            # shutdown could resume that task while the loop is not running.
            serving = asyncio.ensure_future(server.serve()) if server else None
            await closed.wait()
            if server is not None:
                server.stop()
            if serving is not None:
                await serving

        loop.run_until_complete(serve_until_closed())
        watchdog.stop()
        bridge.shutdown()
        runtime.stop()
    log.info("%s", watchdog.stats().describe())
    log.info("stopped")
    return 0


def run_config_example() -> int:
    """Print the documented example configuration."""
    sys.stdout.write(env_example_path().read_text(encoding="utf-8"))
    return 0


def run_install_desktop_entry(remove: bool) -> int:
    """Add (or remove) the menu entry and icons for this executable."""
    from vms_desktop.desktop_entry import install_desktop_entry, uninstall_desktop_entry

    if remove:
        for path in uninstall_desktop_entry():
            print(f"removed {path}")
        return 0
    if is_frozen():
        executable = Path(sys.executable)
    else:
        found = shutil.which("vms-desktop")
        if found is None:
            print("vms-desktop: the vms-desktop command is not on PATH", file=sys.stderr)
            return 2
        executable = Path(found).resolve()
    for path in install_desktop_entry(executable):
        print(f"wrote {path}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``vms-desktop`` and ``python -m vms_desktop``."""
    args = parse_args(argv)
    if args.self_test:
        from vms_desktop.self_test import run_self_test

        # The same FFmpeg log relay as a real run, so the self-test exercises it too.
        relay = FfmpegLogRelay("ERROR")
        relay.start()
        try:
            return run_self_test(with_gui=not args.headless)
        finally:
            relay.stop()
    if args.command == "config-example":
        return run_config_example()
    if args.command == "install-desktop-entry":
        return run_install_desktop_entry(args.remove)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"vms-desktop: {exc}", file=sys.stderr)
        return 2
    relay = configure_logging(settings)
    try:
        return _run_command(args, settings)
    finally:
        if hasattr(signal, "SIGUSR1"):
            faulthandler.unregister(signal.SIGUSR1)
        faulthandler.disable()
        relay.stop()


def _run_command(args: argparse.Namespace, settings: Settings) -> int:
    try:
        if args.command == "verify":
            return run_verify(settings, args.event_ids)
        if args.command == "apply-lifecycle":
            return run_apply_lifecycle(settings)
    except (StoreError, ValueError) as exc:
        print(f"vms-desktop: {exc}", file=sys.stderr)
        return 1
    if args.headless:
        return run_headless(settings)
    if not has_display():
        log.warning("no display found (DISPLAY / WAYLAND_DISPLAY unset): running headless")
        return run_headless(settings)
    return run_console(settings)


def has_display() -> bool:
    """True when a window can be shown (or Qt was told where to draw)."""
    import os

    if sys.platform in ("win32", "darwin"):
        return True
    return any(os.environ.get(name) for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"))
