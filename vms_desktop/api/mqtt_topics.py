"""The MQTT topics the app uses, the payloads of its errors and its Home Assistant discovery."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from vms_desktop.__version__ import __version__
from vms_desktop.api.schemas import GenerateRequest

ONLINE = "online"
OFFLINE = "offline"
HA_PREFIX = "homeassistant"
# Problems listed at most in one error message (as the API's 422 detail).
_MAX_PROBLEMS = 20
_MAX_PROBLEM_TEXT = 300
_NODE = re.compile(r"[^A-Za-z0-9_-]")


@dataclass(frozen=True)
class Topics:
    """Every topic under one prefix."""

    prefix: str

    @property
    def events(self) -> str:
        """Where events come in (the body of ``POST /clips/generate``)."""
        return f"{self.prefix}/events"

    @property
    def errors(self) -> str:
        """Where a refused event is explained."""
        return f"{self.prefix}/errors"

    @property
    def available(self) -> str:
        """``online`` / ``offline`` (retained; the last will says offline)."""
        return f"{self.prefix}/available"

    @property
    def health(self) -> str:
        """The ``/health`` body, periodically (retained)."""
        return f"{self.prefix}/health"

    def camera_state(self, camera_id: str) -> str:
        """A camera's ``GET /cameras`` entry (retained)."""
        return f"{self.prefix}/cameras/{camera_id}/state"

    def clip(self, event_id: str) -> str:
        """Each state of an event's clip job."""
        return f"{self.prefix}/clips/{event_id}"


def parse_event(payload: bytes | bytearray) -> GenerateRequest:
    """The event in a message, validated as ``POST /clips/generate`` validates its body.

    Raises ValidationError (or ValueError for text that is not JSON).
    """
    return GenerateRequest.model_validate_json(payload)


def validation_detail(exc: ValidationError) -> list[dict[str, Any]]:
    """The problems of a payload, shaped like the API's 422 ``detail``."""
    return [
        {
            "loc": [str(part) for part in error.get("loc", ())],
            "msg": str(error.get("msg", "invalid"))[:_MAX_PROBLEM_TEXT],
            "type": str(error.get("type", "value_error")),
        }
        for error in exc.errors(include_input=False, include_url=False)[:_MAX_PROBLEMS]
    ]


def error_payload(status: int, detail: Any, event_id: str | None) -> bytes:
    """What ``<prefix>/errors`` says about one refused message."""
    body: dict[str, Any] = {"status": status, "detail": detail}
    if event_id is not None:
        body["event_id"] = event_id
    return json.dumps(body).encode()


def event_id_of(payload: bytes | bytearray) -> str | None:
    """The event id a payload names, when it names a plain string one (for error reports)."""
    try:
        body = json.loads(payload)
    except ValueError:
        return None
    event = body.get("event") if isinstance(body, dict) else None
    event_id = event.get("id") if isinstance(event, dict) else None
    return event_id if isinstance(event_id, str) and len(event_id) <= 128 else None


def node_id(client_id: str) -> str:
    """The client id as a Home Assistant node id."""
    return _NODE.sub("_", client_id)


def discovery_messages(
    topics: Topics, node: str, camera_ids: list[str]
) -> list[tuple[str, dict[str, Any]]]:
    """(topic, config) of Home Assistant's MQTT discovery: a sensor per camera's state and one
    for the upload queue, all on one device that goes unavailable with the app.
    """
    device = {
        "identifiers": [node],
        "name": f"VMS {node}",
        "manufacturer": "vms_desktop",
        "sw_version": __version__,
    }
    common = {
        "availability_topic": topics.available,
        "payload_available": ONLINE,
        "payload_not_available": OFFLINE,
        "device": device,
    }
    messages = [
        (
            f"{HA_PREFIX}/sensor/{node}/camera_{camera_id}/config",
            {
                **common,
                "name": f"Camera {camera_id}",
                "unique_id": f"{node}_camera_{camera_id}",
                "state_topic": topics.camera_state(camera_id),
                "value_template": "{{ value_json.state }}",
                "json_attributes_topic": topics.camera_state(camera_id),
                "icon": "mdi:cctv",
            },
        )
        for camera_id in camera_ids
    ]
    messages.append(
        (
            f"{HA_PREFIX}/sensor/{node}/upload_queue/config",
            {
                **common,
                "name": "Upload queue",
                "unique_id": f"{node}_upload_queue",
                "state_topic": topics.health,
                "value_template": "{{ value_json.upload_queue }}",
                "unit_of_measurement": "clips",
                "state_class": "measurement",
                "icon": "mdi:cloud-upload",
            },
        )
    )
    return messages
