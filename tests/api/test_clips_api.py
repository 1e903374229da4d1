"""The seed's endpoints over real HTTP: the curl examples, a full flow, errors and security."""

from __future__ import annotations

import concurrent.futures
import hashlib
import io
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import av
import httpx
import pytest

from tests.api.conftest import ServiceFactory, wait_recording
from tests.support.media import make_camera_file, record_file, stamp_of
from tests.support.rtsp_camera import RtspCamera
from tests.support.seaweedfs import SeaweedServer
from vms_desktop.engine.segment_buffer import SegmentBuffer
from vms_desktop.storage.local_store import LocalClipStore

DEMO = {"CAMERA_CAM01_URL": "demo://?width=320&height=240"}


def _now_iso(offset: float = 0.0) -> str:
    moment = datetime.now(UTC) + timedelta(seconds=offset)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _event(event_id: str, timestamp: str, camera: str = "cam01") -> dict[str, object]:
    return {
        "event": {
            "id": event_id,
            "camera_id": camera,
            "event_type": "detection",
            "timestamp": timestamp,
        }
    }


def test_the_seed_readme_curl_examples_work_as_written(
    make_service: ServiceFactory, tmp_path: Path, store_kind: str
) -> None:
    # Footage of cam01 around 2025-05-31T10:30:00Z, as if recorded then, so the example's
    # timestamp has something to cut.
    seed_moment = datetime(2025, 5, 31, 10, 30, tzinfo=UTC).timestamp()
    source = make_camera_file(tmp_path / "cam01.ts", seconds=40, start=seed_moment - 20)
    buffer = SegmentBuffer(tmp_path / "svc0" / "buffer", "cam01", retention_seconds=1e10)
    record_file(buffer, source, seed_moment - 20)
    service = make_service(
        {
            "CAMERA_CAM01_URL": str(source),
            "BUFFER_RETENTION_SECONDS": "10000000000",
            "PRE_EVENT_BUFFER_SECONDS": "10",
            "POST_EVENT_BUFFER_SECONDS": "20",
            "CLIP_DURATION_SECONDS": "30",
        },
        store=store_kind,
    )
    client = service.client

    # curl -X POST http://localhost:8000/clips/generate -H "Content-Type: application/json" -d ...
    body = """{
    "event": {
      "id": "event-123",
      "camera_id": "cam01",
      "event_type": "detection",
      "timestamp": "2025-05-31T10:30:00Z"
    }
  }"""
    response = client.post(
        "/clips/generate", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 202, response.text
    job = response.json()
    assert job["event_id"] == "event-123" and job["status"] in ("pending", "encoding")
    assert response.headers["location"] == "/clips/event-123"
    link = service.wait_ready("event-123")

    # curl "http://localhost:8000/clips?camera_id=cam01&start_date=2025-05-31T00:00:00Z"
    listing = client.get("/clips?camera_id=cam01&start_date=2025-05-31T00:00:00Z")
    assert listing.status_code == 200
    page = listing.json()
    assert page["total"] == 1 and page["clips"][0]["event_id"] == "event-123"
    clip = page["clips"][0]
    assert clip["resolution"] == "640x480" and clip["fps"] == 15
    assert clip["duration_seconds"] == pytest.approx(30, abs=1 / 15)
    assert clip["timestamp"] == "2025-05-31T10:30:00.000Z"

    # curl "http://localhost:8000/clips/event-123/url?expiry_minutes=120"
    response = client.get("/clips/event-123/url?expiry_minutes=120")
    assert response.status_code == 200
    link = response.json()
    expires = datetime.fromisoformat(link["expires_at"].replace("Z", "+00:00"))
    assert timedelta(minutes=119) < expires - datetime.now(UTC) <= timedelta(minutes=120)
    fetched = httpx.get(link["url"], timeout=30)
    assert fetched.status_code == 200
    assert fetched.headers["content-type"] in ("video/mp4", "application/octet-stream")
    with av.open(io.BytesIO(fetched.content)) as container:
        frames = list(container.decode(video=0))
    assert len(frames) == 450
    assert stamp_of(frames[150]) == round(seed_moment * 1000)  # the event's moment at 10 s

    # curl -X POST "http://localhost:8000/clips/cleanup?days_old=7"
    response = client.post("/clips/cleanup?days_old=7")
    assert response.status_code == 200
    assert response.json()["deleted"] == 0  # the clip was stored moments ago
    assert client.get("/clips/event-123/url").status_code == 200


def test_full_flow_from_an_rtsp_camera_to_deleted(
    make_service: ServiceFactory, rtsp_camera: RtspCamera, store_kind: str
) -> None:
    service = make_service({"CAMERA_CAM01_URL": rtsp_camera.url}, store=store_kind)
    wait_recording(service, "cam01", 3)
    client = service.client
    response = client.post("/clips/generate", json=_event("flow-1", _now_iso()))
    assert response.status_code == 202
    assert response.json()["status"] in ("pending", "recording")
    # While the window is still open the clip answers "not yet", never a 404 or a partial file.
    pending = client.get("/clips/flow-1")
    assert pending.status_code == 202 and pending.json()["status"] in (
        "pending",
        "recording",
        "encoding",
    )
    assert pending.headers["retry-after"] == "1"
    link = service.wait_ready("flow-1")

    listed = client.get("/clips", params={"camera_id": "cam01"}).json()
    assert [c["event_id"] for c in listed["clips"]] == ["flow-1"]
    redirect = client.get("/clips/flow-1", follow_redirects=False)
    assert redirect.status_code == 307
    if store_kind == "local":
        assert redirect.headers["location"].startswith(
            service.base_url + "/clips/_files/flow-1.mp4?"
        )
    else:
        assert "X-Amz-Signature=" in redirect.headers["location"]
    data = httpx.get(redirect.headers["location"], timeout=30).content
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.name, stream.width, stream.height) == ("h264", 640, 480)
        assert len(list(container.decode(stream))) == 60
    partial = httpx.get(link["url"], headers={"Range": "bytes=0-99"}, timeout=30)
    assert partial.status_code == 206 and partial.content == data[:100]

    assert client.delete("/clips/flow-1").json() == {"event_id": "flow-1", "deleted": True}
    assert client.get("/clips/flow-1").status_code == 404
    assert client.get("/clips/flow-1/url").status_code == 404
    assert client.delete("/clips/flow-1").status_code == 404
    assert httpx.get(link["url"], timeout=30).status_code in (403, 404)
    assert client.get("/clips").json()["total"] == 0
    assert service.stored_ids() == []
    assert rtsp_camera.password not in json.dumps(client.get("/cameras").json())
    assert rtsp_camera.password not in json.dumps(client.get("/health").json())


def test_fifty_identical_requests_make_one_clip(
    make_service: ServiceFactory, store_kind: str
) -> None:
    service = make_service(DEMO, store=store_kind)
    wait_recording(service, "cam01", 3)
    body = _event("burst-1", _now_iso(-2.5))

    def send() -> int:
        with httpx.Client(base_url=service.base_url, timeout=60) as client:
            return client.post("/clips/generate", json=body).status_code

    with concurrent.futures.ThreadPoolExecutor(max_workers=50) as pool:
        codes = list(pool.map(lambda _: send(), range(50)))
    assert set(codes) <= {200, 202}
    service.wait_ready("burst-1")
    assert service.client.get("/clips").json()["total"] == 1
    assert service.stored_ids() == ["burst-1"]
    again = service.client.post("/clips/generate", json=body)
    assert again.status_code == 200 and again.json()["status"] == "ready"
    assert again.json()["clip"]["sha256"]
    changed = _event("burst-1", _now_iso(-100))
    assert service.client.post("/clips/generate", json=changed).status_code == 409


def test_generate_can_wait_for_the_clip(make_service: ServiceFactory) -> None:
    service = make_service(DEMO)
    wait_recording(service, "cam01", 3)
    response = service.client.post(
        "/clips/generate", params={"wait": 30}, json=_event("waited", _now_iso(-2.5))
    )
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready" and body["clip"]["event_id"] == "waited"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (_event("e1", "2025-05-31T10:30:00"), "timestamp"),  # naive
        (_event("e1", "yesterday"), "timestamp"),
        (_event("../../etc/x", "2025-05-31T10:30:00Z"), "id"),
        (_event("/etc/passwd", "2025-05-31T10:30:00Z"), "id"),
        (_event("..\\..\\x", "2025-05-31T10:30:00Z"), "id"),
        (_event("%2e%2e%2f", "2025-05-31T10:30:00Z"), "id"),
        (_event("a\x00b", "2025-05-31T10:30:00Z"), "id"),
        (_event("a\nb", "2025-05-31T10:30:00Z"), "id"),
        (_event("\uff0e\uff0e", "2025-05-31T10:30:00Z"), "id"),
        (_event("a..b", "2025-05-31T10:30:00Z"), "id"),
        (_event("e" * 129, "2025-05-31T10:30:00Z"), "id"),
        (_event("e1", "2025-05-31T10:30:00Z", camera="../cam"), "camera_id"),
        ({"event": {"id": "e1"}}, "camera_id"),
        ({}, "event"),
    ],
)
def test_bad_events_are_422_naming_the_field(
    make_service: ServiceFactory, body: dict[str, object], field: str
) -> None:
    service = make_service(DEMO)
    response = service.client.post("/clips/generate", json=body)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert any(field in problem["loc"] for problem in detail), detail
    assert not list((service.tmp / "clips").iterdir())


def test_request_errors_are_clear(make_service: ServiceFactory) -> None:
    service = make_service(DEMO)
    client = service.client
    unknown = client.post("/clips/generate", json=_event("e2", _now_iso(), camera="cam99"))
    assert unknown.status_code == 404 and "cam99" in unknown.json()["detail"]
    old = client.post("/clips/generate", json=_event("e3", "2020-01-01T00:00:00Z"))
    assert old.status_code == 422 and "no footage" in old.json()["detail"]
    future = client.post("/clips/generate", json=_event("e4", _now_iso(7200)))
    assert future.status_code == 422
    for expiry in ("0", "10081", "abc"):
        response = client.get(f"/clips/x1/url?expiry_minutes={expiry}")
        assert response.status_code == 422 and "expiry_minutes" in response.text
    for days in ("0", "-1", "x"):
        response = client.post(f"/clips/cleanup?days_old={days}")
        assert response.status_code == 422 and "days_old" in response.text
    assert client.post("/clips/cleanup").status_code == 422
    assert client.get("/clips?start_date=2025-05-31T00:00:00").status_code == 422
    assert client.get("/clips?limit=0").status_code == 422
    assert client.get("/clips/nothing-here").status_code == 404
    assert client.get("/clips/nothing-here/url").status_code == 404
    form = client.post("/clips/generate", data={"event": "x"})
    assert form.status_code == 415
    text = client.post("/clips/generate", content=b"{}", headers={"Content-Type": "text/plain"})
    assert text.status_code == 415
    big = client.post(
        "/clips/generate",
        content=json.dumps(_event("x" * 1_000_000, _now_iso())),
        headers={"Content-Type": "application/json"},
    )
    assert big.status_code == 413
    broken = client.post(
        "/clips/generate", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert broken.status_code == 422


@pytest.mark.parametrize(
    "raw_path",
    [
        "/clips/..%2F..%2Fetc%2Fpasswd",
        "/clips/%2e%2e%2f%2e%2e%2fetc",
        "/clips/%252e%252e",
        "/clips/..%5C..%5Cx",
        "/clips/a%00b",
        "/clips/a%0Ab/url",
        "/clips/%EF%BC%8E%EF%BC%8E",
        "/clips/_files/..%2F..%2Fetc%2Fpasswd.mp4?expires=1&signature=x",
        "/clips/_files/%2e%2e.mp4",
        "/clips/" + "a" * 2000,
    ],
)
def test_traversal_in_raw_paths_touches_nothing(
    make_service: ServiceFactory, raw_path: str
) -> None:
    service = make_service(DEMO)
    for method in ("GET", "DELETE"):
        response = service.client.request(method, raw_path)
        assert response.status_code in (400, 403, 404, 405, 422), (method, raw_path)
        assert "root:" not in response.text
    assert not list((service.tmp / "clips").iterdir())


def test_a_symlink_planted_in_the_clip_folder_is_not_served(
    make_service: ServiceFactory,
) -> None:
    service = make_service(DEMO)
    clips = service.tmp / "clips"
    (clips / "planted.mp4").symlink_to("/etc/passwd")
    (clips / "planted.json").symlink_to("/etc/passwd")
    assert service.client.get("/clips/planted").status_code == 404
    assert service.client.get("/clips/planted/url").status_code == 404
    assert "root:" not in service.client.get("/clips").text


def test_host_origin_and_token_rules(make_service: ServiceFactory) -> None:
    service = make_service(DEMO, token="t0ken-for-tests")
    app = service.runtime.api._server.config.app  # type: ignore[union-attr]
    anonymous = httpx.Client(base_url=service.base_url, timeout=30)
    checked = 0
    for route in app.routes:
        path = getattr(route, "path", "")
        for method in getattr(route, "methods", set()) - {"HEAD"}:
            concrete = path.replace("{event_id}", "ev1").replace("{file_name}", "ev1.mp4")
            response = anonymous.request(method, concrete)
            if path == "/health" or path.startswith("/clips/_files"):
                assert response.status_code != 401, path
            else:
                assert response.status_code == 401, (method, path)
                assert response.headers["www-authenticate"] == "Bearer"
            checked += 1
    assert checked >= 9
    assert anonymous.get("/health").status_code == 200
    wrong = anonymous.get("/clips", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    client = service.client
    assert client.get("/clips").status_code == 200
    rebinding = client.get("/clips", headers={"Host": "evil.example:8000"})
    assert rebinding.status_code == 400
    foreign = client.post(
        "/clips/generate",
        json=_event("o1", _now_iso()),
        headers={"Origin": "http://evil.example"},
    )
    assert foreign.status_code == 403
    assert "access-control-allow-origin" not in foreign.headers
    same = client.get("/clips", headers={"Origin": service.base_url})
    assert same.status_code == 200
    anonymous.close()


def test_health_and_cameras_report_state_without_secrets(make_service: ServiceFactory) -> None:
    service = make_service(
        {**DEMO, "CAMERA_CAM02_URL": "rtsp://admin:Sup3rSecretPw@127.0.0.1:9/stream"}
    )
    wait_recording(service, "cam01", 2)
    time.sleep(1)
    health = service.client.get("/health").json()
    assert health["storage"] == {
        "backend": "local",
        "reachable": True,
        "detail": health["storage"]["detail"],
    }
    states = {c["id"]: c["state"] for c in health["cameras"]}
    assert states["cam01"] == "recording" and states["cam02"] in ("connecting", "offline")
    assert health["upload_queue"] == 0
    cameras = service.client.get("/cameras").json()
    assert {c["id"] for c in cameras} == {"cam01", "cam02"}
    text = json.dumps(health) + json.dumps(cameras)
    assert "Sup3rSecretPw" not in text and str(service.tmp) not in text


def test_cleanup_removes_old_clips_only(make_service: ServiceFactory, store_kind: str) -> None:
    from dataclasses import replace

    service = make_service(DEMO, store=store_kind)
    wait_recording(service, "cam01", 3)
    service.client.post("/clips/generate", json=_event("keep-me", _now_iso(-2.5)))
    service.client.post("/clips/generate", json=_event("old-one", _now_iso(-2.5)))
    service.wait_ready("keep-me")
    service.wait_ready("old-one")
    runtime = service.runtime
    meta = runtime.index.get("old-one")
    assert meta is not None
    aged = replace(meta, created_at=meta.created_at - timedelta(days=10))
    runtime.index.upsert(aged)
    response = service.client.post("/clips/cleanup?days_old=7")
    assert response.json()["deleted"] == 1 and response.json()["event_ids"] == ["old-one"]
    assert service.client.get("/clips/old-one").status_code == 404
    assert service.client.get("/clips/keep-me/url").status_code == 200
    assert service.stored_ids() == ["keep-me"]


def test_clip_urls_work_then_expire_and_tampering_is_refused(
    make_service: ServiceFactory, store_kind: str
) -> None:
    service = make_service(DEMO, store=store_kind)
    wait_recording(service, "cam01", 3)
    service.client.post("/clips/generate", json=_event("url-1", _now_iso(-2.5)))
    link = service.wait_ready("url-1")["url"]
    original = httpx.get(link, timeout=30)
    assert original.status_code == 200 and original.content[4:8] == b"ftyp"
    marker = "signature=" if store_kind == "local" else "X-Amz-Signature="
    head, _, tail = link.partition(marker)
    flipped = ("A" if tail[0] != "A" else "B") + tail[1:]
    assert httpx.get(head + marker + flipped, timeout=30).status_code == 403
    other_key = link.replace("url-1", "url-2")
    assert httpx.get(other_key, timeout=30).status_code in (403, 404)
    store = service.runtime.store
    if isinstance(store, LocalClipStore):  # the API's shortest is a minute: sign a 2 s link here
        path = store.file_url_path("url-1")
        query = store.signer.sign(path, datetime.now(UTC) + timedelta(seconds=2))
        short = f"{service.base_url}{path}?{query}"
    else:
        short = store.url("url-1", timedelta(seconds=2)).url
    assert httpx.get(short, timeout=30).status_code == 200
    time.sleep(3.5)
    assert httpx.get(short, timeout=30).status_code == 403


def test_an_s3_outage_before_upload_loses_nothing(
    make_service: ServiceFactory, private_seaweedfs: SeaweedServer
) -> None:
    from tests.api.conftest import s3_environment

    service = make_service({**DEMO, **s3_environment(private_seaweedfs)})
    bucket = service.runtime.settings.s3_bucket_name
    wait_recording(service, "cam01", 3)
    private_seaweedfs.kill()
    response = service.client.post("/clips/generate", json=_event("outage-1", _now_iso(-2.5)))
    assert response.status_code == 202
    deadline = time.monotonic() + 30
    while service.runtime.service.upload_queue() != 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert service.runtime.service.upload_queue() == 1
    job = service.client.get("/clips/outage-1").json()
    assert job["status"] == "uploading"
    time.sleep(6)  # the health monitor notices
    health = service.client.get("/health").json()
    assert health["storage"]["reachable"] is False and health["upload_queue"] == 1
    assert health["status"] == "degraded"

    private_seaweedfs.start()
    service.wait_ready("outage-1", timeout=90)
    client = private_seaweedfs.client()
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert keys == ["clips/outage-1.mp4"]
    meta = service.runtime.index.get("outage-1")
    assert meta is not None
    body = client.get_object(Bucket=bucket, Key="clips/outage-1.mp4")["Body"].read()
    assert hashlib.sha256(body).hexdigest() == meta.sha256
    assert service.runtime.service.upload_queue() == 0


def test_the_listener_is_tcp_so_responses_are_not_delayed(make_service: ServiceFactory) -> None:
    import socket

    service = make_service(DEMO)
    api = service.runtime.api
    assert api is not None
    # asyncio turns Nagle off only for sockets created as IPPROTO_TCP; accepted connections
    # inherit the listener's protocol, and with Nagle on each keep-alive response waits ~40 ms.
    assert api.socket.proto == socket.IPPROTO_TCP
    with httpx.Client(base_url=service.base_url) as client:
        timings = []
        for _ in range(5):
            started = time.perf_counter()
            assert client.get("/health").status_code == 200
            timings.append(time.perf_counter() - started)
    print(f"keep-alive /health: {[round(t * 1000, 1) for t in timings]} ms")
