"""Clip windows chosen per event over HTTP: bounds, idempotence, conflicts and the echo."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import ServiceFactory, wait_recording
from tests.support.clipcheck import ffprobe
from tests.support.rtsp_camera import RtspCamera

DEMO = {"CAMERA_CAM01_URL": "demo://?width=320&height=240"}


def _now_iso(offset: float = 0.0) -> str:
    moment = datetime.now(UTC) + timedelta(seconds=offset)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _request(event_id: str, timestamp: str, **window: Any) -> dict[str, Any]:
    event = {
        "id": event_id,
        "camera_id": "cam01",
        "event_type": "detection",
        "timestamp": timestamp,
    }
    return {"event": event, **window}


@pytest.mark.parametrize(
    ("window", "field"),
    [
        ({"pre_event_seconds": -1}, "pre_event_seconds"),
        ({"post_event_seconds": -0.5}, "post_event_seconds"),
        ({"pre_event_seconds": 3600.5}, "pre_event_seconds"),
        ({"post_event_seconds": 4000}, "post_event_seconds"),
        ({"pre_event_seconds": "soon"}, "pre_event_seconds"),
        ({"post_event_seconds": True}, "post_event_seconds"),
    ],
)
def test_windows_out_of_bounds_are_422_naming_the_field(
    make_service: ServiceFactory, window: dict[str, Any], field: str
) -> None:
    service = make_service(DEMO)
    response = service.client.post("/clips/generate", json=_request("w1", _now_iso(), **window))
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert any(field in problem["loc"] for problem in detail), detail


def test_windows_the_buffer_cannot_hold_or_without_length_are_422(
    make_service: ServiceFactory,
) -> None:
    service = make_service({**DEMO, "BUFFER_RETENTION_SECONDS": "100"})
    client = service.client
    longer = client.post("/clips/generate", json=_request("w2", _now_iso(), pre_event_seconds=71))
    assert longer.status_code == 422
    assert "pre_event_seconds must be at most 70" in longer.json()["detail"]
    empty = client.post(
        "/clips/generate",
        json=_request("w3", _now_iso(), pre_event_seconds=0, post_event_seconds=0),
    )
    assert empty.status_code == 422
    assert "pre_event_seconds + post_event_seconds" in empty.json()["detail"]
    assert client.get("/clips/w2").status_code == 404  # nothing was accepted


def test_a_chosen_window_is_made_echoed_idempotent_and_conflicting_otherwise(
    make_service: ServiceFactory,
) -> None:
    service = make_service(DEMO)
    wait_recording(service, "cam01", 3)
    client = service.client
    body = _request("custom-1", _now_iso(-2.5), pre_event_seconds=1, post_event_seconds=0.5)
    made = client.post("/clips/generate", params={"wait": 30}, json=body)
    assert made.status_code == 200, made.text
    job = made.json()
    assert (job["pre_event_seconds"], job["post_event_seconds"]) == (1.0, 0.5)
    clip = job["clip"]
    assert (clip["pre_event_seconds"], clip["post_event_seconds"]) == (1.0, 0.5)
    assert clip["duration_seconds"] == pytest.approx(1.5, abs=0.1)

    again = client.post("/clips/generate", json=body)
    assert again.status_code == 200 and again.json()["clip"]["sha256"] == clip["sha256"]
    seed_style = client.post(
        "/clips/generate", json=_request("custom-1", body["event"]["timestamp"])
    )
    assert seed_style.status_code == 200  # names no window: the same event
    one_side = client.post(
        "/clips/generate",
        json=_request("custom-1", body["event"]["timestamp"], post_event_seconds=0.5),
    )
    assert one_side.status_code == 200
    other = client.post("/clips/generate", json={**body, "pre_event_seconds": 2})
    assert other.status_code == 409 and "window" in other.json()["detail"]

    (listed,) = client.get("/clips").json()["clips"]
    assert (listed["pre_event_seconds"], listed["post_event_seconds"]) == (1.0, 0.5)
    companion = json.loads((service.tmp / "clips" / "custom-1.json").read_text())
    assert (companion["pre_event_seconds"], companion["post_event_seconds"]) == (1.0, 0.5)


def test_a_job_says_its_window_while_it_is_made_and_a_seed_request_keeps_the_configured_one(
    make_service: ServiceFactory,
) -> None:
    service = make_service(DEMO)
    wait_recording(service, "cam01", 3)
    client = service.client
    timestamp = _now_iso(1)
    waiting = client.post(
        "/clips/generate", json=_request("later-1", timestamp, post_event_seconds=1.5)
    )
    assert waiting.status_code == 202
    job = waiting.json()
    assert job["status"] in ("pending", "recording")
    assert (job["pre_event_seconds"], job["post_event_seconds"]) == (2.0, 1.5)
    assert client.get("/clips/later-1").json()["post_event_seconds"] == 1.5
    conflict = client.post(
        "/clips/generate", json=_request("later-1", timestamp, post_event_seconds=3)
    )
    assert conflict.status_code == 409

    seed = client.post(
        "/clips/generate", params={"wait": 30}, json=_request("seed-1", _now_iso(-2.5))
    )
    assert seed.status_code == 200
    clip = seed.json()["clip"]
    assert (clip["pre_event_seconds"], clip["post_event_seconds"]) == (2.0, 2.0)
    assert clip["duration_seconds"] == pytest.approx(4.0, abs=0.1)
    service.wait_ready("later-1")


def test_a_custom_window_from_an_rtsp_camera_has_its_length(
    make_service: ServiceFactory, rtsp_camera: RtspCamera, tmp_path: Path
) -> None:
    service = make_service({"CAMERA_CAM01_URL": rtsp_camera.url})
    wait_recording(service, "cam01", 4)
    body = _request("rtsp-window", _now_iso(-1), pre_event_seconds=3, post_event_seconds=2.5)
    made = service.client.post("/clips/generate", params={"wait": 60}, json=body)
    assert made.status_code == 200, made.text
    path = service.tmp / "clips" / "rtsp-window.mp4"
    probed = ffprobe(path)
    duration = float(probed["format"]["duration"])  # type: ignore[index]
    assert duration == pytest.approx(5.5, abs=0.1)
    (video,) = probed["streams"]  # type: ignore[misc]
    assert int(video["nb_read_frames"]) == round(5.5 * 15)
