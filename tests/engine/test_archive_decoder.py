"""Archive playback: the picture recorded at or before any moment, gaps with where footage resumes.

The archive is real: stamped H.264 recorded through ``SegmentWriter`` into a buffer at injected
UTC moments (several files per recording session, a hole, and a restart that carries on with no
hole but in a new session), so every picture's stamp says which moment it shows.
"""

from __future__ import annotations

import queue
import tempfile
import threading
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from tests.support.clipcheck import Recording
from tests.support.media import make_camera_file, record_file
from tests.support.waiting import wait_until
from vms_desktop.domain.recording import ArchiveGap, ArchivePicture
from vms_desktop.engine import framestamp
from vms_desktop.engine.archive_decoder import ArchiveDecoder
from vms_desktop.engine.av_logging import route_ffmpeg_logs
from vms_desktop.engine.clock import WallClock
from vms_desktop.engine.segment_buffer import TS_HZ, TS_WRAP, SegmentBuffer

FPS = 15
FRAME = 1 / FPS
CYCLE = TS_WRAP / TS_HZ  # 95,443.7 s: the 33-bit timestamps' cycle
HALF = CYCLE / 2
# A fixed moment (2026-03-14), so no verdict depends on today's date.
ORIGIN = 1_773_500_966.0
# Camera A records 8 s, is dark 5 s, camera B records 6 s and restarts (a new session, no hole)
# to record 4 s more.
FIRST = Recording(ORIGIN, 8 * FPS)
SECOND = Recording(FIRST.end + 5.0, 6 * FPS)
RESTART = Recording(SECOND.end, 4 * FPS)
RECORDINGS = (FIRST, SECOND, RESTART)

Outcome = ArchivePicture | ArchiveGap | str


class Player:
    """An archive decoder and the outcomes its callbacks handed over, in order."""

    def __init__(self, buffer: SegmentBuffer) -> None:
        self.outcomes: queue.Queue[Outcome] = queue.Queue()
        self.failures: list[str] = []
        self.decoder = ArchiveDecoder(buffer, self.outcomes.put, self.outcomes.put, self._failed)
        self.decoder.start()

    def _failed(self, reason: str) -> None:
        self.failures.append(reason)
        self.outcomes.put(reason)

    def ask(self, moment: float) -> Outcome:
        self.decoder.show(moment)
        return self.outcomes.get(timeout=20)

    def picture(self, moment: float) -> ArchivePicture:
        outcome = self.ask(moment)
        assert isinstance(outcome, ArchivePicture), f"at {moment - ORIGIN:.4f}: {outcome!r}"
        return outcome

    def gap(self, moment: float) -> ArchiveGap:
        outcome = self.ask(moment)
        assert isinstance(outcome, ArchiveGap), f"at {moment - ORIGIN:.4f}: {outcome!r}"
        return outcome

    def close(self) -> None:
        self.decoder.close()
        self.decoder.join(10)
        assert not self.decoder.is_alive()


def stamp(picture: ArchivePicture) -> int:
    """The stamp (ms) burned into a decoded picture."""
    found = framestamp.read(picture.image.mean(axis=2).astype(np.uint8))
    assert found is not None, "the picture's stamp is unreadable"
    return found


def recording_at(moment: float, recordings: tuple[Recording, ...]) -> Recording | None:
    return next((r for r in recordings if r.start <= moment < r.end), None)


def resume_after(moment: float, recordings: tuple[Recording, ...]) -> float | None:
    return min((r.start for r in recordings if r.start > moment), default=None)


def check_picture(picture: ArchivePicture, moment: float, recording: Recording) -> None:
    """The newest picture at or before ``moment`` (a moment within a millisecond of a picture's
    time may show either), and the moment it reports is the one its stamp says.
    """
    allowed = {recording.stamp_at(moment - 1e-3), recording.stamp_at(moment + 1e-3)}
    shown = stamp(picture)
    assert shown in allowed, f"at {moment - recording.start:.4f} s: {shown} ms not in {allowed}"
    assert picture.moment == pytest.approx(recording.start + shown / 1000, abs=1e-3)
    assert picture.moment <= moment + 1e-3
    assert picture.frame_seconds == pytest.approx(FRAME, abs=1e-3)


@pytest.fixture(scope="module")
def small_camera_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 s of stamped 320x240 H.264 at 15 fps with a keyframe a second."""
    directory = tmp_path_factory.mktemp("archive-media")
    return make_camera_file(
        directory / "small.ts", seconds=8, start=0.0, width=320, height=240, gop_seconds=1.0
    )


def make_buffer(directory: Path, clock: WallClock) -> SegmentBuffer:
    # Keeps footage of any age, in files of about 3 s made of 1 s keyframe-aligned pieces.
    return SegmentBuffer(
        directory,
        "cam01",
        retention_seconds=1e12,
        segment_seconds=1.0,
        file_seconds=3.0,
        clock=clock,
    )


def record(buffer: SegmentBuffer, path: Path, recordings: tuple[Recording, ...]) -> None:
    for recording in recordings:
        record_file(buffer, path, recording.start, seconds=recording.frames / FPS)


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory, small_camera_file: Path) -> SegmentBuffer:
    buffer = make_buffer(tmp_path_factory.mktemp("archive"), WallClock(RESTART.end + 60))
    record(buffer, small_camera_file, RECORDINGS)
    return buffer


@pytest.fixture
def player(archive: SegmentBuffer) -> Iterator[Player]:
    made = Player(archive)
    yield made
    made.close()
    assert made.failures == []


def test_the_archive_holds_several_files_a_hole_and_a_restart(archive: SegmentBuffer) -> None:
    files = archive.segments()
    assert len(archive.covering(FIRST.start, FIRST.end)) >= 3
    # Every second a piece: 18 s of footage in 7 files.
    assert len(files) == 7
    assert sum(len(archive.pieces(f)) for f in files) == 18
    sessions = {f.session for f in files}
    assert len(sessions) == 3
    assert [
        (round(g.start - ORIGIN, 3), round(g.end - ORIGIN, 3))
        for g in archive.gaps(FIRST.start, RESTART.end, until=RESTART.end)
    ] == [(8.0, 13.0)]


MOMENTS = st.one_of(
    st.floats(FIRST.start - 3, RESTART.end + 3),
    st.sampled_from([FIRST.start, SECOND.start, RESTART.start, FIRST.end - FRAME / 2]),
)


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,  # the same examples on every run: the same verdict on any day
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    moments=st.lists(
        st.one_of(MOMENTS, st.floats(0.0, 3.5).map(lambda step: -step)), min_size=1, max_size=6
    )
)
@example(moments=[FIRST.start + 1.5, -0.2, -0.2, -2.0, -2.0])
@example(moments=[SECOND.end - 0.01, RESTART.start + 0.01, SECOND.end - FRAME])
def test_any_moment_shows_the_newest_picture_at_or_before_it_or_the_gap(
    archive: SegmentBuffer, moments: list[float]
) -> None:
    # A negative entry is a step forward from the moment before (playing, or a frame step).
    player = Player(archive)
    try:
        moment = ORIGIN
        for entry in moments:
            moment = moment - entry if entry <= 0 else entry
            edges = [edge for r in RECORDINGS for edge in (r.start, r.end)]
            assume(all(abs(moment - edge) > 2e-3 for edge in edges))
            recording = recording_at(moment, RECORDINGS)
            if recording is None:
                gap = player.gap(moment)
                assert gap.camera_id == "cam01" and gap.moment == moment
                assert gap.resume == resume_after(moment, RECORDINGS)
            else:
                check_picture(player.picture(moment), moment, recording)
        assert player.failures == []
    finally:
        player.close()


def test_playing_on_crosses_files_and_pieces_without_reopening(
    archive: SegmentBuffer, player: Player
) -> None:
    picture = player.picture(FIRST.start)
    stamps = [stamp(picture)]
    while True:
        following = picture.moment + picture.frame_seconds
        if following >= FIRST.end - 1e-3:
            break
        picture = player.picture(following)
        stamps.append(stamp(picture))
    assert stamps == [FIRST.stamp_at(FIRST.start + k * FRAME + 1e-4) for k in range(FIRST.frames)]
    assert player.decoder.opened_runs == 1
    # Playing at a timer's pace (steps of a third of a second) goes on decoding too.
    for step in range(1, 20):
        moment = FIRST.start + step / 3
        check_picture(player.picture(moment), moment, FIRST)
    assert player.decoder.opened_runs == 2  # back to the start once
    # Into the hole, then on from where the footage resumes: a new run, opened once.
    assert player.gap(FIRST.end).resume == pytest.approx(SECOND.start, abs=1e-3)
    moment = SECOND.start
    while moment < RESTART.end - 1e-3:
        recording = recording_at(moment + 1e-4, RECORDINGS)
        assert recording is not None
        picture = player.picture(moment)
        check_picture(picture, moment, recording)
        moment = picture.moment + picture.frame_seconds
    # The restart carries on with no hole but is another run: one more open.
    assert player.decoder.opened_runs == 4


def test_moments_without_footage_say_where_it_resumes(player: Player) -> None:
    assert player.gap(FIRST.start - 5).resume == FIRST.start  # before the oldest
    assert player.gap(FIRST.end).resume == SECOND.start  # where the hole starts
    assert player.gap(SECOND.start - 0.01).resume == SECOND.start
    assert player.gap(RESTART.end + 0.001).resume is None  # after the newest
    assert player.gap(RESTART.end + 3600).resume is None
    last = player.picture(FIRST.end - 0.001)  # the last picture before the hole
    assert stamp(last) == FIRST.stamp_at(FIRST.end - 0.001) == 7933
    first = player.picture(SECOND.start)
    assert stamp(first) == 0 and first.moment == pytest.approx(SECOND.start, abs=1e-4)


def test_a_frame_step_back_shows_the_picture_before(player: Player) -> None:
    moment = SECOND.start + 2.5
    picture = player.picture(moment)
    index = round(stamp(picture) * FPS / 1000)
    for _ in range(20):  # back across a keyframe and a file boundary
        picture = player.picture(picture.moment - picture.frame_seconds)
        index -= 1
        assert stamp(picture) == round(index * 1000 / FPS)
        assert picture.frame_seconds == pytest.approx(FRAME, abs=1e-9)


def test_pictures_fit_the_box_with_their_display_aspect(player: Player) -> None:
    full = player.picture(SECOND.start + 1)
    assert full.image.shape == (240, 320, 3) and full.display_aspect == pytest.approx(4 / 3)
    player.decoder.fit(200, 100)
    fitted = player.picture(SECOND.start + 1.2)
    assert fitted.image.shape == (100, 133, 3) and fitted.display_aspect == pytest.approx(4 / 3)
    check_picture(fitted, SECOND.start + 1.2, SECOND)


def test_non_square_pixels_are_fitted_as_shown(tmp_path: Path) -> None:
    # 352x288 with 12:11 pixels (PAL CIF) is shown 384x288, 4:3.
    path = tmp_path / "cif.ts"
    with av.open(str(path), "w", format="mpegts") as out:
        video = out.add_stream("libx264", rate=FPS, options={"g": "15"})
        video.width, video.height, video.pix_fmt = 352, 288, "yuv420p"
        video.codec_context.sample_aspect_ratio = Fraction(12, 11)
        for index in range(30):
            frame = av.VideoFrame.from_ndarray(
                np.full((288, 352, 3), index * 8, np.uint8), format="rgb24"
            ).reformat(format="yuv420p")
            frame.pts, frame.time_base = index, Fraction(1, FPS)
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in video.encode(None):
            out.mux(packet)
    buffer = make_buffer(tmp_path / "buffer", WallClock(ORIGIN + 60))
    record_file(buffer, path, ORIGIN)
    player = Player(buffer)
    try:
        player.decoder.fit(400, 400)
        picture = player.picture(ORIGIN + 1)
        assert picture.display_aspect == pytest.approx(4 / 3)
        assert picture.image.shape == (300, 400, 3)
    finally:
        player.close()


def test_closing_mid_decode_ends_the_thread_and_releases_the_footage(
    tmp_path: Path, small_camera_file: Path
) -> None:
    wide = make_camera_file(
        tmp_path / "wide.ts", seconds=6, start=0.0, width=1280, height=720, gop_seconds=6.0
    )
    buffer = make_buffer(tmp_path / "buffer", WallClock(ORIGIN + 60))
    record_file(buffer, wide, ORIGIN)
    oldest = buffer.segments()[0]
    # With the application's own FFmpeg log routing: closing a frame-threaded decoder part-way
    # must not wait on a log message.
    with route_ffmpeg_logs("DEBUG"):
        for delay in (0.0, 0.005, 0.02, 0.05, 0.1):
            player = Player(buffer)
            # The end of a 6 s picture group: some 90 pictures to decode before it.
            player.decoder.show(ORIGIN + 5.9)
            time.sleep(delay)
            player.decoder.close()
            player.decoder.close()  # twice is harmless
            player.decoder.join(10)
            assert not player.decoder.is_alive()
            player.decoder.show(ORIGIN + 1)  # after closing, nothing happens
            assert player.failures == []
            # No pin is left: the oldest footage may be evicted again.
            assert buffer.evictable() is oldest
    assert threading.active_count() < 50


def test_unreadable_footage_is_reported_in_a_sentence(
    tmp_path: Path, small_camera_file: Path
) -> None:
    buffer = make_buffer(tmp_path / "buffer", WallClock(ORIGIN + 60))
    record_file(buffer, small_camera_file, ORIGIN, seconds=4)
    for segment in buffer.segments():
        size = segment.path.stat().st_size
        segment.path.write_bytes((bytes(range(256)) * (size // 256 + 1))[:size])
    player = Player(buffer)
    try:
        outcome = player.ask(ORIGIN + 1)
        assert isinstance(outcome, str), outcome
        assert "Traceback" not in outcome and outcome[:1].isupper()
        assert "footage" in outcome
    finally:
        player.close()


# ---- every phase of the 33-bit timestamp cycle ----------------------------------------------


def moment_at(cycles: int, phase: float) -> float:
    """The UTC moment whose 90 kHz timestamp is ``phase`` seconds into cycle ``cycles``."""
    return (cycles * TS_WRAP + round(phase * TS_HZ)) / TS_HZ


@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    cycles=st.integers(18_000, 20_000),  # the years 2024 to 2030
    phase=st.one_of(
        st.floats(0.0, CYCLE, exclude_max=True),
        st.floats(CYCLE - 4.0, CYCLE, exclude_max=True),  # the wrap inside the first recording
    ),
    dark=st.one_of(st.floats(1.0, 600.0), st.floats(HALF - 5, HALF + 5), st.just(CYCLE)),
    offsets=st.lists(st.floats(0.0, 4.0, exclude_max=True), min_size=2, max_size=4),
)
@example(cycles=19_000, phase=CYCLE - 2.0, dark=HALF + 1, offsets=[1.9, 2.1, 0.0, 3.9])
@example(cycles=19_000, phase=CYCLE - 0.01, dark=CYCLE, offsets=[0.0, 0.02, 3.0])
def test_moments_at_any_phase_of_the_timestamp_cycle(
    small_camera_file: Path, cycles: int, phase: float, dark: float, offsets: list[float]
) -> None:
    first = Recording(moment_at(cycles, phase), 4 * FPS)
    second = Recording(first.end + dark, 4 * FPS)
    recordings = (first, second)
    with tempfile.TemporaryDirectory() as scratch:
        buffer = make_buffer(Path(scratch), WallClock(second.end + 60))
        record(buffer, small_camera_file, recordings)
        player = Player(buffer)
        try:
            for index, offset in enumerate(offsets):
                recording = recordings[index % 2]
                moment = recording.start + offset
                assume(all(abs(moment - r.end) > 2e-3 for r in recordings))
                check_picture(player.picture(moment), moment, recording)
            middle = first.end + dark / 2
            assert player.gap(middle).resume == pytest.approx(second.start, abs=1e-3)
            assert player.failures == []
        finally:
            player.close()


def test_outcomes_arrive_on_the_decoders_thread(player: Player) -> None:
    threads: list[str] = []
    decoder = ArchiveDecoder(
        player.decoder.buffer,
        lambda _picture: threads.append(threading.current_thread().name),
        lambda _gap: threads.append(threading.current_thread().name),
        lambda _reason: threads.append("failed"),
    )
    decoder.start()
    try:
        decoder.show(FIRST.start + 1)
        wait_until(lambda: len(threads) == 1, what="a picture")
        decoder.show(FIRST.end + 1)
        wait_until(lambda: len(threads) == 2, what="a gap")
    finally:
        decoder.close()
        decoder.join(10)
    assert threads == [decoder.name, decoder.name]


def test_only_the_newest_request_waiting_is_decoded(player: Player) -> None:
    # Scrubbing: requests far apart (all different) come faster than pictures are decoded.
    moments = [FIRST.start + (k * 2.7) % 23 for k in range(40)]
    for moment in moments:
        player.decoder.show(moment)
    last = moments[-1]
    assert recording_at(last, RECORDINGS) is SECOND
    answers: list[Outcome] = []
    while not answers or not (
        isinstance(answers[-1], ArchivePicture) and 0 <= last - answers[-1].moment < FRAME
    ):
        answers.append(player.outcomes.get(timeout=20))
    final = answers[-1]
    assert isinstance(final, ArchivePicture)
    check_picture(final, last, SECOND)
    assert len(answers) < len(moments)
    time.sleep(0.3)
    assert player.outcomes.empty()
