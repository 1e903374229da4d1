"""The S3 clip store against a real SeaweedFS server: round trips, conflicts, URLs, outages."""

from __future__ import annotations

import hashlib
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.support.factories import clip_record
from tests.support.seaweedfs import SeaweedServer
from vms_desktop.domain.clip import ClipMeta, GapSpan
from vms_desktop.domain.errors import (
    ClipExistsError,
    InvalidIdError,
    StoreError,
    StoreUnavailableError,
)
from vms_desktop.domain.store_state import MAX_URL_EXPIRY
from vms_desktop.storage.base import ClipStore
from vms_desktop.storage.s3_store import (
    METADATA_LIMIT,
    MIN_PART_SIZE,
    RETENTION_RULE_ID,
    S3ClipStore,
    decode_metadata,
    encode_metadata,
    metadata_size,
)

WHEN = datetime(2025, 5, 31, 10, 30, tzinfo=UTC)
PRE = timedelta(seconds=10)
POST = timedelta(seconds=20)

MakeClip = Callable[..., tuple[ClipMeta, Path]]
MakeStore = Callable[..., S3ClipStore]


def clip_meta(
    event_id: str,
    data: bytes,
    *,
    event_type: str = "detection",
    gaps: tuple[GapSpan, ...] = (),
    created_at: datetime = WHEN + POST + timedelta(seconds=3),
) -> ClipMeta:
    """Metadata for ``data`` as the clip of event ``event_id`` (millisecond-exact times)."""
    return clip_record(
        event_id,
        event_type=event_type,
        at=WHEN,
        pre=PRE,
        post=POST,
        data=data,
        has_audio=True,
        gaps=gaps,
        created_at=created_at,
    )


@pytest.fixture
def make_clip(tmp_path: Path) -> MakeClip:
    """Writes a clip file (``data``, else ``size`` random bytes) and returns its metadata."""

    def make(
        event_id: str = "event-123", data: bytes | None = None, size: int = 4096, **options: Any
    ) -> tuple[ClipMeta, Path]:
        body = os.urandom(size) if data is None else data
        path = tmp_path / f"{event_id}-{hashlib.sha256(body).hexdigest()[:8]}.mp4"
        path.write_bytes(body)
        return clip_meta(event_id, body, **options), path

    return make


@pytest.fixture
def make_store(seaweedfs: SeaweedServer, s3_bucket: str) -> MakeStore:
    """An S3ClipStore on this test's bucket; keyword arguments override the defaults."""

    def make(**options: Any) -> S3ClipStore:
        settings: dict[str, Any] = {
            "region": seaweedfs.region,
            "endpoint_url": seaweedfs.endpoint_url,
            "access_key": seaweedfs.access_key,
            "secret_key": seaweedfs.secret_key,
            "connect_timeout": 2,
            "read_timeout": 10,
        }
        settings.update(options)
        bucket = settings.pop("bucket", s3_bucket)
        return S3ClipStore(bucket, **settings)

    return make


@pytest.fixture
def store(make_store: MakeStore) -> S3ClipStore:
    """A store with the default settings on this test's bucket."""
    return make_store()


def keys(server: SeaweedServer, bucket: str, prefix: str = "") -> list[str]:
    """Every object key in ``bucket`` under ``prefix``, straight from S3."""
    answer = server.client().list_objects_v2(Bucket=bucket, Prefix=prefix)
    return [str(item["Key"]) for item in answer.get("Contents", [])]


def http_get(url: str) -> tuple[int, bytes]:
    """Status and body of a plain GET (no S3 client involved)."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def read_all(store: S3ClipStore, event_id: str) -> bytes:
    with store.open(event_id) as stream:
        return stream.read()


# --- Metadata encoding (no server) ----------------------------------------------------------


def test_metadata_round_trips_exactly() -> None:
    gaps = (
        GapSpan(WHEN - timedelta(seconds=4), WHEN - timedelta(seconds=2, milliseconds=500)),
        GapSpan(WHEN + timedelta(seconds=5), WHEN + timedelta(seconds=7, milliseconds=1)),
    )
    meta = clip_meta("ev.1_x-Y", b"abc", event_type="person: gate/left ", gaps=gaps)
    encoded = encode_metadata(meta)
    assert all(key.isascii() and value.isascii() for key, value in encoded.items())
    assert decode_metadata(encoded) == meta
    # boto3 hands metadata back with lower-cased keys; S3 may also trim header values.
    assert decode_metadata({k.upper(): v.strip() for k, v in encoded.items()}) == meta


def test_metadata_stays_under_the_limit_with_many_gaps() -> None:
    gaps = tuple(
        GapSpan(WHEN - PRE + timedelta(milliseconds=i * 37), WHEN - PRE + timedelta(seconds=i))
        for i in range(1, 400)
    )
    meta = clip_meta("e" * 128, b"x", event_type="t" * 64, gaps=gaps)
    encoded = encode_metadata(meta)
    assert metadata_size(encoded) <= METADATA_LIMIT
    assert all(key.isascii() and value.isascii() for key, value in encoded.items())
    kept = len(encoded["gaps"].split(","))
    assert 10 < kept < len(gaps)
    assert int(encoded["gaps-omitted"]) == len(gaps) - kept
    decoded = decode_metadata(encoded)
    assert decoded.gaps == gaps[:kept]
    assert decoded.event == meta.event


@pytest.mark.parametrize(
    "damage",
    [
        {"vms-format": "9"},
        {"sha256": "XYZ"},
        {"event-id": "../x"},
        {"gaps": "1~2,oops"},
        {"has-audio": "maybe"},
        {"timestamp": "2025-05-31T10:30:00"},
    ],
)
def test_malformed_metadata_is_refused(damage: dict[str, str]) -> None:
    encoded = encode_metadata(clip_meta("ev", b"x")) | damage
    with pytest.raises((ValueError, KeyError)):
        decode_metadata(encoded)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        S3ClipStore("b", region="us-east-1", prefix="../")
    with pytest.raises(ValueError):
        S3ClipStore("b", region="us-east-1", prefix="clips")
    with pytest.raises(ValueError):
        S3ClipStore("b", region="us-east-1", access_key="only-half")
    with pytest.raises(ValueError):
        S3ClipStore("b", region="us-east-1", multipart_threshold=MIN_PART_SIZE - 1)


# --- Against SeaweedFS ------------------------------------------------------------------------


def test_round_trip(
    store: S3ClipStore, make_clip: MakeClip, seaweedfs: SeaweedServer, s3_bucket: str
) -> None:
    typed: ClipStore = store  # mypy checks that S3ClipStore satisfies the protocol
    assert typed.backend == "s3"
    meta, path = make_clip("event-123")
    other, other_path = make_clip("event-456", size=100)
    store.put(meta, path)
    store.put(other, other_path)

    assert store.get("event-123") == meta
    assert read_all(store, "event-123") == path.read_bytes()
    assert sorted(m.event_id for m in store.iter_all()) == ["event-123", "event-456"]
    assert sorted(keys(seaweedfs, s3_bucket)) == ["clips/event-123.mp4", "clips/event-456.mp4"]
    head = seaweedfs.client().head_object(Bucket=s3_bucket, Key="clips/event-123.mp4")
    assert head["ContentType"] == "video/mp4"

    assert store.delete("event-123") is True
    assert store.get("event-123") is None
    assert store.delete("event-123") is False
    with pytest.raises(FileNotFoundError):
        store.open("event-123")
    assert [m.event_id for m in store.iter_all()] == ["event-456"]
    assert store.health().reachable


def test_open_streams_in_chunks(store: S3ClipStore, make_clip: MakeClip) -> None:
    meta, path = make_clip(size=300_000)
    store.put(meta, path)
    digest = hashlib.sha256()
    with store.open(meta.event_id) as stream:
        while chunk := stream.read(65536):
            digest.update(chunk)
    assert digest.hexdigest() == meta.sha256


def test_metadata_on_the_server_is_ascii_and_small(
    store: S3ClipStore, make_clip: MakeClip, seaweedfs: SeaweedServer, s3_bucket: str
) -> None:
    gaps = tuple(
        GapSpan(
            WHEN - PRE + timedelta(seconds=i / 10), WHEN - PRE + timedelta(seconds=i / 10 + 0.05)
        )
        for i in range(300)
    )
    meta, path = make_clip("e" * 128, event_type="motion: zone/7 ", gaps=gaps)
    store.put(meta, path)
    head = seaweedfs.client().head_object(Bucket=s3_bucket, Key=f"clips/{'e' * 128}.mp4")
    stored: dict[str, str] = head["Metadata"]
    assert metadata_size(stored) <= METADATA_LIMIT
    assert all(key.isascii() and value.isascii() for key, value in stored.items())
    assert int(stored["gaps-omitted"]) > 0
    got = store.get("e" * 128)
    assert got is not None
    assert got.event == meta.event
    assert got.gaps == gaps[: len(got.gaps)]
    assert (got.sha256, got.size, got.has_audio) == (meta.sha256, meta.size, True)


def test_presigned_url_fetches_the_bytes_then_expires(
    store: S3ClipStore, make_clip: MakeClip
) -> None:
    meta, path = make_clip("event-url", size=10_000)
    neighbour, neighbour_path = make_clip("event-uro", size=10)
    store.put(meta, path)
    store.put(neighbour, neighbour_path)
    short = store.url("event-url", timedelta(seconds=2))
    assert short.expires_at.tzinfo is not None
    assert short.expires_at.utcoffset() == timedelta(0)
    assert short.expires_at - datetime.now(UTC) <= timedelta(seconds=2)

    long = store.url("event-url", timedelta(minutes=10))
    assert http_get(long.url) == (200, path.read_bytes())
    assert http_get(short.url) == (200, path.read_bytes())

    base, _, signature = long.url.rpartition("X-Amz-Signature=")
    flipped = signature[:-1] + ("0" if signature[-1] != "0" else "1")
    assert http_get(base + "X-Amz-Signature=" + flipped)[0] == 403
    # Same signature, another (existing) key: S3 must refuse, not serve the neighbour.
    assert http_get(long.url.replace("event-url.mp4", "event-uro.mp4"))[0] == 403

    time.sleep(max(0.0, (short.expires_at - datetime.now(UTC)).total_seconds()) + 1.2)
    assert http_get(short.url)[0] == 403
    assert http_get(long.url)[0] == 200


def test_url_expiry_is_bounded(store: S3ClipStore) -> None:
    week = store.url("event-1", MAX_URL_EXPIRY)
    assert abs(week.expires_at - (datetime.now(UTC) + MAX_URL_EXPIRY)) < timedelta(seconds=5)
    assert "X-Amz-Expires=604800" in week.url
    for bad in (timedelta(0), timedelta(seconds=-1), MAX_URL_EXPIRY + timedelta(seconds=1)):
        with pytest.raises(ValueError):
            store.url("event-1", bad)


def test_same_clip_twice_is_one_object(
    store: S3ClipStore, make_clip: MakeClip, seaweedfs: SeaweedServer, s3_bucket: str
) -> None:
    meta, path = make_clip("event-twice")
    store.put(meta, path)
    store.put(meta, path)
    assert keys(seaweedfs, s3_bucket) == ["clips/event-twice.mp4"]
    assert store.get("event-twice") == meta


def test_different_clip_same_id_is_refused(store: S3ClipStore, make_clip: MakeClip) -> None:
    meta, path = make_clip("event-taken", size=2000)
    impostor, impostor_path = make_clip("event-taken", size=2000)
    store.put(meta, path)
    with pytest.raises(ClipExistsError):
        store.put(impostor, impostor_path)
    assert read_all(store, "event-taken") == path.read_bytes()
    assert store.get("event-taken") == meta


def test_racing_puts_store_exactly_one_clip(
    store: S3ClipStore, make_clip: MakeClip, seaweedfs: SeaweedServer, s3_bucket: str
) -> None:
    # Kept small: SeaweedFS queues rival conditional writers to a new key in 1 s steps.
    rivals = [make_clip("event-race", size=50_000) for _ in range(3)]
    barrier = threading.Barrier(len(rivals))

    def put(item: tuple[ClipMeta, Path]) -> ClipMeta | None:
        barrier.wait()
        try:
            store.put(*item)
        except ClipExistsError:
            return None
        return item[0]

    with ThreadPoolExecutor(len(rivals)) as pool:
        winners = [meta for meta in pool.map(put, rivals) if meta is not None]
    assert len(winners) == 1
    assert store.get("event-race") == winners[0]
    assert hashlib.sha256(read_all(store, "event-race")).hexdigest() == winners[0].sha256
    assert keys(seaweedfs, s3_bucket) == ["clips/event-race.mp4"]


def test_file_not_matching_its_metadata_is_refused(store: S3ClipStore, make_clip: MakeClip) -> None:
    meta, path = make_clip("event-bad")
    path.write_bytes(b"y" * meta.size)  # same size, other bytes
    with pytest.raises(StoreError) as caught:
        store.put(meta, path)
    assert not isinstance(caught.value, StoreUnavailableError)
    assert store.get("event-bad") is None
    path.unlink()
    with pytest.raises(StoreError) as caught:
        store.put(meta, path)
    assert not isinstance(caught.value, StoreUnavailableError)
    assert str(path.parent) not in str(caught.value)


def test_multipart_round_trip(
    make_store: MakeStore, make_clip: MakeClip, seaweedfs: SeaweedServer, s3_bucket: str
) -> None:
    store = make_store(multipart_threshold=MIN_PART_SIZE)
    meta, path = make_clip("event-big", size=11 * 1024 * 1024 + 123)
    store.put(meta, path)
    head = seaweedfs.client().head_object(Bucket=s3_bucket, Key="clips/event-big.mp4")
    assert head["ETag"].strip('"').endswith("-3")  # 5 + 5 + 1 MiB parts
    assert store.get("event-big") == meta
    assert hashlib.sha256(read_all(store, "event-big")).hexdigest() == meta.sha256

    store.put(meta, path)  # a retry: no error, no second upload
    impostor, impostor_path = make_clip("event-big", size=6 * 1024 * 1024)
    with pytest.raises(ClipExistsError):
        store.put(impostor, impostor_path)
    assert keys(seaweedfs, s3_bucket) == ["clips/event-big.mp4"]


def test_multipart_race_is_settled_by_the_conditional_complete(
    make_store: MakeStore,
    make_clip: MakeClip,
    seaweedfs: SeaweedServer,
    s3_bucket: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = make_store(multipart_threshold=MIN_PART_SIZE)
    winner, winner_path = make_clip("event-race", size=6 * 1024 * 1024)
    loser, loser_path = make_clip("event-race", size=6 * 1024 * 1024)
    store.put(winner, winner_path)
    real_head = store._head
    calls: list[str] = []

    def blind_first_look(key: str, action: str) -> dict[str, Any] | None:
        # Another console uploads between our existence check and our complete.
        calls.append(action)
        return None if len(calls) == 1 else real_head(key, action)

    monkeypatch.setattr(store, "_head", blind_first_look)
    with pytest.raises(ClipExistsError):
        store.put(loser, loser_path)
    calls.clear()
    store.put(winner, winner_path)  # the same bytes racing: success
    assert read_all(store, "event-race") == winner_path.read_bytes()
    uploads = seaweedfs.client().list_multipart_uploads(Bucket=s3_bucket)
    assert uploads.get("Uploads", []) == []  # both refused uploads were aborted


def test_iter_all_skips_foreign_objects_and_pages(
    make_store: MakeStore, make_clip: MakeClip, seaweedfs: SeaweedServer, s3_bucket: str
) -> None:
    store = make_store()
    store._page_size = 2
    expected = []
    for i in range(5):
        meta, path = make_clip(f"event-{i}", size=10)
        store.put(meta, path)
        expected.append(meta)
    client = seaweedfs.client()
    client.put_object(Bucket=s3_bucket, Key="clips/no-metadata.mp4", Body=b"x")
    client.put_object(Bucket=s3_bucket, Key="clips/nested/event-9.mp4", Body=b"x")
    client.put_object(Bucket=s3_bucket, Key="clips/readme.txt", Body=b"x")
    client.put_object(Bucket=s3_bucket, Key="other/event-8.mp4", Body=b"x")
    forged = encode_metadata(clip_meta("event-7", b"x"))
    client.put_object(Bucket=s3_bucket, Key="clips/event-6.mp4", Body=b"x", Metadata=forged)
    assert sorted(store.iter_all(), key=lambda m: m.event_id) == expected


def test_prefix_is_respected(
    make_store: MakeStore, make_clip: MakeClip, seaweedfs: SeaweedServer, s3_bucket: str
) -> None:
    nested = make_store(prefix="site-a/clips/")
    flat = make_store(prefix="")
    meta, path = make_clip("event-p")
    nested.put(meta, path)
    assert keys(seaweedfs, s3_bucket) == ["site-a/clips/event-p.mp4"]
    assert nested.get("event-p") == meta
    assert flat.get("event-p") is None
    assert list(flat.iter_all()) == []


@pytest.mark.parametrize(
    "hostile",
    ["../../etc/x", "/etc/passwd", "a/b", "ev\n", "..", "%2e%2e", "\uff0e\uff0e", "x" * 200],
)
def test_hostile_ids_never_reach_a_key(hostile: str) -> None:
    # Validation comes before any request: an endpoint where nothing listens proves it.
    store = S3ClipStore(
        "bucket",
        region="us-east-1",
        endpoint_url="http://127.0.0.1:9",
        access_key="a",
        secret_key="b",
    )
    for operation in (store.get, store.delete, store.open):
        with pytest.raises(InvalidIdError):
            operation(hostile)
    with pytest.raises(InvalidIdError):
        store.url(hostile, timedelta(minutes=5))


@pytest.mark.parametrize("wrong", ["secret", "key"])
def test_wrong_credentials_are_not_transient_and_not_leaked(
    make_store: MakeStore, make_clip: MakeClip, seaweedfs: SeaweedServer, wrong: str
) -> None:
    access_key = "AKIAWRONGKEY0000" if wrong == "key" else seaweedfs.access_key
    secret_key = "wrong-secret-Zq9" if wrong == "secret" else seaweedfs.secret_key
    store = make_store(access_key=access_key, secret_key=secret_key)
    meta, path = make_clip("event-creds")
    began = time.monotonic()
    errors: list[StoreError] = []
    for attempt in (
        lambda: store.put(meta, path),
        lambda: store.get("event-creds"),
        lambda: list(store.iter_all()),
        lambda: store.open("event-creds"),
    ):
        with pytest.raises(StoreError) as caught:
            attempt()
        errors.append(caught.value)
    assert time.monotonic() - began < 5  # refused at once, not retried
    for error in errors:
        assert not isinstance(error, StoreUnavailableError)
        assert "credentials" in str(error)
        for secret in (access_key, secret_key, seaweedfs.secret_key, seaweedfs.access_key):
            assert secret not in str(error)
            assert secret not in repr(error)
    health = store.health()
    assert not health.reachable
    assert "credentials" in health.detail
    assert access_key not in health.detail and secret_key not in health.detail


def test_missing_bucket_is_named(make_store: MakeStore) -> None:
    store = make_store(bucket="no-such-bucket-here")
    health = store.health()
    assert not health.reachable
    assert "no-such-bucket-here" in health.detail
    assert "does not exist" in health.detail


def test_lifecycle_rule_is_applied_and_read_back(
    store: S3ClipStore, seaweedfs: SeaweedServer, s3_bucket: str
) -> None:
    assert store.lifecycle_days() is None
    client = seaweedfs.client()
    foreign = {"ID": "keep-me", "Status": "Enabled", "Filter": {"Prefix": "logs/"}}
    foreign["Expiration"] = {"Days": 3}
    client.put_bucket_lifecycle_configuration(
        Bucket=s3_bucket, LifecycleConfiguration={"Rules": [foreign]}
    )
    store.apply_lifecycle(30)
    assert store.lifecycle_days() == 30
    store.apply_lifecycle(7)
    assert store.lifecycle_days() == 7
    rules = client.get_bucket_lifecycle_configuration(Bucket=s3_bucket)["Rules"]
    assert sorted(rule["ID"] for rule in rules) == ["keep-me", RETENTION_RULE_ID]
    ours = next(rule for rule in rules if rule["ID"] == RETENTION_RULE_ID)
    assert ours["Filter"] == {"Prefix": "clips/"}
    assert ours["Expiration"] == {"Days": 7}
    for bad in (0, -1, True):
        with pytest.raises(ValueError):
            store.apply_lifecycle(bad)


# --- Outages (a private server each) ---------------------------------------------------------


@pytest.fixture
def outage_store(private_seaweedfs: SeaweedServer) -> Iterator[S3ClipStore]:
    """A store on a private server, with short timeouts, and its bucket created."""
    server = private_seaweedfs
    server.client().create_bucket(Bucket="outage")
    yield S3ClipStore(
        "outage",
        region=server.region,
        endpoint_url=server.endpoint_url,
        access_key=server.access_key,
        secret_key=server.secret_key,
        connect_timeout=1,
        read_timeout=1,
        max_attempts=3,
    )


def test_server_down_or_hung_is_unavailable_quickly(
    outage_store: S3ClipStore, private_seaweedfs: SeaweedServer, make_clip: MakeClip
) -> None:
    store, server = outage_store, private_seaweedfs
    meta, path = make_clip("event-outage")
    store.put(meta, path)

    def assert_unavailable(operation: Callable[[], object]) -> float:
        began = time.monotonic()
        with pytest.raises(StoreUnavailableError) as caught:
            operation()
        elapsed = time.monotonic() - began
        assert "unreachable" in str(caught.value)
        assert server.secret_key not in str(caught.value)
        assert elapsed < 15
        return elapsed

    later, later_path = make_clip("event-later")
    server.freeze()  # accepts connections, never answers: only the read timeout helps
    try:
        assert_unavailable(lambda: store.get("event-outage"))
        began = time.monotonic()
        health = store.health()
        assert not health.reachable and time.monotonic() - began < 5
    finally:
        server.thaw()

    server.kill()
    assert_unavailable(lambda: store.put(later, later_path))
    assert_unavailable(lambda: store.get("event-outage"))
    assert_unavailable(lambda: list(store.iter_all()))
    began = time.monotonic()
    health = store.health()
    assert not health.reachable
    assert "unreachable" in health.detail
    assert time.monotonic() - began < 3

    server.start()
    assert store.health().reachable
    assert store.get("event-outage") == meta  # the data survived the crash
    store.put(later, later_path)
    assert store.get("event-later") == later
