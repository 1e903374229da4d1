"""The bookmark endpoints over real HTTP: add, list, delete, errors, auth and protection."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.api.conftest import ServiceFactory
from vms_desktop.domain.bookmark import MAX_NOTE_LENGTH

DEMO = {"CAMERA_CAM01_URL": "demo://?width=320&height=240", "CAMERA_CAM02_URL": "demo://"}
WHEN = datetime(2025, 5, 31, 10, 30, tzinfo=UTC)


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def test_a_bookmark_is_added_listed_and_deleted(make_service: ServiceFactory) -> None:
    running = make_service(DEMO)
    client = running.client
    made = client.post(
        "/bookmarks",
        json={
            "camera_id": "CAM01",
            "timestamp": "2025-05-31T12:30:00+02:00",
            "end": _iso(WHEN + timedelta(seconds=20)),
            "note": "van at the gate",
        },
    )
    assert made.status_code == 201, made.text
    body = made.json()
    assert made.headers["location"] == f"/bookmarks/{body['id']}"
    assert body == {
        "id": body["id"],
        "camera_id": "cam01",
        "timestamp": "2025-05-31T10:30:00.000Z",
        "end": "2025-05-31T10:30:20.000Z",
        "note": "van at the gate",
        "protect": False,
        "created_at": body["created_at"],
    }

    listed = client.get("/bookmarks")
    assert listed.status_code == 200
    assert listed.json() == {
        "items": [body],
        "total": 1,
        "limit": 50,
        "offset": 0,
        "next_offset": None,
    }

    assert client.delete(f"/bookmarks/{body['id']}").status_code == 204
    again = client.delete(f"/bookmarks/{body['id']}")
    assert again.status_code == 404
    assert again.json() == {"detail": "no such bookmark"}
    assert client.get("/bookmarks").json()["total"] == 0


def test_the_listing_takes_the_clip_listings_filters_and_pages(
    make_service: ServiceFactory,
) -> None:
    running = make_service(DEMO)
    client = running.client
    for minute in range(6):
        camera = "cam01" if minute % 2 == 0 else "cam02"
        moment = _iso(WHEN + timedelta(minutes=minute))
        response = client.post("/bookmarks", json={"camera_id": camera, "timestamp": moment})
        assert response.status_code == 201

    first = client.get("/bookmarks", params={"limit": 4}).json()
    assert first["total"] == 6 and first["next_offset"] == 4
    moments = [item["timestamp"] for item in first["items"]]
    assert moments == sorted(moments, reverse=True)
    rest = client.get("/bookmarks", params={"limit": 4, "offset": 4}).json()
    assert rest["next_offset"] is None and len(rest["items"]) == 2

    cam02 = client.get("/bookmarks", params={"camera_id": "cam02"}).json()
    assert cam02["total"] == 3 and {i["camera_id"] for i in cam02["items"]} == {"cam02"}
    window = client.get(
        "/bookmarks",
        params={
            "start_date": _iso(WHEN + timedelta(minutes=1)),
            "end_date": _iso(WHEN + timedelta(minutes=3)),
        },
    ).json()
    assert [item["timestamp"] for item in window["items"]] == [
        "2025-05-31T10:32:00.000Z",
        "2025-05-31T10:31:00.000Z",
    ]
    assert client.get("/bookmarks", params={"limit": 0}).status_code == 422


def test_malformed_bookmarks_and_unknown_cameras_are_refused(
    make_service: ServiceFactory,
) -> None:
    client = make_service(DEMO).client
    moment = _iso(WHEN)
    unknown = client.post("/bookmarks", json={"camera_id": "cam09", "timestamp": moment})
    assert unknown.status_code == 404
    assert unknown.json() == {"detail": "unknown camera 'cam09'"}
    for body in (
        {"camera_id": "cam01", "timestamp": moment, "end": _iso(WHEN - timedelta(seconds=1))},
        {"camera_id": "cam01", "timestamp": moment, "note": "x" * (MAX_NOTE_LENGTH + 1)},
        {"camera_id": "cam01", "timestamp": moment, "note": "two\nlines"},
        {"camera_id": "cam01", "timestamp": "2025-05-31T10:30:00"},
        {"camera_id": "cam01", "timestamp": moment, "colour": "red"},
        {"camera_id": "../etc", "timestamp": moment},
    ):
        response = client.post("/bookmarks", json=body)
        assert response.status_code == 422, (body, response.text)
    assert client.delete("/bookmarks/not%20an%20id").status_code == 422
    assert client.get("/bookmarks").json()["total"] == 0


def test_bookmarks_need_the_token_like_every_route(make_service: ServiceFactory) -> None:
    running = make_service(DEMO, token="s3cret-token")
    anonymous = {"Authorization": ""}
    moment = _iso(WHEN)
    refused = running.client.post(
        "/bookmarks", json={"camera_id": "cam01", "timestamp": moment}, headers=anonymous
    )
    assert refused.status_code == 401
    assert running.client.get("/bookmarks", headers=anonymous).status_code == 401
    made = running.client.post("/bookmarks", json={"camera_id": "cam01", "timestamp": moment})
    assert made.status_code == 201


def test_a_protected_bookmark_holds_its_cameras_footage_until_deleted(
    make_service: ServiceFactory,
) -> None:
    running = make_service(DEMO)
    buffer = running.runtime.recorder.buffer("cam01")
    moment = datetime.now(UTC)
    made = running.client.post(
        "/bookmarks",
        json={"camera_id": "cam01", "timestamp": _iso(moment), "protect": True},
    ).json()
    assert made["protect"] is True
    # Widened by the clip window around the moment (PRE/POST_EVENT_BUFFER_SECONDS = 2).
    (span,) = buffer.protected_spans().values()
    assert abs(span[0] - (moment.timestamp() - 2)) < 1e-3
    assert abs(span[1] - (moment.timestamp() + 2)) < 1e-3
    assert running.runtime.recorder.buffer("cam02").protected_spans() == {}

    assert running.client.delete(f"/bookmarks/{made['id']}").status_code == 204
    assert buffer.protected_spans() == {}


def test_the_routes_are_documented(make_service: ServiceFactory) -> None:
    schema = make_service(DEMO).client.get("/openapi.json").json()
    paths = schema["paths"]
    assert paths["/bookmarks"]["post"]["summary"] == "Bookmark a moment of a camera"
    assert paths["/bookmarks"]["get"]["summary"] == "List bookmarks with optional filters"
    assert "summary" in paths["/bookmarks/{bookmark_id}"]["delete"]
    assert "201" in paths["/bookmarks"]["post"]["responses"]
