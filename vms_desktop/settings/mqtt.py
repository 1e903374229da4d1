"""The MQTT broker settings: its URL (credentials kept secret), TLS CA file and topic prefix."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote

from vms_desktop.settings.values import absolute_path, has_control, split_url

DEFAULT_TOPIC_PREFIX = "vms"
PLAIN_PORT = 1883
TLS_PORT = 8883
MQTT_URL_ALLOWED = (
    "mqtt://[user:password@]host[:port] (default port 1883) or mqtts://... (TLS, default "
    "8883), optionally ending in ?ca=<path of a CA certificate file>"
)
TOPIC_PREFIX_ALLOWED = (
    "one or more topic levels of letters, digits, '_', '-' and '.', separated by '/'"
)
CLIENT_ID_ALLOWED = "1 to 64 letters, digits, '_', '-' and '.'"

# Wildcards (+, #), '$' (reserved for broker topics), spaces and empty levels would make the
# prefix match other topics or none.
_TOPIC_LEVEL = r"[A-Za-z0-9_.-]{1,64}"
_TOPIC_PREFIX = re.compile(rf"{_TOPIC_LEVEL}(?:/{_TOPIC_LEVEL}){{0,7}}")
_CLIENT_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")


@dataclass(frozen=True)
class MqttBroker:
    """Where and how to reach the broker (``repr`` never shows the password)."""

    host: str
    port: int
    tls: bool
    username: str | None = None
    password: str | None = None
    ca_file: Path | None = None

    @property
    def display_url(self) -> str:
        """The broker's URL without credentials, for logs and screens."""
        scheme = "mqtts" if self.tls else "mqtt"
        user = "***@" if self.username is not None else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{user}{host}:{self.port}"

    def __repr__(self) -> str:
        return f"MqttBroker({self.display_url!r}, ca_file={self.ca_file!r})"


def parse_mqtt_url(value: str) -> MqttBroker:
    """The broker named by ``value``; ValueError (never repeating the URL) when it is not one."""
    value = value.strip()
    if has_control(value) or " " in value:
        raise ValueError("contains spaces or control characters")
    parts = split_url(value)
    scheme = parts.scheme.lower()
    if scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise ValueError("is not an mqtt:// or mqtts:// URL with a host")
    if parts.path not in ("", "/") or parts.fragment:
        raise ValueError("has a path or fragment (only ?ca=<path> may follow the host)")
    query = parse_qs(parts.query, keep_blank_values=True)
    if set(query) - {"ca"} or len(query.get("ca", [])) > 1:
        raise ValueError("has a query other than one ?ca=<path>")
    ca_file: Path | None = None
    if "ca" in query:
        if scheme != "mqtts":
            raise ValueError("names a CA file (?ca=) but is not an mqtts:// URL")
        try:
            ca_file = check_ca_file(query["ca"][0])
        except ValueError as exc:
            raise ValueError(f"names a CA file (?ca=) that {exc}") from None
    username = unquote(parts.username) if parts.username is not None else None
    password = unquote(parts.password) if parts.password is not None else None
    tls = scheme == "mqtts"
    return MqttBroker(
        host=parts.hostname,
        port=parts.port or (TLS_PORT if tls else PLAIN_PORT),
        tls=tls,
        username=username or None,
        password=password,
        ca_file=ca_file,
    )


def check_mqtt_url(value: str) -> str:
    """``value`` stripped, if it is a broker URL; ValueError otherwise."""
    parse_mqtt_url(value)
    return value.strip()


def check_ca_file(value: str | os.PathLike[str]) -> Path:
    """An absolute path to a readable file; ValueError otherwise."""
    path = absolute_path(value)
    if not path.is_file():
        raise ValueError("is not an existing file")
    if not os.access(path, os.R_OK):
        raise ValueError("is not readable")
    return path


def check_topic_prefix(value: str) -> str:
    """``value`` without surrounding spaces and slashes if it is a topic prefix; else ValueError."""
    value = value.strip().strip("/")
    if _TOPIC_PREFIX.fullmatch(value) is None:
        raise ValueError("has a wildcard, a space, an empty level or another character not allowed")
    return value


def check_client_id(value: str) -> str:
    """``value`` stripped if it can be a client id; ValueError otherwise."""
    value = value.strip()
    if _CLIENT_ID.fullmatch(value) is None:
        raise ValueError("is empty, too long or has a character not allowed")
    return value


def check_mqtt_value(field: str, value: Any) -> Any:
    """One MQTT setting's text checked (and normalised) as its field needs; other values as
    they are, for pydantic to judge.
    """
    if field == "mqtt_ca_file":
        return check_ca_file(value) if isinstance(value, str | os.PathLike) else value
    if not isinstance(value, str):
        return value
    checks = {
        "mqtt_url": check_mqtt_url,
        "mqtt_topic_prefix": check_topic_prefix,
        "mqtt_client_id": check_client_id,
    }
    return checks[field](value)
