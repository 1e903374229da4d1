"""The seed's endpoints over real HTTP: the curl examples, a full flow, errors and security."""

from __future__ import annotations

import concurrent.futures
import hashlib
import io
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import av
import httpx
import pytest

from tests.api.conftest import Running, ServiceFactory, served_routes, wait_recording
from tests.support.media import make_camera_file, record_file, stamp_of
from tests.support.rtsp_camera import RtspCamera
from tests.support.seaweedfs import SeaweedServer
from tests.support.waiting import wait_until
from vms_desktop.engine.clock import WallClock, to_datetime
from vms_desktop.engine.segment_buffer import TS_HZ, TS_WRAP, SegmentBuffer
from vms_desktop.storage.local_store import LocalClipStore
from vms_desktop.storage.signing import content_tag

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
    # The service runs, and the camera records again, three quarters of a timestamp cycle
    # (about 20 h) after that footage ends: whatever today's date, the buffer then holds two
    # runs whose 33-bit timestamps no single demuxer could tell apart.
    clock = WallClock(seed_moment + 20 + 0.75 * TS_WRAP / TS_HZ)
    service = make_service(
        {
            "CAMERA_CAM01_URL": str(source),
            "BUFFER_RETENTION_SECONDS": "10000000000",
            "PRE_EVENT_BUFFER_SECONDS": "10",
            "POST_EVENT_BUFFER_SECONDS": "20",
            "CLIP_DURATION_SECONDS": "30",
        },
        store=store_kind,
        clock=clock,
    )
    client = service.client
    recording = service.runtime.recorder.buffer("cam01")
    wait_until(
        lambda: (recording.newest or 0) > clock.now() - 10,
        what="the camera recording at the service's moment",
    )

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


def _utc_iso(moment: float) -> str:
    return to_datetime(moment).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _seconds(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def _fetch_frames(service: Running, event_id: str) -> tuple[dict[str, Any], list[av.VideoFrame]]:
    """A ready clip's catalogue entry and its pictures, fetched through its URL."""
    link = service.wait_ready(event_id)
    page = service.client.get("/clips?camera_id=cam01").json()
    (clip,) = [c for c in page["clips"] if c["event_id"] == event_id]
    fetched = httpx.get(link["url"], timeout=30)
    assert fetched.status_code == 200
    with av.open(io.BytesIO(fetched.content)) as container:
        return clip, list(container.decode(video=0))


def test_a_service_built_at_a_moment_near_a_timestamp_wrap_makes_clips(
    make_service: ServiceFactory, tmp_path: Path
) -> None:
    cycle = TS_WRAP / TS_HZ
    # Two moments at which the 90 kHz timestamps wrap, one cycle (26.5 h) apart, in 2028.
    first_wrap = 19_500 * cycle
    second_wrap = first_wrap + cycle
    # Footage of an event half a second after the first wrap: the camera recorded until
    # 0.58 s after it, then went dark until the service started, 8 s before the second wrap.
    past_event = first_wrap + 0.5
    source = make_camera_file(
        tmp_path / "before.ts", seconds=4.6, start=past_event - 4.02, width=320, height=240
    )
    buffer = SegmentBuffer(tmp_path / "svc0" / "buffer", "cam01", retention_seconds=1e10)
    record_file(buffer, source, past_event - 4.02)
    dark_from = past_event - 4.02 + 4.6
    clock = WallClock(second_wrap - 8.0)
    service = make_service(
        {
            "CAMERA_CAM01_URL": "demo://?width=320&height=240",
            "BUFFER_RETENTION_SECONDS": "10000000000",
        },
        clock=clock,
    )
    # A live event whose window (2 s before to 2 s after) holds the second wrap.
    live_event = second_wrap + 0.5
    for event_id, moment in (("before-dark", past_event), ("across-wrap", live_event)):
        response = service.client.post("/clips/generate", json=_event(event_id, _utc_iso(moment)))
        assert response.status_code == 202, response.text

    clip, frames = _fetch_frames(service, "before-dark")
    assert clip["timestamp"] == _utc_iso(past_event)
    assert [(_seconds(g["start"]), _seconds(g["end"])) for g in clip["gaps"]] == [
        (pytest.approx(dark_from, abs=0.01), pytest.approx(past_event + 2.0, abs=0.01))
    ]
    assert len(frames) == 60
    for index, frame in enumerate(frames):
        moment = past_event - 2.0 + index / 15
        if moment < dark_from:
            shown = stamp_of(frame)
            assert shown is not None and 0 <= moment * 1000 - shown < 1000 / 15 + 1, index
        else:
            assert frame.to_ndarray(format="gray").max() <= 24, index  # dark: black

    clip, frames = _fetch_frames(service, "across-wrap")
    assert clip["timestamp"] == _utc_iso(live_event) and clip["gaps"] == []
    assert len(frames) == 60
    # The demo camera burns the injected clock's time into every picture: each slot shows the
    # picture of its moment (within a frame, plus the camera's encoding and hand-over delay).
    for index, frame in enumerate(frames):
        moment = live_event - 2.0 + index / 15
        shown = stamp_of(frame)
        assert shown is not None, f"frame {index} has no readable stamp"
        assert -1 <= moment * 1000 - shown <= 1000 / 15 + 150, index
    assert clock.now() > second_wrap  # the service really ran across the wrap


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
    for route in served_routes(app):
        path = getattr(route, "path", "")
        for method in getattr(route, "methods", set()) - {"HEAD"}:
            concrete = path.replace("{event_id}", "ev1").replace("{file_name}", "ev1.mp4")
            response = anonymous.request(method, concrete)
            if path == "/health" or path.startswith("/clips/_files"):
                assert response.status_code != 401, path
            elif path.startswith("/cameras/{camera_id}/media/"):
                # Archive media: granted by its link's signature alone, refused without one.
                assert response.status_code == 403, path
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
    kept = runtime.index.get("keep-me")
    assert kept is not None
    response = service.client.post("/clips/cleanup?days_old=7")
    assert response.json()["deleted"] == 1 and response.json()["event_ids"] == ["old-one"]
    cutoff = _seconds(response.json()["cutoff"])
    assert aged.created_at.timestamp() < cutoff < kept.created_at.timestamp()
    assert service.client.get("/clips/old-one").status_code == 404
    assert service.client.get("/clips/keep-me/url").status_code == 200
    assert service.stored_ids() == ["keep-me"]


def test_cleanup_answers_the_cutoff_it_used(make_service: ServiceFactory) -> None:
    # The service runs as if on another day: the cut-off comes from its clock, not the system's.
    clock = WallClock(datetime(2031, 3, 4, 5, 6, 7, tzinfo=UTC))
    service = make_service(DEMO, clock=clock)
    week = timedelta(days=7).total_seconds()
    before = clock.now()
    response = service.client.post("/clips/cleanup?days_old=7")
    after = clock.now()
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["deleted"] == 0 and body["event_ids"] == []
    assert body["cutoff"].startswith("2031-02-25T05:06:") and body["cutoff"].endswith("Z")
    # Written to the millisecond, rounded down.
    assert before - week - 0.001 <= _seconds(body["cutoff"]) <= after - week


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
        meta = store.get("url-1")
        assert meta is not None
        expires_at = datetime.now(UTC) + timedelta(seconds=2)
        query = store.signer.sign(path, expires_at, content_tag(meta.sha256))
        short = f"{service.base_url}{path}?{query}"
    else:
        short = store.url("url-1", timedelta(seconds=2)).url
    assert httpx.get(short, timeout=30).status_code == 200
    wait_until(lambda: httpx.get(short, timeout=30).status_code == 403, 10, "the link expired")


def test_an_s3_outage_before_upload_loses_nothing(
    make_service: ServiceFactory, private_seaweedfs: SeaweedServer
) -> None:
    from tests.support.seaweedfs import s3_environment

    service = make_service({**DEMO, **s3_environment(private_seaweedfs)})
    bucket = service.runtime.settings.s3_bucket_name
    wait_recording(service, "cam01", 3)
    private_seaweedfs.kill()
    response = service.client.post("/clips/generate", json=_event("outage-1", _now_iso(-2.5)))
    assert response.status_code == 202
    wait_until(lambda: service.runtime.service.upload_queue() == 1, 30, "the clip queued")
    job = service.client.get("/clips/outage-1").json()
    assert job["status"] == "uploading"
    health = wait_until(
        lambda: (
            (body := service.client.get("/health").json())["upload_queue"] == 1
            and not body["storage"]["reachable"]
            and body
        ),
        15,
        "the outage reported",
    )
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


def test_a_link_names_one_clip_not_a_later_one_under_its_id(make_service: ServiceFactory) -> None:
    service = make_service(DEMO)
    wait_recording(service, "cam01", 6)
    client = service.client
    assert client.post("/clips/generate", json=_event("reused", _now_iso(-2.5))).status_code == 202
    old_link = service.wait_ready("reused")["url"]
    first = httpx.get(old_link, timeout=30)
    assert first.status_code == 200
    assert first.headers["etag"].strip('"') == hashlib.sha256(first.content).hexdigest()
    assert client.delete("/clips/reused").status_code == 200
    assert httpx.get(old_link, timeout=30).status_code == 404

    # Another clip under the same id (another moment, other bytes).
    assert client.post("/clips/generate", json=_event("reused", _now_iso(-4))).status_code == 202
    new_link = service.wait_ready("reused")["url"]
    second = httpx.get(new_link, timeout=30)
    assert second.status_code == 200 and second.content != first.content
    assert httpx.get(old_link, timeout=30).status_code == 404
    assert httpx.head(old_link, timeout=30).status_code == 404
    meta = service.runtime.index.get("reused")
    assert meta is not None and hashlib.sha256(second.content).hexdigest() == meta.sha256


def test_clip_files_serve_ranges_and_heads(make_service: ServiceFactory) -> None:
    service = make_service(DEMO)
    wait_recording(service, "cam01", 3)
    service.client.post("/clips/generate", json=_event("ranged", _now_iso(-2.5)))
    link = service.wait_ready("ranged")["url"]
    whole = httpx.get(link, timeout=30).content
    size = len(whole)
    head = httpx.head(link, timeout=30)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(size)
    assert head.headers["accept-ranges"] == "bytes"
    for asked, first, last in (
        ("bytes=0-99", 0, 99),
        ("bytes=100-", 100, size - 1),
        ("bytes=-50", size - 50, size - 1),
        (f"bytes=10-{size + 1000}", 10, size - 1),
    ):
        part = httpx.get(link, headers={"Range": asked}, timeout=30)
        assert part.status_code == 206, asked
        assert part.headers["content-range"] == f"bytes {first}-{last}/{size}"
        assert part.content == whole[first : last + 1]
    too_far = httpx.get(link, headers={"Range": f"bytes={size}-"}, timeout=30)
    assert too_far.status_code == 416 and too_far.headers["content-range"] == f"bytes */{size}"
    several = httpx.get(link, headers={"Range": "bytes=0-1,5-6"}, timeout=30)
    assert several.status_code == 200 and several.content == whole
    stale = httpx.get(link, headers={"Range": "bytes=0-9", "If-Range": '"other"'}, timeout=30)
    assert stale.status_code == 200 and stale.content == whole


@pytest.mark.parametrize(
    "timestamp",
    [
        "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:59:59-14:00",
        "0001-01-01T00:00:00Z",
        "1969-12-31T23:59:59Z",
        "1970-01-01T00:00:00Z",
        "0001-01-01T00:00:00+23:59",
        "9999-12-31T00:00:00Z",
    ],
)
def test_extreme_event_times_are_422_naming_the_timestamp(
    make_service: ServiceFactory, timestamp: str
) -> None:
    service = make_service(DEMO)
    response = service.client.post("/clips/generate", json=_event("extreme", timestamp))
    assert response.status_code == 422, response.text
    assert any("timestamp" in problem["loc"] for problem in response.json()["detail"])
    assert service.client.get("/clips/extreme").status_code == 404


def test_extreme_date_filters_are_422_naming_the_field_or_work(
    make_service: ServiceFactory,
) -> None:
    client = make_service(DEMO).client
    for name in ("start_date", "end_date"):
        for value in (
            "0001-01-01T00:00:00+14:00",
            "9999-12-31T23:59:59-14:00",
            "0001-01-01T00:00:00Z",
            "9999-12-31T23:59:59Z",
        ):
            response = client.get("/clips", params={name: value})
            assert response.status_code == 422, (name, value, response.text)
            assert any(name in problem["loc"] for problem in response.json()["detail"])
        # A day inside the ends, whatever the time zone, is an ordinary filter.
        for value in (
            "0001-01-02T00:00:00+23:59",
            "9999-12-30T23:59:59-23:59",
            "1900-01-01T00:00:00+14:00",
        ):
            response = client.get("/clips", params={name: value})
            assert response.status_code == 200, (name, value, response.text)


def test_wrong_tokens_are_answered_at_a_bounded_rate(make_service: ServiceFactory) -> None:
    from vms_desktop.api.auth_throttle import FAILURE_BURST, FAILURE_DELAY, FAILURES_PER_SECOND

    token = "kL9-xq2Rv7TzW4mB8nYc1Hs5"
    service = make_service(DEMO, token=token)
    guesses = 120

    def guess(n: int) -> tuple[int, str | None, float]:
        with httpx.Client(base_url=service.base_url, timeout=60) as client:
            began = time.monotonic()
            response = client.get("/clips", headers={"Authorization": f"Bearer guess-{n}"})
            return response.status_code, response.headers.get("retry-after"), began

    began = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(guess, range(guesses)))
    elapsed = time.monotonic() - began
    checked = [a for a in answers if a[0] == 401]
    refused = [a for a in answers if a[0] == 429]
    print(f"{guesses} wrong tokens in {elapsed:.1f} s: {len(checked)} checked, {len(refused)} 429")
    assert len(checked) + len(refused) == guesses
    assert len(checked) <= FAILURE_BURST + FAILURES_PER_SECOND * elapsed + 1
    assert refused and all(int(retry or 0) >= 1 for _, retry, _ in refused)
    # Each wrong token was answered after a pause.
    assert elapsed >= FAILURE_DELAY

    # While its failures drain, the guessing address is refused whatever it sends...
    assert service.client.get("/clips").status_code == 429
    # ...but a client elsewhere with the right token is answered at once.
    elsewhere = httpx.HTTPTransport(local_address="127.0.0.2")
    with httpx.Client(
        base_url=service.base_url,
        transport=elsewhere,
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    ) as client:
        started = time.monotonic()
        assert client.get("/clips").status_code == 200
        assert time.monotonic() - started < FAILURE_DELAY
        assert client.get("/health").status_code == 200
