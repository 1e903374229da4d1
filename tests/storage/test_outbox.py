"""The upload outbox: durable entries, retries, set-asides, restarts, and a real S3 outage."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, BinaryIO

import pytest

from tests.storage.test_s3_store import clip_meta
from tests.support.seaweedfs import SeaweedServer
from tests.support.waiting import wait_until
from vms_desktop.domain.clip import ClipMeta
from vms_desktop.domain.errors import ClipExistsError, StoreError, StoreUnavailableError
from vms_desktop.domain.store_state import ClipUrl, StoreHealth
from vms_desktop.storage.outbox import UploadOutbox
from vms_desktop.storage.s3_store import S3ClipStore

WAIT = 20.0


class FakeStore:
    """An in-memory ClipStore whose ``put`` can be told to fail."""

    backend = "fake"

    def __init__(self) -> None:
        self.stored: dict[str, bytes] = {}
        self.attempts: list[str] = []
        self.failures: dict[str, list[Exception]] = {}
        self.always: dict[str, Exception] = {}
        self.lock = threading.Lock()

    def fail(self, event_id: str, *errors: Exception) -> None:
        self.failures.setdefault(event_id, []).extend(errors)

    def put(self, meta: ClipMeta, clip_file: Path) -> None:
        with self.lock:
            self.attempts.append(meta.event_id)
            if meta.event_id in self.always:
                raise self.always[meta.event_id]
            queued = self.failures.get(meta.event_id)
            if queued:
                raise queued.pop(0)
            data = clip_file.read_bytes()
            if meta.event_id in self.stored and self.stored[meta.event_id] != data:
                raise ClipExistsError("taken")
            self.stored[meta.event_id] = data

    def get(self, event_id: str) -> ClipMeta | None:
        return None

    def delete(self, event_id: str) -> bool:
        return self.stored.pop(event_id, None) is not None

    def iter_all(self) -> Iterator[ClipMeta]:
        return iter(())

    def url(self, event_id: str, expires_in: timedelta) -> ClipUrl:
        raise NotImplementedError

    def open(self, event_id: str) -> BinaryIO:
        raise NotImplementedError

    def health(self) -> StoreHealth:
        return StoreHealth(self.backend, True)


class Recorder:
    """Collects the outbox's callbacks."""

    def __init__(self) -> None:
        self.uploaded: list[ClipMeta] = []
        self.failed: list[tuple[ClipMeta, str]] = []

    def on_uploaded(self, meta: ClipMeta) -> None:
        self.uploaded.append(meta)

    def on_failed(self, meta: ClipMeta, message: str) -> None:
        self.failed.append((meta, message))


MakeClip = Callable[..., tuple[ClipMeta, Path]]
MakeOutbox = Callable[..., UploadOutbox]


@pytest.fixture
def make_clip(tmp_path: Path) -> MakeClip:
    """A finished clip file outside the outbox, with its metadata."""
    (tmp_path / "work").mkdir()

    def make(event_id: str = "event-1", size: int = 2048) -> tuple[ClipMeta, Path]:
        data = os.urandom(size)
        path = tmp_path / "work" / f"{event_id}-{data[:4].hex()}.mp4"
        path.write_bytes(data)
        return clip_meta(event_id, data), path

    return make


@pytest.fixture
def outbox_dir(tmp_path: Path) -> Path:
    return tmp_path / "outbox"


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def make_outbox(outbox_dir: Path, recorder: Recorder) -> Iterator[MakeOutbox]:
    """Makes outboxes over ``outbox_dir`` (fast retries by default); stops them all after."""
    made: list[UploadOutbox] = []

    def make(store: Any, **options: Any) -> UploadOutbox:
        settings: dict[str, Any] = {"retry_initial": 0.01, "retry_max": 0.05}
        settings.update(options)
        outbox = UploadOutbox(
            outbox_dir,
            store,
            on_uploaded=recorder.on_uploaded,
            on_failed=recorder.on_failed,
            **settings,
        )
        made.append(outbox)
        return outbox

    yield make
    for outbox in made:
        outbox.stop(timeout=10)


def files(directory: Path) -> list[str]:
    return sorted(os.listdir(directory))


# --- Submitting -------------------------------------------------------------------------------


def test_submit_moves_the_clip_and_commits_the_record(
    make_outbox: MakeOutbox, make_clip: MakeClip, outbox_dir: Path
) -> None:
    outbox = make_outbox(FakeStore())
    meta, path = make_clip("event-a")
    data = path.read_bytes()
    outbox.submit(meta, path)
    assert not path.exists()
    assert files(outbox_dir) == ["event-a.json", "event-a.mp4"]
    assert (outbox_dir / "event-a.mp4").read_bytes() == data
    assert json.loads((outbox_dir / "event-a.json").read_text()) == meta.to_dict()
    assert outbox.pending() == [meta]
    assert outbox.depth == 1


def test_submit_across_file_systems_copies_then_removes(
    make_outbox: MakeOutbox,
    make_clip: MakeClip,
    outbox_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    outbox = make_outbox(FakeStore())
    meta, path = make_clip("event-x")
    data = path.read_bytes()
    real_replace = os.replace

    def replace(source: Any, destination: Any) -> None:
        if Path(source) == path:
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        real_replace(source, destination)

    monkeypatch.setattr(os, "replace", replace)
    outbox.submit(meta, path)
    assert not path.exists()
    assert (outbox_dir / "event-x.mp4").read_bytes() == data
    assert files(outbox_dir) == ["event-x.json", "event-x.mp4"]


def test_repeated_and_conflicting_submits(
    make_outbox: MakeOutbox, make_clip: MakeClip, outbox_dir: Path, tmp_path: Path
) -> None:
    outbox = make_outbox(FakeStore())
    meta, path = make_clip("event-d")
    twin = tmp_path / "twin.mp4"
    twin.write_bytes(path.read_bytes())
    outbox.submit(meta, path)
    outbox.submit(meta, twin)  # a retried submit: nothing new, the twin is consumed
    assert not twin.exists()
    assert outbox.depth == 1
    other, other_path = make_clip("event-d")
    with pytest.raises(ClipExistsError):
        outbox.submit(other, other_path)
    assert other_path.exists()
    assert files(outbox_dir) == ["event-d.json", "event-d.mp4"]


def test_a_file_not_matching_its_size_is_refused(
    make_outbox: MakeOutbox, make_clip: MakeClip, outbox_dir: Path
) -> None:
    outbox = make_outbox(FakeStore())
    meta, path = make_clip("event-s")
    path.write_bytes(b"short")
    with pytest.raises(StoreError):
        outbox.submit(meta, path)
    assert path.exists()
    assert files(outbox_dir) == []


# --- Uploading --------------------------------------------------------------------------------


def test_uploads_oldest_first_then_empties(
    make_outbox: MakeOutbox, make_clip: MakeClip, outbox_dir: Path, recorder: Recorder
) -> None:
    store = FakeStore()
    outbox = make_outbox(store)
    metas = []
    for event_id in ("event-3", "event-1", "event-2"):
        meta, path = make_clip(event_id)
        outbox.submit(meta, path)
        metas.append(meta)
        time.sleep(0.01)  # distinct commit times
    outbox.start()
    wait_until(lambda: len(recorder.uploaded) == 3)
    assert store.attempts == ["event-3", "event-1", "event-2"]
    assert recorder.uploaded == metas
    assert outbox.depth == 0
    wait_until(lambda: files(outbox_dir) == [])


def test_transient_errors_are_retried_until_success(
    make_outbox: MakeOutbox, make_clip: MakeClip, recorder: Recorder
) -> None:
    store = FakeStore()
    store.fail("event-t", *(StoreUnavailableError("S3 is unreachable") for _ in range(4)))
    outbox = make_outbox(store)
    outbox.start()
    meta, path = make_clip("event-t")
    outbox.submit(meta, path)
    wait_until(lambda: recorder.uploaded == [meta])
    assert store.attempts == ["event-t"] * 5
    assert recorder.failed == []
    assert outbox.last_error is None


def test_backoff_grows_and_a_submit_cuts_it_short(
    make_outbox: MakeOutbox, make_clip: MakeClip, recorder: Recorder
) -> None:
    store = FakeStore()
    outage = StoreUnavailableError("S3 is unreachable")
    store.fail("event-w", outage, outage)
    outbox = make_outbox(store, retry_initial=30.0, retry_max=60.0)
    outbox.start()
    first, first_path = make_clip("event-w")
    outbox.submit(first, first_path)
    wait_until(lambda: len(store.attempts) == 1)
    time.sleep(0.3)
    assert len(store.attempts) == 1  # backing off (15-30 s)
    assert outbox.last_error == "S3 is unreachable"
    second, second_path = make_clip("event-z")
    outbox.submit(second, second_path)  # wakes the worker: it tries again at once
    wait_until(lambda: len(store.attempts) == 2)
    outbox.wake()
    wait_until(lambda: len(recorder.uploaded) == 2)
    assert recorder.uploaded == [first, second]


def test_a_clip_taken_by_other_bytes_is_set_aside(
    make_outbox: MakeOutbox, make_clip: MakeClip, outbox_dir: Path, recorder: Recorder
) -> None:
    store = FakeStore()
    store.stored["event-c"] = b"someone else's clip"
    outbox = make_outbox(store)
    taken, taken_path = make_clip("event-c")
    fine, fine_path = make_clip("event-f")
    outbox.submit(taken, taken_path)
    outbox.submit(fine, fine_path)
    outbox.start()
    wait_until(lambda: len(recorder.uploaded) == 1)
    assert recorder.uploaded == [fine]
    assert [(meta, message) for meta, message in recorder.failed] == [(taken, "taken")]
    assert outbox.failed() == [taken]
    assert outbox.pending() == []
    assert files(outbox_dir) == ["event-c.json.failed", "event-c.mp4"]
    outbox.stop()

    again = make_outbox(store)
    again.start()
    assert again.failed() == [taken]
    assert again.pending() == []
    assert files(outbox_dir) == ["event-c.json.failed", "event-c.mp4"]
    retry, retry_path = make_clip("event-c")
    with pytest.raises(ClipExistsError):
        again.submit(retry, retry_path)


def test_refused_credentials_are_retried_slowly_not_failed(
    make_outbox: MakeOutbox, make_clip: MakeClip, recorder: Recorder
) -> None:
    store = FakeStore()
    refused = StoreError("S3 refused the credentials")
    store.always["event-k"] = refused
    outbox = make_outbox(store, retry_initial=0.01, retry_max=0.1)
    blocked, blocked_path = make_clip("event-k")
    other, other_path = make_clip("event-o")
    outbox.submit(blocked, blocked_path)
    time.sleep(0.01)
    outbox.submit(other, other_path)
    outbox.start()
    # The refused clip moves behind the others instead of holding them up.
    wait_until(lambda: recorder.uploaded == [other])
    wait_until(lambda: store.attempts.count("event-k") >= 3)
    assert recorder.failed == []
    assert outbox.pending() == [blocked]
    assert outbox.last_error == "S3 refused the credentials"
    del store.always["event-k"]  # an operator fixed the keys
    outbox.wake()
    wait_until(lambda: len(recorder.uploaded) == 2)
    assert outbox.last_error is None


def test_a_tampered_clip_is_set_aside_without_an_upload(
    make_outbox: MakeOutbox, make_clip: MakeClip, outbox_dir: Path, recorder: Recorder
) -> None:
    store = FakeStore()
    outbox = make_outbox(store)
    meta, path = make_clip("event-m")
    outbox.submit(meta, path)
    clip = outbox_dir / "event-m.mp4"
    clip.write_bytes(bytes(b ^ 1 for b in clip.read_bytes()))  # same size, flipped bits
    outbox.start()
    wait_until(lambda: len(recorder.failed) == 1)
    assert recorder.failed[0][0] == meta
    assert "SHA-256" in recorder.failed[0][1]
    assert store.attempts == []


def test_a_failing_callback_does_not_stop_the_uploads(
    outbox_dir: Path, make_clip: MakeClip
) -> None:
    uploaded: list[str] = []

    def on_uploaded(meta: ClipMeta) -> None:
        uploaded.append(meta.event_id)
        raise RuntimeError("listener bug")

    outbox = UploadOutbox(
        outbox_dir, FakeStore(), on_uploaded=on_uploaded, on_failed=lambda m, s: None
    )
    outbox.start()
    try:
        for event_id in ("event-1", "event-2"):
            outbox.submit(*make_clip(event_id))
        wait_until(lambda: len(uploaded) == 2)
        assert outbox.running
    finally:
        outbox.stop(timeout=10)
    assert not outbox.running


# --- Restarts ---------------------------------------------------------------------------------


def test_start_recovers_committed_entries_and_drops_half_made_ones(
    make_outbox: MakeOutbox, make_clip: MakeClip, outbox_dir: Path, recorder: Recorder
) -> None:
    first = make_outbox(FakeStore())
    meta, path = make_clip("event-ok")
    first.submit(meta, path)
    # What crashes leave behind: a clip without record, a temp record, an unreadable record.
    (outbox_dir / "event-half.mp4").write_bytes(b"half")
    (outbox_dir / ".event-ok.json.0123456789abcdef.tmp").write_bytes(b"{")
    (outbox_dir / "event-bad.mp4").write_bytes(b"bad")
    (outbox_dir / "event-bad.json").write_bytes(b"{not json")
    (outbox_dir / "notes.txt").write_bytes(b"left alone")

    store = FakeStore()
    store.always["event-ok"] = StoreUnavailableError("S3 is unreachable")
    second = make_outbox(store)
    second.start()
    assert second.pending() == [meta]
    wait_until(lambda: "event-ok" in store.attempts)
    assert files(outbox_dir) == [
        "event-bad.json.failed",
        "event-bad.mp4",
        "event-ok.json",
        "event-ok.mp4",
        "notes.txt",
    ]
    assert recorder.uploaded == []


# --- Against a real S3 outage -----------------------------------------------------------------


def s3_store(server: SeaweedServer, bucket: str) -> S3ClipStore:
    return S3ClipStore(
        bucket,
        region=server.region,
        endpoint_url=server.endpoint_url,
        access_key=server.access_key,
        secret_key=server.secret_key,
        connect_timeout=1,
        read_timeout=5,
        max_attempts=2,
    )


def test_a_clip_submitted_during_an_outage_arrives_once_after_restarts(
    private_seaweedfs: SeaweedServer,
    make_outbox: MakeOutbox,
    make_clip: MakeClip,
    outbox_dir: Path,
    recorder: Recorder,
) -> None:
    server = private_seaweedfs
    server.client().create_bucket(Bucket="outbox")
    server.kill()

    outbox = make_outbox(s3_store(server, "outbox"), retry_initial=0.05, retry_max=0.5)
    outbox.start()
    meta, path = make_clip("event-outage", size=200_000)
    outbox.submit(meta, path)
    wait_until(lambda: outbox.last_error is not None)
    assert "unreachable" in str(outbox.last_error)
    assert outbox.pending() == [meta]
    outbox.stop()

    # The console restarts while S3 is still down: the entry is still there.
    restarted = make_outbox(s3_store(server, "outbox"), retry_initial=0.05, retry_max=0.5)
    restarted.start()
    assert restarted.pending() == [meta]
    time.sleep(0.3)
    assert restarted.depth == 1

    server.start()
    restarted.wake()
    wait_until(lambda: restarted.depth == 0)
    time.sleep(0.6)  # a duplicate upload or callback would show up by now
    assert recorder.uploaded == [meta]
    assert recorder.failed == []
    client = server.client()
    listed = client.list_objects_v2(Bucket="outbox", Prefix="clips/")
    assert [item["Key"] for item in listed.get("Contents", [])] == ["clips/event-outage.mp4"]
    body = client.get_object(Bucket="outbox", Key="clips/event-outage.mp4")["Body"].read()
    assert hashlib.sha256(body).hexdigest() == meta.sha256
    assert files(outbox_dir) == []


class LostAnswerStore:
    """Stores for real, then reports an outage once: the upload's answer was lost."""

    def __init__(self, inner: S3ClipStore) -> None:
        self.inner = inner
        self.backend = inner.backend
        self.calls = 0

    def put(self, meta: ClipMeta, clip_file: Path) -> None:
        self.calls += 1
        self.inner.put(meta, clip_file)
        if self.calls == 1:
            raise StoreUnavailableError("S3 is unreachable (the answer was lost)")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_a_lost_answer_does_not_duplicate_the_upload(
    seaweedfs: SeaweedServer,
    s3_bucket: str,
    make_outbox: MakeOutbox,
    make_clip: MakeClip,
    recorder: Recorder,
) -> None:
    store = LostAnswerStore(s3_store(seaweedfs, s3_bucket))
    outbox = make_outbox(store)
    outbox.start()
    meta, path = make_clip("event-lost")
    outbox.submit(meta, path)
    wait_until(lambda: recorder.uploaded == [meta])
    assert store.calls == 2
    listed = seaweedfs.client().list_objects_v2(Bucket=s3_bucket)
    assert [item["Key"] for item in listed.get("Contents", [])] == ["clips/event-lost.mp4"]
    assert store.inner.get("event-lost") == meta
