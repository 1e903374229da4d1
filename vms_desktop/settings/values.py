"""Checks of single setting values: URLs, hosts, tokens, sizes; messages never repeat the value."""

from __future__ import annotations

import ipaddress
import os
import re
from itertools import pairwise
from pathlib import Path
from urllib.parse import SplitResult, urlsplit

MAX_CLIP_WIDTH = 7680
MAX_CLIP_HEIGHT = 4320
MIN_CLIP_SIDE = 16
# The buffer must outlive the pre-event window by this much, so an event posted a little late
# (network, detector latency) still finds its pre-event footage.
BUFFER_MARGIN_SECONDS = 30.0
DURATION_TOLERANCE_SECONDS = 0.001

# Off loopback the token is all that stands between the network and every clip.
MIN_API_TOKEN_LENGTH = 16
_MIN_TOKEN_CHARACTERS = 6
# Words of example values people leave in place (``API_TOKEN=change-me-...``).
_PLACEHOLDER_WORDS = ("changeme", "password", "example", "placeholder", "yourtoken")
MAKE_TOKEN_COMMAND = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'

_HOSTNAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?\.?")
_TOKEN = re.compile(r"[\x21-\x7e]+")
_BUCKET = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{1,254}")
_REGION = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_RESOLUTION = re.compile(r"\s*([0-9]{1,6})\s*[,xX]\s*([0-9]{1,6})\s*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def api_token_weakness(token: str) -> str | None:
    """Why ``token`` is too easy to guess for an API others can reach, or None if it is not.

    Catches what people type instead of a random token: short ones, one or a few characters
    repeated, a word repeated, a run like ``abcdefghijklmnop`` or ``0123456789...``, and
    example values left in place.
    """
    if len(token) < MIN_API_TOKEN_LENGTH:
        return f"is shorter than {MIN_API_TOKEN_LENGTH} characters"
    letters = "".join(c for c in token.lower() if c.isalpha())
    if any(word in letters for word in _PLACEHOLDER_WORDS):
        return "looks like an example value"
    if len(set(token)) < _MIN_TOKEN_CHARACTERS:
        return f"uses fewer than {_MIN_TOKEN_CHARACTERS} different characters"
    for size in range(1, len(token) // 2 + 1):
        if len(token) % size == 0 and token == token[:size] * (len(token) // size):
            return "repeats one short piece"
    steps = {ord(b) - ord(a) for a, b in pairwise(token)}
    if steps <= {1} or steps <= {-1}:
        return "is a run of consecutive characters"
    return None


def check_token(value: str) -> str:
    """``value`` if it can be an API token, else ValueError."""
    if _TOKEN.fullmatch(value) is None:
        # A token that cannot travel in an "Authorization: Bearer" header locks clients out.
        raise ValueError("contains spaces, control or non-ASCII characters")
    return value


def has_control(text: str) -> bool:
    """Whether ``text`` holds a control character (newline, escape, NUL...)."""
    return _CONTROL.search(text) is not None


def split_url(value: str) -> SplitResult:
    """``urlsplit`` that also parses the port, raising ValueError (without the URL) when bad."""
    try:
        parts = urlsplit(value)
        _ = parts.port  # parsing the port is part of the check
    except ValueError:
        raise ValueError(
            "not a valid URL (a '/', '?', '#' or '@' in a user name or password must be "
            "percent-encoded: %2F, %3F, %23, %40)"
        ) from None
    return parts


def check_http_url(value: str) -> str:
    """A validated http(s) base URL without credentials or trailing slash."""
    value = value.strip()
    if has_control(value) or " " in value:
        raise ValueError("contains spaces or control characters")
    parts = split_url(value)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError("not an http:// or https:// URL with a host")
    if "@" in parts.netloc:
        raise ValueError("contains credentials, which do not belong in this URL")
    if parts.query or parts.fragment:
        raise ValueError("has a query or fragment")
    return value.rstrip("/")


def check_host(value: str) -> str:
    """An IP address in its canonical form, or a host name; ValueError when neither."""
    host = value.strip()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    if _HOSTNAME.fullmatch(host) is None:
        raise ValueError("is not an IP address or host name")
    return host


def is_loopback(host: str) -> bool:
    """Whether ``host`` names only the local machine."""
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bucket(value: str) -> str:
    """A stripped S3 bucket name; ValueError when it cannot be one."""
    value = value.strip()
    if _BUCKET.fullmatch(value) is None:
        raise ValueError("is not a valid bucket name")
    return value


def check_region(value: str) -> str:
    """A stripped region name; ValueError when it cannot be one."""
    value = value.strip()
    if _REGION.fullmatch(value) is None:
        raise ValueError("is not a valid region name")
    return value


def absolute_path(value: str | os.PathLike[str]) -> Path:
    """``value`` as an absolute path (``~`` expanded); ValueError when empty or unprintable."""
    text = str(os.fspath(value))
    if not text.strip():
        raise ValueError("is empty")
    if has_control(text):
        raise ValueError("contains control characters")
    # Absolute now, so a later change of working directory cannot move the data.
    return Path(os.path.abspath(Path(text).expanduser()))


def parse_resolution(value: str) -> tuple[int, int]:
    """``WIDTH,HEIGHT`` (or ``WIDTHxHEIGHT``) as two whole numbers; ValueError otherwise."""
    match = _RESOLUTION.fullmatch(value)
    if match is None:
        raise ValueError("is not two whole numbers WIDTH,HEIGHT")
    return int(match[1]), int(match[2])


def check_resolution(value: tuple[int, int]) -> tuple[int, int]:
    """``value`` if it is a clip size the encoder takes; ValueError otherwise."""
    width, height = value
    if (
        not MIN_CLIP_SIDE <= width <= MAX_CLIP_WIDTH
        or not MIN_CLIP_SIDE <= height <= MAX_CLIP_HEIGHT
    ):
        raise ValueError("is out of range")
    if width % 2 or height % 2:
        # H.264 with 4:2:0 chroma needs even sizes; the encoder would refuse the clip later.
        raise ValueError("has an odd width or height")
    return value


def check_webhook_urls(value: str) -> tuple[str, ...]:
    """Comma-separated http(s) URLs (credentials allowed: they are redacted wherever shown)."""
    urls: list[str] = []
    for number, part in enumerate(value.split(","), start=1):
        url = part.strip()
        if not url:
            continue
        if has_control(url) or " " in url:
            raise ValueError(f"URL {number} contains spaces or control characters")
        try:
            parts = split_url(url)
        except ValueError as exc:
            raise ValueError(f"URL {number} is {exc}") from None
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise ValueError(f"URL {number} is not an http:// or https:// URL with a host")
        if parts.fragment:
            raise ValueError(f"URL {number} has a fragment")
        if url not in urls:
            urls.append(url)
    return tuple(urls)


def check_webhook_secret(value: str) -> str:
    """``value`` if it is a strong enough signing key, else ValueError saying why."""
    check_token(value)
    weakness = api_token_weakness(value)
    if weakness is not None:
        raise ValueError(f"{weakness}, too easy to guess for a signing key")
    return value
