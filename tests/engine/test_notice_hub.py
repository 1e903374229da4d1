"""The notice hub: numbering, bounded history, listeners on the publisher's thread."""

from __future__ import annotations

import threading

import pytest

from tests.support.factories import WHEN
from vms_desktop.domain.camera import CameraState, CameraStatus
from vms_desktop.domain.clip import ClipJob, ClipStatus, Event
from vms_desktop.domain.notice import Notice, NoticeKind
from vms_desktop.engine.notices import NoticeHub


def job(event_id: str = "ev-1", status: ClipStatus = ClipStatus.PENDING) -> ClipJob:
    return ClipJob(Event(event_id, "cam01", "motion", WHEN), status, updated_at=WHEN)


def test_notices_are_numbered_and_carry_what_changed() -> None:
    hub = NoticeHub(now=lambda: WHEN)
    heard: list[Notice] = []
    hub.subscribe(heard.append)
    hub.publish_job(job())
    hub.publish_camera(CameraStatus("cam01", CameraState.RECORDING))
    hub.publish_health({"status": "ok"})
    assert [n.sequence for n in heard] == [1, 2, 3]
    assert [n.kind for n in heard] == [NoticeKind.CLIP, NoticeKind.CAMERA, NoticeKind.HEALTH]
    assert [n.subject for n in heard] == ["ev-1", "cam01", "service"]
    assert heard[0].job == job() and heard[1].camera is not None
    assert heard[2].health == {"status": "ok"}
    assert all(n.at == WHEN for n in heard)


def test_since_reads_the_bounded_history_and_says_when_it_is_too_old() -> None:
    hub = NoticeHub(history=3)
    assert hub.since(0) == []
    for number in range(5):
        hub.publish_job(job(f"ev-{number}"))
    assert [n.sequence for n in hub.since(2) or []] == [3, 4, 5]
    assert [n.sequence for n in hub.since(4) or []] == [5]
    assert hub.since(5) == []
    assert hub.since(1) is None  # notice 2 fell out of the history
    assert hub.since(9) is None  # from another run


def test_unsubscribe_stops_the_listener_and_a_failing_listener_harms_no_other() -> None:
    hub = NoticeHub()
    heard: list[int] = []

    def broken(notice: Notice) -> None:
        raise RuntimeError("listener bug")

    hub.subscribe(broken)
    stop = hub.subscribe(lambda notice: heard.append(notice.sequence))
    hub.publish_job(job())
    stop()
    stop()  # twice is harmless
    hub.publish_job(job())
    assert heard == [1]


def test_subscribe_since_misses_nothing_published_meanwhile() -> None:
    hub = NoticeHub()
    hub.publish_job(job("a"))
    heard: list[int] = []
    missed, stop = hub.subscribe_since(0, lambda notice: heard.append(notice.sequence))
    hub.publish_job(job("b"))
    stop()
    assert [n.sequence for n in missed or []] == [1]
    assert heard == [2]


def test_publishers_on_many_threads_get_distinct_ordered_sequences() -> None:
    hub = NoticeHub(history=10_000)
    heard: list[int] = []
    hub.subscribe(lambda notice: heard.append(notice.sequence))

    def publish() -> None:
        for _ in range(500):
            hub.publish_job(job())

    threads = [threading.Thread(target=publish) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert heard == list(range(1, 2001))
    assert hub.last_sequence == 2000


def test_history_must_hold_something() -> None:
    with pytest.raises(ValueError, match="at least one"):
        NoticeHub(history=0)
