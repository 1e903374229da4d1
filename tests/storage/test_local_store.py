"""The local clip store: round trips, commit order, hostile ids, symlinks, failing disks."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.support.factories import clip_record
from vms_desktop.domain.clip import ClipMeta
from vms_desktop.domain.errors import (
    ClipExistsError,
    InvalidIdError,
    InvalidLinkError,
    StoreError,
    StoreUnavailableError,
)
from vms_desktop.domain.store_state import MAX_URL_EXPIRY
from vms_desktop.storage import local_store
from vms_desktop.storage.atomic import cleanup_temp_files, write_atomic
from vms_desktop.storage.base import ClipStore
from vms_desktop.storage.local_store import LocalClipStore
from vms_desktop.storage.signing import UrlSigner, content_tag

BASE_URL = "http://127.0.0.1:8000/clips"
KEY = b"k" * 32
WHEN = datetime(2025, 5, 31, 10, 30, tzinfo=UTC)
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0

HOSTILE_IDS = [
    "../../etc/x",
    "/etc/passwd",
    "..\\..\\x",
    "%2e%2e%2f",
    "%252e%252e",
    "ev\x00",
    "\x00",
    "ev\nx",
    "ev\n",
    "\uff0e\uff0e",
    "\uff0e\uff0e\uff0fetc\uff0fx",
    "a" * (1024 * 1024),
    "..",
    ".",
    "",
    "_files",
    "ev/../../x",
    "ev.",
]


def clip_bytes(seed: str, size: int = 4096) -> bytes:
    """Deterministic MP4-looking bytes (a real small file; the store never parses it)."""
    body = hashlib.sha256(seed.encode()).digest() * (size // 32 + 1)
    return (b"\x00\x00\x00\x18ftypmp42" + body)[:size]


def make_meta(event_id: str, data: bytes, *, camera: str = "cam01") -> ClipMeta:
    return clip_record(event_id, camera_id=camera, event_type="detection", at=WHEN, data=data)


def snapshot(folder: Path) -> dict[str, tuple[str, int]]:
    """Every entry under ``folder`` (symlinks not followed): kind and size."""
    found: dict[str, tuple[str, int]] = {}
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            info = path.lstat()
            kind = "link" if path.is_symlink() else "dir" if path.is_dir() else "file"
            found[str(path.relative_to(folder))] = (kind, info.st_size if kind == "file" else 0)
    return found


@pytest.fixture
def work(tmp_path: Path) -> Path:
    folder = tmp_path / "work"
    folder.mkdir()
    return folder


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "clips"


@pytest.fixture
def store(root: Path) -> LocalClipStore:
    return LocalClipStore(root, BASE_URL, UrlSigner(KEY))


def source(work: Path, name: str, data: bytes) -> Path:
    path = work / f"{name}.mp4"
    path.write_bytes(data)
    return path


def put(store: LocalClipStore, work: Path, event_id: str, seed: str | None = None) -> ClipMeta:
    data = clip_bytes(seed or event_id)
    meta = make_meta(event_id, data)
    store.put(meta, source(work, event_id, data))
    return meta


def temp_files(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]


# ---- mounts (root only: the CI runs as root) -----------------------------------------------


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A small tmpfs at ``path`` (real ENOSPC and read-only remounts), unmounted afterwards."""
    if not IS_ROOT or shutil.which("mount") is None:
        pytest.fail("mounting a tmpfs needs root (make test runs as root, like CI)")
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)],
        check=True,
        capture_output=True,
    )
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=True, capture_output=True)


def remount(path: Path, mode: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{mode}", str(path)], check=True, capture_output=True)


def fill(folder: Path) -> None:
    """Write until the file system is full."""
    with open(folder / "filler", "wb") as handle:
        try:
            while True:
                handle.write(b"\0" * 65536)
                handle.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC


# ---- basics ----------------------------------------------------------------------------------


def test_is_a_clip_store(store: LocalClipStore) -> None:
    checked: ClipStore = store
    assert checked.backend == "local"


def test_round_trip(store: LocalClipStore, root: Path, work: Path) -> None:
    data = clip_bytes("ev-1")
    meta = make_meta("ev-1", data)
    clip_file = source(work, "ev-1", data)
    store.put(meta, clip_file)

    assert not clip_file.exists()  # moved into the store
    assert sorted(p.name for p in root.iterdir()) == ["ev-1.json", "ev-1.mp4"]
    assert (root / "ev-1.mp4").read_bytes() == data
    record = (root / "ev-1.json").read_text()
    assert json.loads(record) == meta.to_dict()
    assert "\n  " in record  # pretty, for people reading the folder
    assert store.get("ev-1") == meta
    assert list(store.iter_all()) == [meta]
    assert store.path_of("ev-1") == root / "ev-1.mp4"
    with store.open("ev-1") as stream:
        assert stream.read() == data
        stream.seek(100)
        assert stream.read(10) == data[100:110]
    assert store.get("ev-2") is None
    assert store.path_of("ev-2") is None
    with pytest.raises(FileNotFoundError):
        store.open("ev-2")


def test_put_is_idempotent(store: LocalClipStore, root: Path, work: Path) -> None:
    meta = put(store, work, "ev-1")
    before = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in root.iterdir()}
    retry = source(work, "retry", clip_bytes("ev-1"))
    store.put(meta, retry)
    assert not retry.exists()
    assert {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in root.iterdir()} == before
    assert list(store.iter_all()) == [meta]


def test_different_bytes_for_a_stored_id_raise_and_keep_the_original(
    store: LocalClipStore, root: Path, work: Path
) -> None:
    original = put(store, work, "ev-1")
    other = clip_bytes("something else")
    clip_file = source(work, "other", other)
    with pytest.raises(ClipExistsError):
        store.put(make_meta("ev-1", other), clip_file)
    assert clip_file.read_bytes() == other  # the caller keeps its file
    assert (root / "ev-1.mp4").read_bytes() == clip_bytes("ev-1")
    assert store.get("ev-1") == original
    assert not temp_files(root)


@pytest.mark.parametrize("wrong", ["sha256", "size"])
def test_a_clip_not_matching_its_metadata_is_refused(
    store: LocalClipStore, root: Path, work: Path, wrong: str
) -> None:
    data = clip_bytes("ev-1")
    meta = make_meta("ev-1", data)
    if wrong == "sha256":
        meta = make_meta("ev-1", data[:-1] + b"X")
    else:
        meta = make_meta("ev-1", data + b"X")
    clip_file = source(work, "ev-1", data)
    with pytest.raises(StoreError, match="does not match"):
        store.put(meta, clip_file)
    assert clip_file.read_bytes() == data
    assert list(root.iterdir()) == []


def test_a_missing_source_is_a_store_error(store: LocalClipStore, root: Path, work: Path) -> None:
    meta = make_meta("ev-1", clip_bytes("ev-1"))
    with pytest.raises(StoreError) as caught:
        store.put(meta, work / "missing.mp4")
    assert str(work) not in str(caught.value)
    assert list(root.iterdir()) == []


def test_delete(store: LocalClipStore, root: Path, work: Path) -> None:
    put(store, work, "ev-1")
    put(store, work, "ev-2")
    assert store.delete("ev-1") is True
    assert store.delete("ev-1") is False
    assert store.get("ev-1") is None
    assert sorted(p.name for p in root.iterdir()) == ["ev-2.json", "ev-2.mp4"]


def test_delete_removes_the_record_first(
    store: LocalClipStore, root: Path, work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    put(store, work, "ev-1")
    removed: list[str] = []
    real = os.unlink

    def spy(path: str | os.PathLike[str], *args: object, **kwargs: object) -> None:
        removed.append(Path(path).name)
        real(path)

    monkeypatch.setattr(os, "unlink", spy)
    assert store.delete("ev-1")
    assert removed == ["ev-1.json", "ev-1.mp4"]


def test_concurrent_identical_puts_store_one_clip(
    store: LocalClipStore, root: Path, work: Path
) -> None:
    data = clip_bytes("ev-1")
    meta = make_meta("ev-1", data)
    files = [source(work, f"copy{i}", data) for i in range(8)]
    errors: list[BaseException] = []

    def run(path: Path) -> None:
        try:
            store.put(meta, path)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(path,)) for path in files]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(p.name for p in root.iterdir()) == ["ev-1.json", "ev-1.mp4"]
    assert not any(path.exists() for path in files)


# ---- commit order and recovery -------------------------------------------------------------


def test_record_is_written_last(
    store: LocalClipStore, root: Path, work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash just before the commit leaves an unlisted clip that recovery removes."""

    class Crash(BaseException):
        pass

    seen: list[set[str]] = []

    def crash(temp: Path, destination: Path, *, overwrite: bool = True) -> None:
        seen.append({p.name for p in root.iterdir() if not p.name.startswith(".")})
        raise Crash

    monkeypatch.setattr(local_store, "commit_temp", crash)
    data = clip_bytes("ev-1")
    with pytest.raises(Crash):
        store.put(make_meta("ev-1", data), source(work, "ev-1", data))
    assert seen == [{"ev-1.mp4"}]  # the clip was in place before the record
    monkeypatch.undo()

    assert store.get("ev-1") is None
    assert list(store.iter_all()) == []
    assert store.path_of("ev-1") is None
    with pytest.raises(FileNotFoundError):
        store.open("ev-1")
    # While another process writes the folder, fresh leftovers may be its write in progress.
    other = LocalClipStore(root, BASE_URL, UrlSigner(KEY))
    assert other.claim()
    assert store.recover().orphan_clips == 0
    assert (root / "ev-1.mp4").exists()
    other.close()
    # The folder's only writer knows they are a crash's leftovers, however fresh.
    result = store.recover()
    assert (result.temp_files, result.orphan_clips) == (1, 1)
    assert list(root.iterdir()) == []
    store.close()


def test_a_clip_file_without_record_is_not_listed_and_recovered(
    store: LocalClipStore, root: Path, work: Path
) -> None:
    kept = put(store, work, "ev-1")
    (root / "ev-2.mp4").write_bytes(clip_bytes("ev-2"))
    assert list(store.iter_all()) == [kept]
    assert store.get("ev-2") is None
    old = (datetime.now(UTC) - timedelta(hours=1)).timestamp()
    os.utime(root / "ev-2.mp4", (old, old))
    result = store.recover(min_age=timedelta(0))
    assert result.orphan_clips == 1
    assert sorted(p.name for p in root.iterdir()) == ["ev-1.json", "ev-1.mp4"]


def test_put_completes_over_an_uncommitted_leftover(
    store: LocalClipStore, root: Path, work: Path
) -> None:
    (root / "ev-1.mp4").write_bytes(b"half a clip from a crash")
    meta = put(store, work, "ev-1")
    assert store.get("ev-1") == meta
    assert (root / "ev-1.mp4").read_bytes() == clip_bytes("ev-1")


def test_put_restores_a_lost_clip_under_its_record(
    store: LocalClipStore, root: Path, work: Path
) -> None:
    meta = put(store, work, "ev-1")
    (root / "ev-1.mp4").unlink()
    assert store.get("ev-1") is None
    store.put(meta, source(work, "again", clip_bytes("ev-1")))
    assert store.get("ev-1") == meta


def test_recover_removes_only_old_temp_files(store: LocalClipStore, root: Path) -> None:
    old_temp = root / ".ev-1.json.abcdef.tmp"
    new_temp = root / ".ev-2.json.abcdef.tmp"
    old_temp.write_bytes(b"x")
    new_temp.write_bytes(b"x")
    past = (datetime.now(UTC) - timedelta(hours=1)).timestamp()
    os.utime(old_temp, (past, past))
    # ctime cannot be set back, so the age guard is checked with a helper-level age instead.
    assert cleanup_temp_files(root, older_than=3600.0) == 0
    other = LocalClipStore(root, BASE_URL, UrlSigner(KEY))
    assert other.claim()  # another instance writes the folder: fresh temps may be its own
    assert store.recover().temp_files == 0
    assert store.recover(min_age=timedelta(0)).temp_files == 2
    assert list(root.iterdir()) == []
    other.close()


def test_iter_all_skips_malformed_and_orphan_records(
    store: LocalClipStore, root: Path, work: Path
) -> None:
    good = put(store, work, "ev-1")
    (root / "bad.json").write_text("{not json")
    (root / "bad.mp4").write_bytes(b"x")
    (root / "empty.json").write_text("{}")
    (root / "empty.mp4").write_bytes(b"x")
    record = good.to_dict()
    (root / "renamed.json").write_text(json.dumps(record))  # names another event id
    (root / "renamed.mp4").write_bytes(b"x")
    (root / "orphan.json").write_text(json.dumps(make_meta("orphan", b"x").to_dict()))
    (root / "not an id.json").write_text(json.dumps(record))
    (root / ".ev-9.json.1234.tmp").write_text(json.dumps(record))
    (root / "huge.json").write_bytes(b" " * (2 << 20))
    (root / "huge.mp4").write_bytes(b"x")
    (root / "folder.json").mkdir()
    assert list(store.iter_all()) == [good]
    for event_id in ("bad", "empty", "renamed", "orphan", "huge", "folder"):
        assert store.get(event_id) is None


# ---- hostile ids and symlinks --------------------------------------------------------------


@pytest.mark.parametrize("event_id", HOSTILE_IDS, ids=lambda v: ascii(v[:20]))
def test_hostile_ids_are_refused_and_touch_nothing(
    store: LocalClipStore, tmp_path: Path, work: Path, event_id: str
) -> None:
    put(store, work, "ev-1")
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "x.json").write_text(json.dumps(make_meta("x", b"x").to_dict()))
    (etc / "x.mp4").write_bytes(b"x")
    before = snapshot(tmp_path)
    for call in (
        store.get,
        store.delete,
        store.path_of,
        store.open,
        store.file_url_path,
        lambda value: store.url(value, timedelta(hours=1)),
    ):
        with pytest.raises(InvalidIdError) as caught:
            call(event_id)
        assert str(tmp_path) not in str(caught.value)
        assert len(str(caught.value)) < 1000
    assert not store.verify_file_access(event_id, "1", "x" * 43)
    with pytest.raises(InvalidLinkError):
        store.open_linked(event_id, "1", "0" * 16, "x" * 43)
    assert snapshot(tmp_path) == before


def test_a_planted_symlink_is_neither_read_nor_written_through(
    store: LocalClipStore, root: Path, tmp_path: Path, work: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = clip_bytes("secret")
    meta = make_meta("ev-1", secret)
    (outside / "secret.mp4").write_bytes(secret)
    (outside / "secret.json").write_text(json.dumps(meta.to_dict()))
    (root / "ev-1.mp4").symlink_to(outside / "secret.mp4")
    (root / "ev-1.json").symlink_to(outside / "secret.json")
    before = snapshot(tmp_path)

    assert store.get("ev-1") is None
    assert list(store.iter_all()) == []
    assert store.path_of("ev-1") is None
    with pytest.raises(FileNotFoundError):
        store.open("ev-1")
    clip_file = source(work, "ev-1", secret)
    with pytest.raises(StoreError, match="refused"):
        store.put(meta, clip_file)
    assert store.delete("ev-1") is False
    store.recover(min_age=timedelta(0))
    clip_file.unlink()
    assert snapshot(tmp_path) == before
    assert (outside / "secret.mp4").read_bytes() == secret


def test_a_symlinked_clip_under_a_real_record_is_not_served(
    store: LocalClipStore, root: Path, tmp_path: Path, work: Path
) -> None:
    meta = put(store, work, "ev-1")
    outside = tmp_path / "outside.mp4"
    outside.write_bytes(b"not yours")
    (root / "ev-1.mp4").unlink()
    (root / "ev-1.mp4").symlink_to(outside)
    assert store.get("ev-1") is None
    assert store.path_of("ev-1") is None
    with pytest.raises(FileNotFoundError):
        store.open("ev-1")
    with pytest.raises(StoreError, match="refused"):
        store.put(meta, source(work, "again", clip_bytes("ev-1")))
    assert outside.read_bytes() == b"not yours"
    assert (root / "ev-1.mp4").is_symlink()


def test_a_symlinked_record_is_not_read(
    store: LocalClipStore, root: Path, tmp_path: Path, work: Path
) -> None:
    """Even with a real clip beside it, a record reached through a symlink does not count."""
    data = clip_bytes("ev-1")
    outside = tmp_path / "outside.json"
    outside.write_text(json.dumps(make_meta("ev-1", data).to_dict()))
    (root / "ev-1.json").symlink_to(outside)
    (root / "ev-1.mp4").write_bytes(data)
    assert store.get("ev-1") is None
    assert list(store.iter_all()) == []
    assert store.path_of("ev-1") is None


def test_a_symlinked_record_blocks_put(
    store: LocalClipStore, root: Path, tmp_path: Path, work: Path
) -> None:
    target = tmp_path / "victim.json"
    target.write_text("precious")
    (root / "ev-1.json").symlink_to(target)
    data = clip_bytes("ev-1")
    with pytest.raises(StoreError, match="refused"):
        store.put(make_meta("ev-1", data), source(work, "ev-1", data))
    assert target.read_text() == "precious"
    assert not (root / "ev-1.mp4").exists()


def test_planted_fifos_do_not_hang_reads(store: LocalClipStore, root: Path, work: Path) -> None:
    os.mkfifo(root / "ev-1.json")
    os.mkfifo(root / "ev-2.mp4")
    put(store, work, "ev-3")
    (root / "ev-2.json").write_text(json.dumps(make_meta("ev-2", b"x").to_dict()))
    assert store.get("ev-1") is None
    assert store.get("ev-2") is None
    assert [meta.event_id for meta in store.iter_all()] == ["ev-3"]
    with pytest.raises(FileNotFoundError):
        store.open("ev-2")
    data = clip_bytes("ev-1")
    with pytest.raises(StoreError, match="refused"):
        store.put(make_meta("ev-1", data), source(work, "ev-1", data))


# ---- URLs ----------------------------------------------------------------------------------


def test_url_is_signed_for_its_own_path_and_clip(store: LocalClipStore, work: Path) -> None:
    meta = put(store, work, "ev-1")
    before = datetime.now(UTC)
    result = store.url("ev-1", timedelta(hours=2))
    parts = urlsplit(result.url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{BASE_URL}/_files/ev-1.mp4"
    assert parts.path == store.file_url_path("ev-1") == "/clips/_files/ev-1.mp4"
    assert store.files_prefix == "/clips/_files"
    query = {k: v[0] for k, v in parse_qs(parts.query, strict_parsing=True).items()}
    assert query["expires"] == str(int(result.expires_at.timestamp()))
    assert query["content"] == content_tag(meta.sha256) == meta.sha256[:16]
    assert result.expires_at.microsecond == 0
    assert before + timedelta(hours=2) - timedelta(seconds=1) <= result.expires_at
    assert result.expires_at <= datetime.now(UTC) + timedelta(hours=2)
    expires, content, signature = query["expires"], query["content"], query["signature"]
    assert store.signer.verify(parts.path, expires, content, signature)
    assert store.verify_file_access("ev-1", expires, signature)
    assert store.verify_file_access("ev-1", expires, signature, content=content)
    assert not store.verify_file_access("ev-1", expires, signature, content="0" * 16)
    assert not store.verify_file_access("ev-2", expires, signature)
    later = result.expires_at + timedelta(seconds=1)
    assert not store.verify_file_access("ev-1", expires, signature, now=later)
    stream, opened = store.open_linked("ev-1", expires, content, signature)
    with stream:
        assert stream.read() == clip_bytes("ev-1") and opened == meta


def test_a_url_needs_a_stored_clip(store: LocalClipStore, work: Path) -> None:
    with pytest.raises(FileNotFoundError):
        store.url("ev-1", timedelta(hours=1))
    put(store, work, "ev-1")
    (store.root / "ev-1.mp4").unlink()  # the record without its clip is no clip
    with pytest.raises(FileNotFoundError):
        store.url("ev-1", timedelta(hours=1))


def _link(store: LocalClipStore, event_id: str) -> tuple[str, str, str]:
    query = parse_qs(urlsplit(store.url(event_id, timedelta(hours=1)).url).query)
    return query["expires"][0], query["content"][0], query["signature"][0]


def test_a_link_names_one_clip_not_its_id(store: LocalClipStore, work: Path) -> None:
    put(store, work, "ev-1", seed="first")
    old = _link(store, "ev-1")
    assert store.delete("ev-1")
    with pytest.raises(FileNotFoundError):
        store.open_linked("ev-1", *old)
    assert not store.verify_file_access("ev-1", old[0], old[2])

    # A new clip under the same id: the old link still has a valid signature, but names
    # bytes that are gone.
    put(store, work, "ev-1", seed="second")
    with pytest.raises(FileNotFoundError):
        store.open_linked("ev-1", *old)
    assert not store.verify_file_access("ev-1", old[0], old[2])
    assert not store.verify_file_access("ev-1", old[0], old[2], content=old[1])
    fresh = _link(store, "ev-1")
    assert fresh[1] != old[1]
    stream, meta = store.open_linked("ev-1", *fresh)
    with stream:
        assert stream.read() == clip_bytes("second")
    assert meta.sha256 == hashlib.sha256(clip_bytes("second")).hexdigest()


def test_an_open_link_keeps_serving_the_clip_it_opened(store: LocalClipStore, work: Path) -> None:
    put(store, work, "ev-1", seed="first")
    stream, _ = store.open_linked("ev-1", *_link(store, "ev-1"))
    with stream:
        store.delete("ev-1")
        put(store, work, "ev-1", seed="second")
        assert stream.read() == clip_bytes("first")


def test_a_forged_or_expired_link_is_refused(store: LocalClipStore, work: Path) -> None:
    meta = put(store, work, "ev-1")
    expires, content, signature = _link(store, "ev-1")
    flipped = ("B" if signature[0] == "A" else "A") + signature[1:]
    later = datetime.now(UTC) + timedelta(hours=2)
    for args, now in (
        ((expires, content, flipped), None),
        ((expires, "0" * 16, signature), None),
        ((str(int(expires) + 60), content, signature), None),
        ((expires, content, signature), later),
        (("", "", ""), None),
    ):
        with pytest.raises(InvalidLinkError):
            store.open_linked("ev-1", *args, now=now)
    # Signed for another path: a valid signature of ev-1 says nothing about ev-2.
    put(store, work, "ev-2", seed="ev-1")
    with pytest.raises(InvalidLinkError):
        store.open_linked("ev-2", expires, content, signature)
    assert store.get("ev-1") == meta


@pytest.mark.parametrize(
    "expires_in",
    [
        timedelta(seconds=59),
        timedelta(0),
        -timedelta(hours=1),
        MAX_URL_EXPIRY + timedelta(seconds=1),
    ],
)
def test_url_expiry_is_bounded(store: LocalClipStore, expires_in: timedelta) -> None:
    with pytest.raises(ValueError):
        store.url("ev-1", expires_in)


def test_url_expiry_bounds_are_inclusive(store: LocalClipStore, work: Path) -> None:
    put(store, work, "ev-1")
    store.url("ev-1", timedelta(minutes=1))
    result = store.url("ev-1", MAX_URL_EXPIRY)
    query = parse_qs(urlsplit(result.url).query)
    assert store.verify_file_access("ev-1", query["expires"][0], query["signature"][0])


def test_base_url_forms(root: Path, work: Path) -> None:
    signer = UrlSigner(KEY)
    store = LocalClipStore(root, "https://example.org/", signer)
    put(store, work, "ev-1")
    assert store.url("ev-1", timedelta(hours=1)).url.startswith(
        "https://example.org/_files/ev-1.mp4?"
    )
    assert store.files_prefix == "/_files"
    store = LocalClipStore(root, "http://h:8000/a/clips/", signer)
    assert store.file_url_path("ev-1") == "/a/clips/_files/ev-1.mp4"
    for bad in ("ftp://h/clips", "/clips", "http:///clips", "http://h/clips?x=1"):
        with pytest.raises(ValueError):
            LocalClipStore(root, bad, signer)


# ---- health and failing storage ------------------------------------------------------------


def test_health_ok(store: LocalClipStore, root: Path) -> None:
    health = store.health()
    assert health.backend == "local" and health.reachable
    assert "free" in health.detail and str(root) not in health.detail
    assert list(root.iterdir()) == []  # the write probe cleaned up


def test_missing_root(tmp_path: Path, work: Path) -> None:
    root = tmp_path / "unmounted" / "clips"
    store = LocalClipStore(root, BASE_URL, UrlSigner(KEY), create=False)
    health = store.health()
    assert not health.reachable and health.detail == "storage folder missing"
    with pytest.raises(StoreUnavailableError, match="storage folder missing"):
        store.get("ev-1")
    with pytest.raises(StoreError, match="storage folder missing"):
        list(store.iter_all())
    with pytest.raises(StoreError, match="storage folder missing"):
        store.delete("ev-1")
    data = clip_bytes("ev-1")
    clip_file = source(work, "ev-1", data)
    with pytest.raises(StoreError, match="storage folder missing") as caught:
        store.put(make_meta("ev-1", data), clip_file)
    assert str(tmp_path) not in str(caught.value)
    assert clip_file.exists()
    assert not (tmp_path / "unmounted").exists()  # a lost mount point is never recreated
    assert store.recover().orphan_clips == 0


def test_root_that_is_a_file(tmp_path: Path) -> None:
    root = tmp_path / "clips"
    root.write_text("")
    health = LocalClipStore(root, BASE_URL, UrlSigner(KEY)).health()
    assert not health.reachable and "not a folder" in health.detail


def test_health_never_raises(store: LocalClipStore, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(self: LocalClipStore) -> None:
        raise RuntimeError("unexpected")

    monkeypatch.setattr(LocalClipStore, "_health", boom)
    health = store.health()
    assert not health.reachable and health.detail == "storage check failed"


def test_disk_full_on_copy_leaves_nothing(tmp_path: Path, work: Path) -> None:
    """A clip larger than the free space (copied in from another file system)."""
    with tmpfs(tmp_path / "small", "1m") as root:
        store = LocalClipStore(root, BASE_URL, UrlSigner(KEY))
        data = clip_bytes("big", 2 * 1024 * 1024)
        clip_file = source(work, "big", data)
        with pytest.raises(StoreError, match="disk full") as caught:
            store.put(make_meta("big", data), clip_file)
        assert str(root) not in str(caught.value)
        assert list(root.iterdir()) == []
        assert clip_file.read_bytes() == data
        assert store.get("big") is None


def test_disk_full_before_commit_keeps_the_source(tmp_path: Path) -> None:
    """Same file system, disk already full: the record cannot be written, nothing is moved."""
    with tmpfs(tmp_path / "small", "1m") as mount:
        root = mount / "clips"
        work = mount / "work"
        work.mkdir()
        store = LocalClipStore(root, BASE_URL, UrlSigner(KEY), min_free_bytes=64 * 1024)
        data = clip_bytes("ev-1", 8192)
        clip_file = source(work, "ev-1", data)
        fill(mount)
        with pytest.raises(StoreError, match="disk full"):
            store.put(make_meta("ev-1", data), clip_file)
        assert list(root.iterdir()) == []
        assert clip_file.read_bytes() == data
        with pytest.raises(StoreError, match="disk full"):
            write_atomic(root / "x.json", b"{}" * 10_000)
        assert list(root.iterdir()) == []
        health = store.health()
        assert not health.reachable and "disk full" in health.detail
        (mount / "filler").unlink()
        store.put(make_meta("ev-1", data), clip_file)
        assert store.health().reachable
        assert store.get("ev-1") is not None


def test_cross_file_system_move(tmp_path: Path, work: Path) -> None:
    with tmpfs(tmp_path / "other", "4m") as root:
        store = LocalClipStore(root, BASE_URL, UrlSigner(KEY))
        meta = put(store, work, "ev-1")
        assert store.get("ev-1") == meta
        assert sorted(p.name for p in root.iterdir()) == ["ev-1.json", "ev-1.mp4"]
        assert list(work.iterdir()) == []


def test_cross_file_system_copy_without_mounts(
    store: LocalClipStore, root: Path, work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The copy path (EXDEV) on machines where tmpfs cannot be mounted."""
    real = os.replace

    def no_rename_across(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        if Path(src).parent != Path(dst).parent:
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        real(src, dst)

    monkeypatch.setattr(os, "replace", no_rename_across)
    meta = put(store, work, "ev-1")
    assert store.get("ev-1") == meta
    assert list(work.iterdir()) == []
    assert not temp_files(root)


def test_read_only_file_system(tmp_path: Path, work: Path) -> None:
    with tmpfs(tmp_path / "ro", "4m") as root:
        store = LocalClipStore(root, BASE_URL, UrlSigner(KEY))
        kept = put(store, work, "ev-1")
        remount(root, "ro")
        try:
            data = clip_bytes("ev-2")
            clip_file = source(work, "ev-2", data)
            with pytest.raises(StoreError, match="read-only file system") as caught:
                store.put(make_meta("ev-2", data), clip_file)
            assert str(root) not in str(caught.value)
            assert clip_file.exists()
            with pytest.raises(StoreError, match="read-only file system"):
                store.delete("ev-1")
            health = store.health()
            assert not health.reachable and "read-only file system" in health.detail
            assert store.get("ev-1") == kept  # reading still works
            assert sorted(p.name for p in root.iterdir()) == ["ev-1.json", "ev-1.mp4"]
        finally:
            remount(root, "rw")


@contextlib.contextmanager
def unwritable(folder: Path) -> Iterator[None]:
    """Make ``folder`` refuse new files: chmod for users, the immutable attribute for root."""
    if not IS_ROOT:
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(0o755)
        return
    done = subprocess.run(["chattr", "+i", str(folder)], capture_output=True)
    if done.returncode != 0:
        pytest.fail("root ignores permissions and chattr +i is unsupported on this file system")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True, capture_output=True)


def test_permission_denied(store: LocalClipStore, root: Path, work: Path) -> None:
    kept = put(store, work, "ev-1")
    data = clip_bytes("ev-2")
    clip_file = source(work, "ev-2", data)
    with unwritable(root):
        with pytest.raises(StoreError, match="permission denied") as caught:
            store.put(make_meta("ev-2", data), clip_file)
        assert str(root) not in str(caught.value)
        health = store.health()
        assert not health.reachable and "permission denied" in health.detail
        assert store.get("ev-1") == kept
    assert clip_file.exists()
    assert sorted(p.name for p in root.iterdir()) == ["ev-1.json", "ev-1.mp4"]
