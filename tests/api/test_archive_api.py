"""The archive over real HTTP: recorded ranges and gaps, HLS playlists that ffprobe and ffmpeg
play across a hole, signed media links (tampered, expired, pruned) and the token rules.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import pytest

from tests.api.archive_support import (
    FPS,
    HOLE_SECONDS,
    RUN_A,
    RUN_B,
    RUN_SECONDS,
    TOKEN,
    archived_service,
    camera_files,
    decoded_stamps,
    ffprobe,
    first_packet_time,
    iso,
    playlist_lines,
    same_in_cycle,
    window,
)
from tests.api.conftest import Running, ServiceFactory
from vms_desktop.api.routes.archive_links import ArchiveLinks
from vms_desktop.engine.archive import MediaSpan
from vms_desktop.runtime import URL_KEY_FILE
from vms_desktop.storage.signing import UrlSigner, load_or_create_key

# The whole recorded stretch with some empty time either side.
WINDOW = window(RUN_A - 5, RUN_B + RUN_SECONDS + 5)
AUTH = {"Authorization": f"Bearer {TOKEN}"}
PLAYLIST = "/cameras/cam01/archive.m3u8"


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return camera_files(tmp_path_factory.mktemp("archive-media"))


@pytest.fixture
def service(make_service: ServiceFactory, files: tuple[Path, Path]) -> Running:
    return archived_service(make_service, files)


def _seconds(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _media_uris(text: str) -> list[str]:
    return [line for line in playlist_lines(text) if not line.startswith("#")]


def _signed_url(service: Running, **params: str) -> str:
    answer = service.client.get("/cameras/cam01/archive-url", params=params)
    assert answer.status_code == 200, answer.text
    url: str = answer.json()["url"]
    return url


def test_recordings_answer_the_ranges_and_gaps_of_a_window(service: Running) -> None:
    answer = service.client.get("/cameras/cam01/recordings", params=WINDOW)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["camera_id"] == "cam01"
    assert (body["start"], body["end"]) == (WINDOW["start"], WINDOW["end"])
    assert body["until"] == WINDOW["end"]  # the window is over by the service's clock
    ranges = [(_seconds(r["start"]), _seconds(r["end"])) for r in body["ranges"]]
    assert len(ranges) == 2
    assert ranges[0] == (pytest.approx(RUN_A, abs=0.01), pytest.approx(RUN_A + 12, abs=0.1))
    assert ranges[1] == (pytest.approx(RUN_B, abs=0.01), pytest.approx(RUN_B + 12, abs=0.1))
    gaps = [(_seconds(g["start"]), _seconds(g["end"])) for g in body["gaps"]]
    assert [round(end - start) for start, end in gaps] == [5, HOLE_SECONDS, 5]
    assert gaps[1] == (pytest.approx(ranges[0][1], abs=0.01), pytest.approx(RUN_B, abs=0.01))
    for part in body["ranges"] + body["gaps"]:
        assert part["start"].endswith("Z")
        duration = _seconds(part["end"]) - _seconds(part["start"])
        assert part["duration_seconds"] == pytest.approx(duration, abs=0.002)
    assert body["recorded_seconds"] == pytest.approx(2 * RUN_SECONDS, abs=0.2)


def test_recordings_refuse_bad_windows_naming_the_field(service: Running) -> None:
    client = service.client
    path = "/cameras/cam01/recordings"

    def refused(params: dict[str, str], field: str) -> str:
        answer = client.get(path, params=params)
        assert answer.status_code == 422, answer.text
        problems = answer.json()["detail"]
        assert [p["loc"] for p in problems] == [["query", field]], problems
        message: str = problems[0]["msg"]
        return message

    refused({"start": "2026-03-14T15:09:26", "end": WINDOW["end"]}, "start")  # no time zone
    refused({"start": "yesterday", "end": WINDOW["end"]}, "start")
    refused({"end": WINDOW["end"]}, "start")
    refused({"start": WINDOW["end"], "end": WINDOW["start"]}, "end")
    refused({"start": WINDOW["start"], "end": WINDOW["start"]}, "end")
    assert "24 h" in refused(window(RUN_A, RUN_A + 24 * 3600 + 1), "end")
    assert client.get(path, params=window(RUN_A, RUN_A + 24 * 3600)).status_code == 200
    unknown = client.get("/cameras/cam09/recordings", params=WINDOW)
    assert unknown.status_code == 404 and "cam09" in unknown.json()["detail"]
    # Another time zone names the same moments.
    shifted = {"start": "2026-03-14T16:09:21+01:00", "end": WINDOW["end"]}
    assert client.get(path, params=shifted).json()["start"] == WINDOW["start"]


def test_the_archive_playlist_plays_across_a_hole_with_the_token(service: Running) -> None:
    answer = service.client.get(PLAYLIST, params=WINDOW)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/vnd.apple.mpegurl")
    lines = playlist_lines(answer.text)
    assert lines[:2] == ["#EXTM3U", "#EXT-X-VERSION:3"]
    assert "#EXT-X-PLAYLIST-TYPE:VOD" in lines and lines[-1] == "#EXT-X-ENDLIST"
    durations = [float(line[8:].rstrip(",")) for line in lines if line.startswith("#EXTINF:")]
    target = int(next(line for line in lines if line.startswith("#EXT-X-TARGETDURATION:"))[22:])
    # Spans of at most about six seconds (none crosses an archive file).
    assert target == max(round(d) for d in durations) and max(durations) < 6.5
    assert sum(durations) == pytest.approx(2 * RUN_SECONDS, abs=0.2)
    # One discontinuity, at the hole, each run starting with its wall-clock moment.
    assert lines.count("#EXT-X-DISCONTINUITY") == 1
    dates = [_seconds(line[25:]) for line in lines if line.startswith("#EXT-X-PROGRAM-DATE-TIME:")]
    assert dates == [pytest.approx(RUN_A, abs=0.002), pytest.approx(RUN_B, abs=0.002)]
    after = lines.index("#EXT-X-DISCONTINUITY") + 1
    assert lines[after].startswith("#EXT-X-PROGRAM-DATE-TIME:")
    assert len(_media_uris(answer.text)) == len(durations) >= 4

    url = f"{service.base_url}{PLAYLIST}?start={WINDOW['start']}&end={WINDOW['end']}"
    probed = ffprobe(url, "-show_entries", "format=duration", headers=AUTH)
    assert float(probed["format"]["duration"]) == pytest.approx(2 * RUN_SECONDS, abs=6)
    assert same_in_cycle(first_packet_time(url, headers=AUTH), RUN_A)


def test_a_signed_playlist_link_needs_no_header_and_ffmpeg_reads_every_picture(
    service: Running,
) -> None:
    assert httpx.get(service.base_url + PLAYLIST, params=WINDOW).status_code == 401
    linked = service.client.get("/cameras/cam01/archive-url", params=WINDOW)
    assert linked.status_code == 200, linked.text
    body = linked.json()
    expires_at = _seconds(body["expires_at"])
    now = datetime.now(UTC).timestamp()
    assert now + 59 * 60 < expires_at <= now + 60 * 60 + 1 and body["expiry_minutes"] == 60
    url = body["url"]
    assert urlsplit(url).path == PLAYLIST and "sig=" in url
    answer = httpx.get(url)
    assert answer.status_code == 200, answer.text
    assert answer.headers["access-control-allow-origin"] == "*"
    # A player on a web page of another origin reads it too.
    assert httpx.get(url, headers={"Origin": "https://example.org"}).status_code == 200

    probed = ffprobe(url, "-show_entries", "format=duration")
    assert float(probed["format"]["duration"]) == pytest.approx(2 * RUN_SECONDS, abs=6)
    assert same_in_cycle(first_packet_time(url), RUN_A)
    # Every picture of both runs, in order, the first one the first recorded.
    stamps = decoded_stamps(url)
    expected = [round((RUN_A + k / FPS) * 1000) for k in range(int(RUN_SECONDS * FPS))]
    expected += [round((RUN_B + k / FPS) * 1000) for k in range(int(RUN_SECONDS * FPS))]
    assert None not in stamps
    assert stamps == [pytest.approx(ms, abs=1) for ms in expected]


def test_signed_playlist_links_are_bound_to_their_window_and_camera(service: Running) -> None:
    url = _signed_url(service, **WINDOW)
    parts = urlsplit(url)
    query = {key: values[0] for key, values in parse_qs(parts.query).items()}
    base = f"{parts.scheme}://{parts.netloc}"
    assert httpx.get(base + PLAYLIST, params=query).status_code == 200
    wider = {**query, "start": iso(RUN_A - 60)}
    assert httpx.get(base + PLAYLIST, params=wider).status_code == 403
    other = httpx.get(base + "/cameras/cam02/archive.m3u8", params=query)
    assert other.status_code == 403
    flipped = query["sig"][:-1] + ("A" if query["sig"][-1] != "A" else "B")
    assert httpx.get(base + PLAYLIST, params={**query, "sig": flipped}).status_code == 403
    assert httpx.get(base + PLAYLIST, params={**query, "expires": "1"}).status_code == 403
    # A bad link is refused even with the token.
    answer = service.client.get(PLAYLIST, params={**query, "sig": flipped})
    assert answer.status_code == 403 and answer.json()["detail"]
    # The window may be written in any time zone: the same moments, the same link.
    shifted = {**query, "start": "2026-03-14T16:09:21+01:00"}
    assert httpx.get(base + PLAYLIST, params=shifted).status_code == 200


def test_archive_links_are_checked_like_the_other_routes(service: Running) -> None:
    client = service.client
    path = "/cameras/cam01/archive-url"
    assert httpx.get(service.base_url + path, params=WINDOW).status_code == 401
    missing = client.get(path, params={"start": WINDOW["start"]})
    assert missing.status_code == 422 and missing.json()["detail"][0]["loc"] == ["query", "end"]
    backwards = client.get(path, params={"start": WINDOW["end"], "end": WINDOW["start"]})
    assert backwards.status_code == 422 and backwards.json()["detail"][0]["loc"] == ["query", "end"]
    too_long = client.get(path, params={**WINDOW, "expiry_minutes": "10081"})
    assert too_long.status_code == 422
    assert client.get("/cameras/cam09/archive-url", params=WINDOW).status_code == 404
    assert client.get("/cameras/cam09/live-url").status_code == 404
    assert httpx.get(service.base_url + "/cameras/cam01/live-url").status_code == 401
    short = client.get(path, params={**WINDOW, "expiry_minutes": "1"}).json()
    assert _seconds(short["expires_at"]) <= datetime.now(UTC).timestamp() + 61


def test_media_links_need_no_token_and_refuse_tampering(service: Running) -> None:
    playlist = service.client.get(PLAYLIST, params=WINDOW).text
    first = _media_uris(playlist)[0]
    url = urljoin(service.base_url + PLAYLIST, first)
    answer = httpx.get(url)  # no header
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "video/mp2t"
    query = {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}
    assert len(answer.content) == int(query["length"]) == int(answer.headers["content-length"])
    file_key = int(re.fullmatch(r"media/([0-9]+)\.ts\?.*", first)[1])  # type: ignore[index]
    path = service.runtime.recorder.archive.file_path("cam01", file_key)
    assert path is not None
    offset = int(query["offset"])
    assert answer.content == path.read_bytes()[offset : offset + len(answer.content)]
    assert answer.content[0] == 0x47  # an MPEG-TS packet begins the span

    base = url.split("?")[0]
    for changed in (
        {"offset": str(int(query["offset"]) + 188)},
        {"length": str(int(query["length"]) + 188)},
        {"expires": str(int(query["expires"]) + 1)},
        {"sig": query["sig"][::-1]},
        {"sig": ""},
    ):
        assert httpx.get(base, params={**query, **changed}).status_code == 403, changed
    for other in (
        base.replace("/cam01/", "/cam02/"),
        base.replace(f"/{file_key}.ts", f"/{file_key + 1}.ts"),
        base.replace(f"/{file_key}.ts", f"/0{file_key}.ts"),
        base.replace(f"/{file_key}.ts", "/x.ts"),
    ):
        assert httpx.get(other, params=query).status_code == 403, other
    # The token grants nothing here: only the signature does.
    assert httpx.get(base, headers=AUTH).status_code == 403


def test_expired_and_pruned_media_links(service: Running) -> None:
    archive = service.runtime.recorder.archive
    span: MediaSpan = archive.media_spans("cam01", RUN_A, RUN_A + 1)[0]
    signer = UrlSigner(load_or_create_key(service.runtime.settings.state_path / URL_KEY_FILE))
    links = ArchiveLinks(signer)
    playlist_base = service.base_url + PLAYLIST
    past = datetime.now(UTC) - timedelta(seconds=2)
    expired = links.media_uri(span, past)
    assert httpx.get(urljoin(playlist_base, expired)).status_code == 403
    current = urljoin(playlist_base, links.media_uri(span, datetime.now(UTC) + timedelta(hours=1)))
    assert httpx.get(current).status_code == 200

    # The retention moves past all of it: the footage goes, and its links say so.
    buffer = service.runtime.recorder.buffer("cam01")
    buffer.retention_seconds = 1
    buffer.prune()
    assert archive.file_path("cam01", span.file_key) is None
    gone = httpx.get(current)
    assert gone.status_code == 404 and "no longer" in gone.json()["detail"]
    empty = service.client.get(PLAYLIST, params=WINDOW)
    assert empty.status_code == 404 and empty.json()["detail"]


def test_a_window_without_footage_has_no_playlist(service: Running) -> None:
    answer = service.client.get(PLAYLIST, params=window(RUN_A - 100, RUN_A - 50))
    assert answer.status_code == 404 and answer.headers["content-type"] == "application/json"
    hole = service.client.get(PLAYLIST, params=window(RUN_A + 13, RUN_B - 1))
    assert hole.status_code == 404
    other = service.client.get("/cameras/cam02/archive.m3u8", params=WINDOW)
    assert other.status_code == 404
    unknown = service.client.get("/cameras/cam09/archive.m3u8", params=WINDOW)
    assert unknown.status_code == 404 and "cam09" in unknown.json()["detail"]


def test_the_live_playlist_slides_over_the_newest_pieces(service: Running) -> None:
    answer = service.client.get("/cameras/cam01/live.m3u8")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/vnd.apple.mpegurl")
    lines = playlist_lines(answer.text)
    assert "#EXT-X-ENDLIST" not in lines and "#EXT-X-PLAYLIST-TYPE:VOD" not in lines
    tags = {line.split(":")[0]: line.partition(":")[2] for line in lines if ":" in line}
    assert int(tags["#EXT-X-TARGETDURATION"]) == 2
    assert int(tags["#EXT-X-MEDIA-SEQUENCE"]) >= 1
    assert tags["#EXT-X-DISCONTINUITY-SEQUENCE"] == "0"
    uris = _media_uris(answer.text)
    assert len(uris) == 6
    assert _seconds(tags["#EXT-X-PROGRAM-DATE-TIME"]) == pytest.approx(RUN_B, abs=0.01)

    linked = service.client.get("/cameras/cam01/live-url")
    assert linked.status_code == 200, linked.text
    url = linked.json()["url"]
    assert urlsplit(url).path == "/cameras/cam01/live.m3u8"
    assert httpx.get(url).status_code == 200
    assert httpx.get(service.base_url + "/cameras/cam01/live.m3u8").status_code == 401
    probed = ffprobe(url, "-show_entries", "stream=codec_name,width,height")
    assert probed["streams"][0] == {"codec_name": "h264", "width": 320, "height": 240}
    # From the playlist's first piece (players start nearer the live edge by default).
    assert same_in_cycle(first_packet_time(url, "-live_start_index", "0"), RUN_B)

    nothing = service.client.get("/cameras/cam02/live.m3u8")
    assert nothing.status_code == 404 and nothing.headers["retry-after"]
    assert service.client.get("/cameras/cam09/live.m3u8").status_code == 404
