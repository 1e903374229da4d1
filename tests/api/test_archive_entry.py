"""The archive through the application as a user starts it: the demo camera's footage listed,
linked and copied by ffmpeg from its HLS playlist.
"""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from tests.api.archive_support import ffprobe, same_in_cycle
from tests.support.app import app_environment, headless_app
from tests.support.waiting import wait_until

TOKEN = "entry-archive-token-0123456789"


def test_ffmpeg_copies_the_demo_cameras_archive_from_a_signed_playlist(tmp_path: Path) -> None:
    environ = app_environment(tmp_path, API_TOKEN=TOKEN)
    with headless_app(tmp_path, environ) as client:
        client.headers["Authorization"] = f"Bearer {TOKEN}"
        start = datetime.now(UTC) - timedelta(minutes=1)

        def recorded() -> dict[str, Any] | None:
            end = datetime.now(UTC)
            params = {"start": start.isoformat(), "end": end.isoformat()}
            body: dict[str, Any] = client.get("/cameras/demo/recordings", params=params).json()
            return body if body["recorded_seconds"] >= 6 else None

        coverage = wait_until(recorded, 60, "six seconds of demo footage", poll=0.5)
        params = {"start": coverage["start"], "end": coverage["end"]}
        linked = client.get("/cameras/demo/archive-url", params=params)
        assert linked.status_code == 200, linked.text
        url = linked.json()["url"]
        assert httpx.get(url).status_code == 200  # no header needed

        copy = tmp_path / "copy.ts"
        done = subprocess.run(
            ["ffmpeg", "-v", "error", "-i", url, "-c", "copy", str(copy)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        probed = ffprobe(str(copy), "-show_entries", "format=duration:stream=codec_name")
        assert probed["streams"][0]["codec_name"] == "h264"
        first = coverage["ranges"][0]
        duration = float(probed["format"]["duration"])
        # The copy holds the footage listed, give or take the piece being recorded at the end.
        assert coverage["recorded_seconds"] - 3 <= duration <= coverage["recorded_seconds"] + 3
        packets = ffprobe(
            url,
            "-select_streams",
            "v:0",
            "-show_entries",
            "packet=pts_time",
            "-read_intervals",
            "%+#1",
        )
        first_moment = datetime.fromisoformat(first["start"].replace("Z", "+00:00")).timestamp()
        assert same_in_cycle(float(packets["packets"][0]["pts_time"]), first_moment)


def test_ffprobe_follows_the_demo_cameras_live_playlist_while_it_records(tmp_path: Path) -> None:
    environ = app_environment(tmp_path, API_TOKEN=TOKEN)
    with headless_app(tmp_path, environ) as client:
        client.headers["Authorization"] = f"Bearer {TOKEN}"

        def playlist() -> str | None:
            answer = client.get("/cameras/demo/live.m3u8")
            return answer.text if answer.status_code == 200 else None

        first = wait_until(playlist, 60, "a live playlist", poll=0.5)
        assert "#EXT-X-ENDLIST" not in first and "#EXT-X-MEDIA-SEQUENCE:" in first
        sequence = int(first.split("#EXT-X-MEDIA-SEQUENCE:")[1].split()[0])

        def moved_on() -> str | None:
            text = playlist()
            if text is None:
                return None
            later = int(text.split("#EXT-X-MEDIA-SEQUENCE:")[1].split()[0])
            return text if later > sequence else None

        # The window slides while the camera records: newer pieces, higher sequence numbers.
        wait_until(moved_on, 30, "the live playlist to slide", poll=0.5)
        linked = client.get("/cameras/demo/live-url")
        assert linked.status_code == 200, linked.text
        probed = ffprobe(linked.json()["url"], "-show_entries", "stream=codec_name,width")
        assert probed["streams"][0]["codec_name"] == "h264"
