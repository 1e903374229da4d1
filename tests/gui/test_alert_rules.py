"""The alert rules on plain values, with an injected clock: grace, recovery, stuck uploads."""

from __future__ import annotations

from vms_desktop.domain.camera import CameraState, CameraStatus
from vms_desktop.gui.alert_rules import STORAGE_SUBJECT, AlertKind, AlertRules


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def status(state: CameraState, camera_id: str = "cam01", reason: str = "") -> CameraStatus:
    return CameraStatus(camera_id, state, reason)


def test_a_reconnect_blip_is_no_alarm() -> None:
    clock = Clock()
    rules = AlertRules(camera_grace=5.0, clock=clock)
    assert rules.on_camera_status(status(CameraState.RECORDING)) == []
    assert rules.on_camera_status(status(CameraState.RECONNECTING, reason="stalled")) == []
    clock.now += 4.0
    assert rules.tick() == []
    assert rules.on_camera_status(status(CameraState.RECORDING)) == []
    clock.now += 60.0
    assert rules.tick() == []


def test_a_camera_that_never_recorded_is_not_down() -> None:
    clock = Clock()
    rules = AlertRules(camera_grace=5.0, clock=clock)
    assert rules.on_camera_status(status(CameraState.CONNECTING)) == []
    assert rules.on_camera_status(status(CameraState.OFFLINE, reason="refused")) == []
    clock.now += 60.0
    assert rules.tick() == []


def test_down_after_the_grace_said_once_then_recovered() -> None:
    clock = Clock()
    rules = AlertRules(camera_grace=5.0, clock=clock)
    rules.on_camera_status(status(CameraState.RECORDING))
    rules.on_camera_status(status(CameraState.RECORDING, "cam02"))
    rules.on_camera_status(status(CameraState.RECONNECTING, reason="stalled"))
    clock.now += 3.0
    # A worse state within the grace: still the same silence, timed from its start.
    assert rules.on_camera_status(status(CameraState.OFFLINE, reason="refused")) == []
    clock.now += 2.5
    [down] = rules.tick()
    assert down.kind is AlertKind.CAMERA_DOWN and down.kind.is_warning
    assert down.subject == "cam01" and down.at == clock.now
    assert "offline" in down.text and "refused" in down.text and "6 s" in down.text
    # Said once while it lasts, whatever else arrives.
    clock.now += 30.0
    assert rules.tick() == []
    assert rules.on_camera_status(status(CameraState.RECONNECTING)) == []
    [recovered] = rules.on_camera_status(status(CameraState.RECORDING))
    assert recovered.kind is AlertKind.CAMERA_RECOVERED and not recovered.kind.is_warning
    assert recovered.subject == "cam01"
    assert rules.on_camera_status(status(CameraState.RECORDING)) == []
    # A later outage is a new alert.
    rules.on_camera_status(status(CameraState.STOPPED))
    clock.now += 5.0
    assert [alert.kind for alert in rules.tick()] == [AlertKind.CAMERA_DOWN]


def test_a_queue_that_does_not_shrink_is_stuck_until_it_moves() -> None:
    clock = Clock()
    rules = AlertRules(upload_patience=60.0, clock=clock)
    assert rules.on_storage(reachable=True, upload_queue=0) == []
    assert rules.on_storage(reachable=True, upload_queue=3) == []
    clock.now += 40.0
    assert rules.on_storage(reachable=True, upload_queue=2) == []  # it shrank: not stuck
    clock.now += 59.0
    assert rules.on_storage(reachable=True, upload_queue=4) == []  # grew, but within patience
    clock.now += 1.0
    [stuck] = rules.on_storage(reachable=True, upload_queue=4)
    assert stuck.kind is AlertKind.UPLOAD_STUCK and stuck.subject == STORAGE_SUBJECT
    assert "4 clips" in stuck.text and "60 s" in stuck.text
    clock.now += 30.0
    assert rules.on_storage(reachable=True, upload_queue=5) == []  # said once
    assert rules.tick() == []
    [moving] = rules.on_storage(reachable=True, upload_queue=4)
    assert moving.kind is AlertKind.UPLOAD_MOVING
    clock.now += 30.0
    assert rules.on_storage(reachable=True, upload_queue=0) == []


def test_an_unreachable_storage_is_stuck_after_its_grace_and_clears_when_it_answers() -> None:
    clock = Clock()
    rules = AlertRules(upload_patience=60.0, storage_grace=10.0, clock=clock)
    # Not answering yet at start, then answering: no alarm.
    assert rules.on_storage(reachable=False, upload_queue=0, detail="not checked yet") == []
    clock.now += 2.0
    assert rules.on_storage(reachable=True, upload_queue=0) == []
    assert rules.on_storage(reachable=False, upload_queue=1, detail="connection refused") == []
    clock.now += 9.0
    assert rules.tick() == []
    clock.now += 1.0
    [stuck] = rules.tick()
    assert stuck.kind is AlertKind.UPLOAD_STUCK and "connection refused" in stuck.text
    clock.now += 10.0
    assert rules.on_storage(reachable=False, upload_queue=2, detail="connection refused") == []
    [moving] = rules.on_storage(reachable=True, upload_queue=1)
    assert moving.kind is AlertKind.UPLOAD_MOVING


def test_states_read_at_start_yield_to_changes_told_meanwhile() -> None:
    clock = Clock()
    rules = AlertRules(camera_grace=5.0, clock=clock)
    rules.on_camera_status(status(CameraState.STOPPED, "cam02"))  # told before the reading
    reading = [status(CameraState.RECORDING), status(CameraState.RECORDING, "cam02")]
    assert rules.learn(reading) == []
    rules.on_camera_status(status(CameraState.STOPPED))
    clock.now += 5.0
    # cam01 recorded (read at start), so it is down; cam02 never recorded as far as told.
    assert [(alert.kind, alert.subject) for alert in rules.tick()] == [
        (AlertKind.CAMERA_DOWN, "cam01")
    ]
