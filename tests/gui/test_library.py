"""The clip library: model/proxy checks, paging a 100 000-clip catalogue, thumbnails, actions."""

from __future__ import annotations

import hashlib
import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from PySide6.QtCore import QDateTime, QModelIndex, QObject, Qt, QUrl, Signal, Slot
from PySide6.QtGui import QColor, QDesktopServices, QGuiApplication
from PySide6.QtWidgets import QFileDialog, QMessageBox
from pytestqt.qtbot import QtBot

from tests.engine.test_thumbnails import frame_color, meta_for, write_clip
from tests.gui.conftest import ZoneSetter
from tests.support.service import start_service
from vms_desktop.domain.clip import ClipMeta, Event, GapSpan
from vms_desktop.domain.clip_query import CatalogueChange, ClipQuery
from vms_desktop.engine.embedded_console import EmbeddedConsole
from vms_desktop.engine.thumbnails import ThumbnailMaker
from vms_desktop.gui.bridge import EngineBridge
from vms_desktop.gui.library import (
    ClipColumn,
    ClipFilterProxyModel,
    ClipLibraryPanel,
    ClipRole,
    ClipTableModel,
    ThumbnailRole,
    ThumbnailState,
    ThumbnailStateRole,
)
from vms_desktop.gui.time_text import local_time_text
from vms_desktop.runtime import Runtime, build_runtime
from vms_desktop.settings import load_settings
from vms_desktop.storage.clip_index import ClipIndex
from vms_desktop.storage.local_store import LocalClipStore

BIG = 100_000
CAMERAS = ("cam01", "cam02", "cam03", "cam04")
TYPES = ("motion", "person", "vehicle")
# Synthetic clips are 10 s apart, oldest first, ending well in the past.
BASE = datetime(2025, 1, 1, tzinfo=UTC)
SPACING = timedelta(seconds=10)


def _environ(tmp_path: Path) -> dict[str, str]:
    return {
        "CAMERA_CAM01_URL": "demo://?width=320&height=240",
        "LOCAL_STORAGE_PATH": str(tmp_path / "clips"),
        "BUFFER_PATH": str(tmp_path / "buffer"),
        "STATE_PATH": str(tmp_path / "state"),
        "PRE_EVENT_BUFFER_SECONDS": "1",
        "POST_EVENT_BUFFER_SECONDS": "2",
        "CLIP_DURATION_SECONDS": "3",
    }


def synthetic(index: int) -> ClipMeta:
    """Catalogue row ``index`` (no file behind it): camera, type and time follow from it."""
    moment = BASE + index * SPACING
    event_id = f"syn-{index:06d}"
    return ClipMeta(
        event=Event(event_id, CAMERAS[index % 4], TYPES[index % 3], moment),
        window_start=moment - timedelta(seconds=1),
        window_end=moment + timedelta(seconds=2),
        fps=15,
        width=640,
        height=480,
        duration=3.0,
        size=200_000 + index,
        sha256=hashlib.sha256(event_id.encode()).hexdigest(),
        created_at=moment + timedelta(seconds=5),
        has_audio=index % 2 == 0,
        gaps=(GapSpan(moment, moment + timedelta(seconds=1)),) if index % 10 == 0 else (),
    )


@pytest.fixture(scope="session")
def big_catalogue(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A catalogue file holding 100 000 synthetic clips (built once, copied per test)."""
    path = tmp_path_factory.mktemp("catalogue") / "catalogue.sqlite3"
    began = time.perf_counter()
    with ClipIndex(path) as index:
        index.upsert_many(synthetic(i) for i in range(BIG))
    print(f"\nbuilt a {BIG:,}-clip catalogue in {time.perf_counter() - began:.1f} s")
    return path


def _runtime(tmp_path: Path, catalogue: Path | None = None) -> Runtime:
    if catalogue is not None:
        (tmp_path / "state").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(catalogue, tmp_path / "state" / "catalogue.sqlite3")
    # Not started: a started service syncs the catalogue with the store, which would drop the
    # synthetic rows (they have no files).
    return build_runtime(load_settings(env_files=[], environ=_environ(tmp_path)))


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    built = _runtime(tmp_path)
    try:
        yield built
    finally:
        built.stop()


@pytest.fixture
def big_runtime(tmp_path: Path, big_catalogue: Path) -> Iterator[Runtime]:
    built = _runtime(tmp_path, big_catalogue)
    try:
        yield built
    finally:
        built.stop()


def add_clip(
    runtime: Runtime,
    folder: Path,
    event_id: str,
    *,
    camera_id: str = "cam01",
    event_type: str = "motion",
    timestamp: datetime | None = None,
    event_offset: float = 2.0,
) -> ClipMeta:
    """Store a real MP4 for an event and catalogue it, as the clip service does."""
    folder.mkdir(parents=True, exist_ok=True)
    made = write_clip(folder / f"{event_id}.mp4", seconds=4.0)
    meta = meta_for(
        made,
        event_id,
        camera_id=camera_id,
        event_type=event_type,
        timestamp=timestamp or datetime.now(UTC) - timedelta(minutes=5),
        event_offset=event_offset,
        seconds=4.0,
    )
    runtime.store.put(meta, made)
    runtime.index.upsert(meta)
    return meta


def loaded(qtbot: QtBot, model: ClipTableModel, timeout: int = 5000) -> None:
    """Wait until the page the model asked for is in (catalogue reads run off the GUI thread)."""
    qtbot.waitUntil(lambda: not model.loading, timeout=timeout)


def fetch_all(qtbot: QtBot, model: ClipTableModel) -> None:
    """Fetch pages until the catalogue has no more, as a view scrolled to the end would."""
    loaded(qtbot, model)
    while model.canFetchMore(QModelIndex()):
        model.fetchMore(QModelIndex())
        loaded(qtbot, model)


def console_of(runtime: Runtime, thumbnails: Path | None = None) -> EmbeddedConsole:
    """The console's view of ``runtime``, caching thumbnails in ``thumbnails`` (None: none)."""
    maker = ThumbnailMaker(thumbnails) if thumbnails is not None else None
    return EmbeddedConsole(runtime.recorder, runtime.service, runtime.health, maker)


def make_panel(qtbot: QtBot, runtime: Runtime, tmp_path: Path) -> ClipLibraryPanel:
    panel = ClipLibraryPanel(console_of(runtime, tmp_path / "thumbnails"))
    qtbot.addWidget(panel)
    panel.resize(1200, 520)
    loaded(qtbot, panel.model)
    return panel


@pytest.fixture
def panels() -> Iterator[list[ClipLibraryPanel]]:
    """Panels to shut down after the test (their worker threads must not outlive it)."""
    made: list[ClipLibraryPanel] = []
    yield made
    for panel in made:
        panel.shutdown()


def select(qtbot: QtBot, panel: ClipLibraryPanel, event_id: str) -> ClipMeta:
    assert panel.select_clip(event_id)
    meta = panel.selected_clip()
    assert meta is not None and meta.event_id == event_id
    return meta


def close_boxes(panel: ClipLibraryPanel) -> None:
    for box in panel.findChildren(QMessageBox):
        box.close()


# ---- model and proxy ---------------------------------------------------------------------------


# Qt's tester reports by warnings: make every warning a failure.
@pytest.mark.qt_log_level_fail("WARNING")
def test_model_and_proxy_pass_the_model_tester(
    qtbot: QtBot, qtmodeltester: object, runtime: Runtime, tmp_path: Path
) -> None:
    runtime.index.upsert_many(synthetic(i) for i in range(45))
    real = add_clip(runtime, tmp_path / "made", "real-1", timestamp=BASE + 100 * SPACING)
    model = ClipTableModel(console_of(runtime, tmp_path / "thumbs"), page_size=10)
    qtmodeltester.check(model)  # type: ignore[attr-defined]  # empty, before the first page
    model.refresh()
    assert model.rowCount() == 0 and model.loading  # the page is read off the GUI thread
    loaded(qtbot, model)
    assert model.rowCount() == 10 and model.total == 46
    assert model.index(0, 0).data(ClipRole) == real  # newest first
    qtmodeltester.check(model)  # type: ignore[attr-defined]
    proxy = ClipFilterProxyModel()
    proxy.setSourceModel(model)
    proxy.sort(ClipColumn.SIZE, Qt.SortOrder.AscendingOrder)
    qtmodeltester.check(proxy)  # type: ignore[attr-defined]

    # Pages arrive while the testers stay attached and check each change.
    fetch_all(qtbot, model)
    assert model.rowCount() == 46 and not model.canFetchMore(QModelIndex())
    ids = [model.clip_at(row).event_id for row in range(46)]
    assert ids == ["real-1", *(f"syn-{i:06d}" for i in reversed(range(45)))]
    assert proxy.index(0, 0).data(ClipRole) == real  # the smallest file
    model.upsert_clip(synthetic(46))
    assert model.rowCount() == 47 and model.row_of("syn-000046") == 1
    model.set_status("syn-000003", "verified")
    assert model.index(model.row_of("syn-000003") or 0, ClipColumn.STATUS).data() == "verified"
    assert model.remove_clip("syn-000004")
    proxy.set_quick_text("SYN-00001")  # ASCII case-blind, like the catalogue
    assert proxy.rowCount() == 10
    proxy.set_quick_text("")
    model.set_filter(ClipQuery(camera_id="CAM02"))
    loaded(qtbot, model)
    assert model.total == sum(1 for i in range(45) if CAMERAS[i % 4] == "cam02")
    model.close()


@pytest.mark.parametrize(
    ("zone", "local"),
    [
        ("UTC", "2025-01-01 00:01:40 UTC"),
        ("Europe/Berlin", "2025-01-01 01:01:40 CET"),
        ("America/Los_Angeles", "2024-12-31 16:01:40 PST"),
        ("Etc/GMT-3", "2025-01-01 03:01:40 UTC+03:00"),
    ],
)
def test_cells_read_well(
    qtbot: QtBot, runtime: Runtime, local_zone: ZoneSetter, zone: str, local: str
) -> None:
    local_zone(zone)
    runtime.index.upsert(synthetic(10))
    model = ClipTableModel(console_of(runtime))
    model.refresh()
    loaded(qtbot, model)
    row = [model.index(0, column).data() for column in ClipColumn]
    assert row == [local, "cam03", "person", "3.0 s", "195.3 KB", "yes", "1 (1.0 s)", "ready"]
    assert f"at {local}" in model.index(0, 0).data(Qt.ItemDataRole.ToolTipRole)
    assert model.index(0, 0).data(ThumbnailStateRole) == ThumbnailState.UNAVAILABLE
    assert model.index(0, 0).data(ThumbnailRole) is None
    assert model.headerData(0, Qt.Orientation.Horizontal) == "Time"
    model.close()


# ---- paging a large catalogue -------------------------------------------------------------------


def test_a_100000_clip_catalogue_pages_lazily(qtbot: QtBot, big_runtime: Runtime) -> None:
    service = big_runtime.service
    model = ClipTableModel(console_of(big_runtime), page_size=200)
    began = time.perf_counter()
    with qtbot.waitSignal(model.page_loaded):
        model.refresh()
    first_page = time.perf_counter() - began
    assert model.total == BIG and model.rowCount() == 200
    assert model.clip_at(0).event_id == f"syn-{BIG - 1:06d}"  # newest first
    assert model.canFetchMore(QModelIndex())

    began = time.perf_counter()
    with qtbot.waitSignal(model.page_loaded):
        model.fetchMore(QModelIndex())
    next_page = time.perf_counter() - began
    assert model.rowCount() == 400
    ids = [model.clip_at(row).event_id for row in range(400)]
    assert ids == [f"syn-{BIG - 1 - k:06d}" for k in range(400)]

    began = time.perf_counter()
    deep = service.clips(ClipQuery(limit=200, offset=BIG - 200))
    deep_page = time.perf_counter() - began
    assert deep.items[-1].event_id == "syn-000000"

    timings = {"first page": first_page, "next page": next_page, "page at 99 800": deep_page}
    filters = {
        "camera": ClipQuery(camera_id="cam02"),
        "type": ClipQuery(event_type="vehicle"),
        "date": ClipQuery(start=BASE + 1000 * SPACING, end=BASE + 31000 * SPACING),
        "text": ClipQuery(text="-0123"),
        "all four": ClipQuery(
            camera_id="cam01",
            event_type="motion",
            start=BASE + 50_000 * SPACING,
            end=BASE + 90_000 * SPACING,
            text="syn-07",
        ),
    }
    expected = {
        name: sum(1 for i in range(BIG) if wanted.matches(synthetic(i)))
        for name, wanted in filters.items()
    }
    assert expected["camera"] == 25_000 and expected["text"] == 100
    assert 0 < expected["all four"] < 1000
    for name, wanted in filters.items():
        began = time.perf_counter()
        with qtbot.waitSignal(model.page_loaded, timeout=10_000):
            model.set_filter(wanted)
        timings[f"filter {name}"] = time.perf_counter() - began
        assert model.total == expected[name], name
        assert model.rowCount() == min(200, expected[name])
        assert all(wanted.matches(model.clip_at(row)) for row in range(model.rowCount()))
    print()
    for name, seconds in timings.items():
        print(f"{BIG:,} clips, {name}: {seconds * 1000:.1f} ms")
    assert first_page < 0.5 and next_page < 0.5
    model.close()


def test_the_view_fetches_pages_as_it_scrolls(
    qtbot: QtBot, big_runtime: Runtime, tmp_path: Path, panels: list[ClipLibraryPanel]
) -> None:
    began = time.perf_counter()
    panel = make_panel(qtbot, big_runtime, tmp_path)
    panels.append(panel)
    panel.show()
    qtbot.waitExposed(panel)
    print(f"\npanel over {BIG:,} clips shown in {(time.perf_counter() - began) * 1000:.0f} ms")
    assert panel.count_label.text() == "100,000 clips"
    assert panel.model.rowCount() == 200
    panel.view.scrollToBottom()
    qtbot.waitUntil(lambda: panel.model.rowCount() >= 400)
    assert panel.model.rowCount() < 1000  # one page at a time, never everything

    # Only cam01 is configured; the others are offered once clips of theirs are loaded.
    camera = panel.camera_combo.findData("cam03")
    assert camera > 0
    panel.camera_combo.setCurrentIndex(camera)
    qtbot.waitUntil(lambda: panel.count_label.text() == "25,000 clips", timeout=3000)
    panel.type_combo.setEditText("vehicle")
    both = sum(1 for i in range(BIG) if i % 4 == 2 and i % 3 == 2)
    qtbot.waitUntil(lambda: panel.count_label.text() == f"{both:,} clips", timeout=3000)

    panel.from_edit.setDateTime(QDateTime(BASE + 99_000 * SPACING))
    panel.from_check.setChecked(True)
    recent = sum(1 for i in range(99_000, BIG) if i % 4 == 2 and i % 3 == 2)
    qtbot.waitUntil(lambda: panel.model.total == recent, timeout=3000)
    panel.camera_combo.setCurrentIndex(0)
    panel.type_combo.setEditText("")
    panel.from_check.setChecked(False)
    qtbot.waitUntil(lambda: panel.model.total == BIG, timeout=3000)

    # Typing narrows the loaded rows at once; the catalogue query follows after a pause.
    panel.text_edit.setText("syn-09999")
    assert panel.proxy.rowCount() == 10
    qtbot.waitUntil(lambda: panel.model.total == 10, timeout=3000)
    assert panel.count_label.text() == "10 clips"


# ---- live updates -----------------------------------------------------------------------------


def test_new_clips_land_where_the_catalogue_lists_them(qtbot: QtBot, runtime: Runtime) -> None:
    runtime.index.upsert_many(synthetic(i) for i in range(500))
    model = ClipTableModel(console_of(runtime), page_size=100)
    model.refresh()
    loaded(qtbot, model)
    totals: list[int] = []
    model.total_changed.connect(totals.append)

    newest = synthetic(1000)
    model.apply_change(CatalogueChange(added=(newest,)))
    assert model.clip_at(0) == newest and model.total == 501 and totals == [501]

    # Older than every loaded row: counted now, shown when its page is fetched (exactly once).
    old = ClipMeta(**{**synthetic(5).__dict__, "event": Event("old-1", "cam01", "motion", BASE)})
    runtime.index.upsert_many([newest, old])
    model.apply_change(CatalogueChange(added=(old,)))
    assert model.row_of("old-1") is None and model.total == 502
    fetch_all(qtbot, model)
    ids = [model.clip_at(row).event_id for row in range(model.rowCount())]
    assert len(ids) == len(set(ids)) == 502 and ids[-1] == "old-1"

    model.set_filter(ClipQuery(camera_id="cam02"))
    loaded(qtbot, model)
    hidden = synthetic(1001)  # 1001 % 4 == 1: cam02
    other = synthetic(1002)  # cam03
    model.apply_change(CatalogueChange(added=(other,)))
    assert model.row_of(other.event_id) is None and model.total == 125
    model.apply_change(CatalogueChange(added=(hidden,)))
    assert model.row_of(hidden.event_id) == 0 and model.total == 126

    model.apply_change(CatalogueChange(removed=(hidden,)))  # gone from the list
    assert model.row_of(hidden.event_id) is None and model.total == 125
    unloaded = synthetic(1)  # cam02, on a page not fetched yet: only the count changes
    model.apply_change(CatalogueChange(removed=(unloaded,)))
    assert model.total == 124 and model.rowCount() == 100
    model.close()


def test_pages_stay_whole_while_clips_come_and_go_between_them(
    qtbot: QtBot, runtime: Runtime
) -> None:
    runtime.index.upsert_many(synthetic(i) for i in range(30))
    model = ClipTableModel(console_of(runtime), page_size=10)
    bridge = CatalogueRelay(runtime)
    bridge.changed.connect(model.apply_change)
    model.refresh()
    loaded(qtbot, model)
    # Rows above the next page's start vanish and appear before it is read: an offset would
    # skip or repeat rows; the model pages from its last loaded clip instead.
    runtime.index.delete("syn-000027")
    runtime.index.delete("syn-000025")
    runtime.index.upsert(synthetic(40))
    model.fetchMore(QModelIndex())
    runtime.index.delete("syn-000012")  # on the page being read, maybe already read
    fetch_all(qtbot, model)
    qtbot.waitUntil(lambda: model.total == 28)
    ids = [model.clip_at(row).event_id for row in range(model.rowCount())]
    expected = [f"syn-{i:06d}" for i in (40, *reversed(range(30))) if i not in (27, 25, 12)]
    assert ids == expected
    bridge.close()
    model.close()


class CatalogueRelay(QObject):
    """What the engine bridge does with catalogue changes: from any thread to a queued signal."""

    changed = Signal(object)

    def __init__(self, runtime: Runtime) -> None:
        super().__init__()
        self._stop = runtime.service.watch_catalogue(self.changed.emit)

    def close(self) -> None:
        self._stop()


def test_a_clip_made_by_the_engine_appears_with_its_thumbnail(
    qtbot: QtBot, tmp_path: Path, panels: list[ClipLibraryPanel]
) -> None:
    runtime = build_runtime(load_settings(env_files=[], environ=_environ(tmp_path)))
    runtime.start(with_api=False)
    bridge = EngineBridge(runtime.console)
    try:
        panel = make_panel(qtbot, runtime, tmp_path)
        panels.append(panel)
        bridge.catalogue_changed.connect(panel.on_catalogue_changed)
        panel.show()
        assert panel.count_label.text() == "0 clips"
        qtbot.waitUntil(lambda: (runtime.recorder.buffer("cam01").newest or 0) > 0, timeout=20_000)
        qtbot.wait(1500)  # let the demo camera fill the pre-event buffer
        runtime.service.generate(Event("live-1", "cam01", "person", datetime.now(UTC)))
        qtbot.waitUntil(lambda: panel.model.row_of("live-1") == 0, timeout=20_000)
        assert panel.count_label.text() == "1 clip"
        panel.view.viewport().grab()  # painting asks for the thumbnail
        cell = panel.model.index(0, 0)
        qtbot.waitUntil(lambda: cell.data(ThumbnailStateRole) == ThumbnailState.READY)
        image = cell.data(ThumbnailRole)
        assert image.width() == 160 and image.height() == 120
        panel.grab().save("/tmp/library-live.png")
    finally:
        for panel in panels:
            panel.shutdown()
        panels.clear()
        bridge.shutdown()
        runtime.stop()


def test_the_library_follows_deletes_and_syncs_from_elsewhere(
    qtbot: QtBot, tmp_path: Path, panels: list[ClipLibraryPanel]
) -> None:
    runtime = start_service(tmp_path / "here", CAMERA_CAM01_URL="demo://?width=320&height=240")
    # Another console on the same clip folder, with its own catalogue.
    other = build_runtime(
        load_settings(
            env_files=[],
            environ={
                **_environ(tmp_path / "there"),
                "LOCAL_STORAGE_PATH": str(tmp_path / "here" / "clips"),
            },
        )
    )
    bridge = EngineBridge(runtime.console)
    try:
        for name in ("api-del", "peer-del", "kept"):
            add_clip(runtime, tmp_path / "made", name)
        panel = make_panel(qtbot, runtime, tmp_path)
        panels.append(panel)
        bridge.catalogue_changed.connect(panel.on_catalogue_changed)
        assert panel.count_label.text() == "3 clips"

        assert runtime.api is not None
        response = httpx.delete(f"{runtime.api.base_url}/clips/api-del", timeout=10)
        assert response.status_code in (200, 204), response.text
        qtbot.waitUntil(lambda: panel.model.row_of("api-del") is None, timeout=5000)
        assert panel.count_label.text() == "2 clips"

        assert other.service.delete("peer-del")  # gone from the shared folder
        made_there = add_clip(other, tmp_path / "made-there", "from-peer")
        runtime.service.sync_index()  # what the periodic sync does
        qtbot.waitUntil(lambda: panel.model.row_of("peer-del") is None, timeout=5000)
        qtbot.waitUntil(lambda: panel.model.row_of("from-peer") is not None, timeout=5000)
        assert panel.model.clip_at(panel.model.row_of("from-peer") or 0) == made_there
        assert panel.count_label.text() == "2 clips"
        assert {panel.model.clip_at(r).event_id for r in range(2)} == {"kept", "from-peer"}
    finally:
        for panel in panels:
            panel.shutdown()
        panels.clear()
        bridge.shutdown()
        other.stop()
        runtime.stop()


# ---- thumbnails and the screenshot ----------------------------------------------------------


def test_the_delegate_paints_real_thumbnails(
    qtbot: QtBot, runtime: Runtime, tmp_path: Path, panels: list[ClipLibraryPanel]
) -> None:
    runtime.index.upsert_many(synthetic(i) for i in range(40))
    now = datetime.now(UTC)
    # Event offsets pick different keyframes, hence different colours per row.
    first = add_clip(runtime, tmp_path / "made", "door-7", timestamp=now, event_offset=1.0)
    second = add_clip(
        runtime,
        tmp_path / "made",
        "gate-2",
        camera_id="cam02",
        event_type="person",
        timestamp=now - timedelta(minutes=1),
        event_offset=3.0,
    )
    panel = make_panel(qtbot, runtime, tmp_path)
    panels.append(panel)
    panel.show()
    qtbot.waitExposed(panel)
    panel.view.viewport().grab()
    model = panel.model
    for meta in (first, second):
        cell = model.index(model.row_of(meta.event_id) or 0, 0)
        qtbot.waitUntil(lambda c=cell: c.data(ThumbnailStateRole) == ThumbnailState.READY)
    qtbot.waitUntil(lambda: model.thumbnails_busy() == 0)  # synthetic rows fail: no files
    select(qtbot, panel, "gate-2")

    shot = panel.view.viewport().grab().toImage()
    for meta, keyframe in ((first, 15), (second, 45)):
        rect = panel.view.visualRect(
            panel.proxy.mapFromSource(model.index(model.row_of(meta.event_id) or 0, 0))
        )
        box_centre = (rect.left() + 4 + 48, rect.center().y())
        colour = QColor(shot.pixelColor(*box_centre))
        expected = frame_color(keyframe)
        got = (colour.red(), colour.green(), colour.blue())
        assert max(abs(a - b) for a, b in zip(got, expected, strict=True)) <= 8, (
            meta.event_id,
            got,
        )
    synthetic_cell = model.index(model.row_of("syn-000039") or 0, 0)
    assert synthetic_cell.data(ThumbnailStateRole) == ThumbnailState.FAILED

    panel.model.set_status("door-7", "verified")
    panel.grab().save("/tmp/library.png")
    assert Path("/tmp/library.png").stat().st_size > 10_000
    # The thumbnail cache on disk serves a fresh model without decoding again.
    assert len(list((tmp_path / "thumbnails").glob("*.png"))) == 2


# ---- actions ---------------------------------------------------------------------------------


def test_verify_reports_a_good_clip_and_a_flipped_byte(
    qtbot: QtBot, runtime: Runtime, tmp_path: Path, panels: list[ClipLibraryPanel]
) -> None:
    meta = add_clip(runtime, tmp_path / "made", "verify-1")
    panel = make_panel(qtbot, runtime, tmp_path)
    panels.append(panel)
    select(qtbot, panel, "verify-1")
    status = panel.model.index(0, ClipColumn.STATUS)
    with qtbot.waitSignal(panel.message_shown) as shown:
        panel.verify_selected()
        assert status.data() == "verifying…"
    assert "intact" in shown.args[0]
    assert status.data() == "verified"
    box = panel.findChild(QMessageBox, "libraryMessage")
    assert box is not None and box.isVisible() and "intact" in box.text()
    close_boxes(panel)

    assert isinstance(runtime.store, LocalClipStore)
    path = runtime.store.path_of(meta.event_id)
    assert path is not None
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with qtbot.waitSignal(panel.message_shown) as shown:
        panel.verify_selected()
    assert "does not match its SHA-256" in shown.args[0]
    assert status.data() == "checksum mismatch"
    boxes = [b for b in panel.findChildren(QMessageBox) if b.isVisible()]
    assert len(boxes) == 1 and boxes[0].icon() == QMessageBox.Icon.Warning


def test_delete_asks_first_then_removes(
    qtbot: QtBot,
    runtime: Runtime,
    tmp_path: Path,
    panels: list[ClipLibraryPanel],
    local_zone: ZoneSetter,
) -> None:
    local_zone("Asia/Tokyo")  # no daylight saving time: the same text on any date
    add_clip(runtime, tmp_path / "made", "keep-1", timestamp=BASE)
    add_clip(runtime, tmp_path / "made", "drop-1", timestamp=BASE + SPACING)
    thumbs = ThumbnailMaker(tmp_path / "thumbnails")
    panel = make_panel(qtbot, runtime, tmp_path)
    panels.append(panel)
    panel.show()
    assert panel.count_label.text() == "2 clips"
    meta = select(qtbot, panel, "drop-1")
    thumbs.thumbnail(meta, str(runtime.store.path_of("drop-1")))  # type: ignore[attr-defined]

    panel.delete_selected()
    box = panel.findChild(QMessageBox, "deleteConfirmation")
    assert box is not None and box.isVisible() and "drop-1" in box.text()
    assert "(cam01, 2025-01-01 09:00:10 JST)" in box.text()
    box.button(QMessageBox.StandardButton.Cancel).click()
    qtbot.wait(50)
    assert runtime.service.get("drop-1") is not None and panel.model.row_of("drop-1") is not None

    select(qtbot, panel, "drop-1")
    panel.delete_selected()
    box = panel.findChild(QMessageBox, "deleteConfirmation")
    assert box is not None and box.isVisible()
    box.button(QMessageBox.StandardButton.Yes).click()
    qtbot.waitUntil(lambda: panel.model.row_of("drop-1") is None)
    assert runtime.service.get("drop-1") is None
    assert runtime.index.get("drop-1") is None
    assert not (tmp_path / "clips" / "drop-1.mp4").exists()
    assert panel.count_label.text() == "1 clip"
    assert thumbs.cached(meta) is None  # its cached thumbnail went with it
    assert "deleted" in panel.message_label.text()


def test_copy_link_puts_a_signed_url_in_the_clipboard(
    qtbot: QtBot,
    runtime: Runtime,
    tmp_path: Path,
    panels: list[ClipLibraryPanel],
    local_zone: ZoneSetter,
) -> None:
    local_zone("Asia/Tokyo")
    add_clip(runtime, tmp_path / "made", "link-1")
    panel = make_panel(qtbot, runtime, tmp_path)
    panels.append(panel)
    select(qtbot, panel, "link-1")
    clipboard = QGuiApplication.clipboard()
    clipboard.setText("")

    panel.expiry_unit.setCurrentIndex(2)  # days
    assert panel.expiry_spin.maximum() == 7
    panel.expiry_unit.setCurrentIndex(1)  # hours
    assert panel.expiry_spin.maximum() == 168
    panel.expiry_spin.setValue(3)
    assert panel.url_expiry() == timedelta(hours=3)
    panel.copy_url()
    qtbot.waitUntil(lambda: clipboard.text().startswith("http"))
    url = urlsplit(clipboard.text())
    assert url.path.endswith("/link-1.mp4")
    query = parse_qs(url.query)
    expires = int(query["expires"][0])
    assert abs(expires - (time.time() + 3 * 3600)) < 10
    assert isinstance(runtime.store, LocalClipStore)
    assert runtime.store.verify_file_access("link-1", query["expires"][0], query["signature"][0])
    valid_until = datetime.fromtimestamp(expires, UTC)
    assert panel.message_label.text() == (
        f"Link to clip link-1 copied; valid until {local_time_text(valid_until)}."
    )
    assert panel.message_label.text().endswith(" JST.")


def test_play_emits_the_clip_and_its_source(
    qtbot: QtBot, runtime: Runtime, tmp_path: Path, panels: list[ClipLibraryPanel]
) -> None:
    add_clip(runtime, tmp_path / "made", "play-1", timestamp=datetime.now(UTC))
    wanted = add_clip(runtime, tmp_path / "made", "play-2", camera_id="cam02")
    panel = make_panel(qtbot, runtime, tmp_path)
    panels.append(panel)
    assert not panel.play_action.isEnabled()
    select(qtbot, panel, "play-2")
    assert panel.play_action.isEnabled()
    with qtbot.waitSignal(panel.play_requested) as played:
        panel.play_action.trigger()
    assert played.args == [wanted, str(tmp_path / "clips" / "play-2.mp4")]

    # Activating a row (double click, Enter) plays it too.
    index = panel.proxy.mapFromSource(panel.model.index(panel.model.row_of("play-1") or 0, 0))
    panel.view.setCurrentIndex(index)
    with qtbot.waitSignal(panel.play_requested) as played:
        panel.view.activated.emit(index)
    assert played.args[0].event_id == "play-1"


def test_save_copy_writes_the_same_bytes(
    qtbot: QtBot, runtime: Runtime, tmp_path: Path, panels: list[ClipLibraryPanel]
) -> None:
    meta = add_clip(runtime, tmp_path / "made", "save-1")
    panel = make_panel(qtbot, runtime, tmp_path)
    panels.append(panel)
    select(qtbot, panel, "save-1")
    destination = tmp_path / "exports" / "copy.mp4"
    destination.parent.mkdir()
    with qtbot.waitSignal(panel.message_shown) as shown:
        panel.save_copy(destination)
    assert "saved to" in shown.args[0]
    assert hashlib.sha256(destination.read_bytes()).hexdigest() == meta.sha256
    assert [p.name for p in destination.parent.iterdir()] == ["copy.mp4"]

    with qtbot.waitSignal(panel.message_shown) as shown:
        panel.save_copy(tmp_path / "no-such-folder" / "copy.mp4")
    assert "Traceback" not in shown.args[0] and "folder missing" in shown.args[0]
    close_boxes(panel)

    # Without a destination a file dialog opens, non-blocking (never exec()).
    panel.save_copy()
    dialog = panel.findChild(QObject, "saveClipDialog")
    assert dialog is not None and dialog.isVisible()  # type: ignore[attr-defined]
    dialog.reject()  # type: ignore[attr-defined]


def test_the_save_copy_action_asks_where_and_writes_the_clip_there(
    qtbot: QtBot, runtime: Runtime, tmp_path: Path, panels: list[ClipLibraryPanel]
) -> None:
    meta = add_clip(runtime, tmp_path / "made", "action-1")
    panel = make_panel(qtbot, runtime, tmp_path)
    panels.append(panel)
    panel.show()
    select(qtbot, panel, "action-1")
    panel.save_action.trigger()  # as the button, the menu and the context menu do
    dialog = panel.findChild(QFileDialog, "saveClipDialog")
    assert dialog is not None and dialog.isVisible()
    destination = tmp_path / "chosen" / "evidence.mp4"
    destination.parent.mkdir()
    with qtbot.waitSignal(panel.message_shown, timeout=10_000) as shown:
        dialog.selectFile(str(destination))
        dialog.accept()
    assert shown.args == [f"Clip action-1 saved to {destination}."]
    data = destination.read_bytes()
    assert data == (tmp_path / "clips" / "action-1.mp4").read_bytes()
    assert hashlib.sha256(data).hexdigest() == meta.sha256


class _UrlSink(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[QUrl] = []

    @Slot(QUrl)
    def open(self, url: QUrl) -> None:
        self.urls.append(url)


def test_show_in_folder_opens_the_clip_folder(
    qtbot: QtBot, runtime: Runtime, tmp_path: Path, panels: list[ClipLibraryPanel]
) -> None:
    add_clip(runtime, tmp_path / "made", "folder-1")
    panel = make_panel(qtbot, runtime, tmp_path)
    panels.append(panel)
    assert not panel.show_folder_action.isEnabled()
    select(qtbot, panel, "folder-1")
    assert panel.show_folder_action.isEnabled()
    sink = _UrlSink()
    QDesktopServices.setUrlHandler("file", sink, "open")
    try:
        panel.show_folder_action.trigger()  # the file is looked up off the GUI thread
        qtbot.waitUntil(lambda: bool(sink.urls))
    finally:
        QDesktopServices.unsetUrlHandler("file")
    assert [Path(url.toLocalFile()) for url in sink.urls] == [(tmp_path / "clips").resolve()]


def test_show_in_folder_is_off_for_remote_stores(
    qtbot: QtBot, runtime: Runtime, tmp_path: Path, panels: list[ClipLibraryPanel]
) -> None:
    add_clip(runtime, tmp_path / "made", "remote-1")
    local = runtime.service.store

    class RemoteLike:  # any store that is not on this computer
        backend = "s3"

        def local_root(self) -> Path | None:
            return None

        def local_path(self, event_id: str) -> Path | None:
            return None

        def __getattr__(self, name: str) -> object:
            return getattr(local, name)

    runtime.service.store = RemoteLike()  # type: ignore[assignment]
    panel = make_panel(qtbot, runtime, tmp_path)
    panels.append(panel)
    select(qtbot, panel, "remote-1")
    assert panel.play_action.isEnabled() and not panel.show_folder_action.isEnabled()
    with qtbot.waitSignal(panel.play_requested) as played:
        panel.play_selected()
    assert played.args[1].startswith("http://")  # a remote clip plays from a URL


def test_a_broken_catalogue_reads_as_a_message(
    qtbot: QtBot, runtime: Runtime, tmp_path: Path, panels: list[ClipLibraryPanel]
) -> None:
    add_clip(runtime, tmp_path / "made", "err-1")
    panel = make_panel(qtbot, runtime, tmp_path)
    panels.append(panel)
    select(qtbot, panel, "err-1")
    runtime.index.close()
    with qtbot.waitSignal(panel.model.page_loaded):
        panel.refresh()
    text = panel.message_label.text()
    assert text == (
        "The clip list could not be loaded: The clip catalogue failed (the clip catalogue is "
        "closed). It is rebuilt from the storage at start."
    )
    assert panel.count_label.text() == "0 clips" and panel.model.rowCount() == 0


def test_an_action_on_a_vanished_clip_explains_itself(
    qtbot: QtBot, runtime: Runtime, tmp_path: Path, panels: list[ClipLibraryPanel]
) -> None:
    add_clip(runtime, tmp_path / "made", "gone-1")
    panel = make_panel(qtbot, runtime, tmp_path)
    panels.append(panel)
    select(qtbot, panel, "gone-1")
    runtime.service.delete("gone-1")  # by another console, say
    with qtbot.waitSignal(panel.message_shown) as shown:
        panel.verify_selected()
    assert shown.args[0] == (
        "Clip gone-1 could not be verified. "
        "That clip is no longer stored (it was deleted or expired)."
    )
    with qtbot.waitSignal(panel.message_shown) as shown:
        panel.copy_url()
    gone = "That clip is no longer stored (it was deleted or expired)."
    assert shown.args[0] == f"Clip gone-1: {gone}"
