"""HMAC-signed, expiring URLs for local clip files (the local twin of S3 presigned URLs)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import re
import secrets
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

from vms_desktop.domain.clip import utc
from vms_desktop.domain.errors import StoreError
from vms_desktop.domain.store_state import MAX_URL_EXPIRY
from vms_desktop.storage.atomic import O_BINARY, O_NOFOLLOW, O_NONBLOCK, reason, write_atomic

log = logging.getLogger(__name__)

KEY_BYTES = 32
MIN_KEY_BYTES = 16

# Tolerates a URL signed a little ahead of this clock (another instance, rounding of seconds);
# anything further out was not made by us and would outlive every key rotation.
EXPIRY_SLACK = timedelta(minutes=5)

# ASCII digits only (str.isdigit() also accepts other scripts' digits, which int() parses),
# without leading zeros so each moment has one spelling.
_EXPIRES = re.compile(r"[1-9][0-9]{0,11}")
# Unpadded urlsafe base64 of a 32-byte digest is exactly 43 characters.
_SIGNATURE = re.compile(r"[A-Za-z0-9_-]{43}")
# How many hex digits of a clip's SHA-256 a link carries: enough that two clips ever made under
# one event id never share them by chance (forging them is what the signature prevents).
CONTENT_DIGITS = 16
_CONTENT = re.compile(rf"[0-9a-f]{{{CONTENT_DIGITS}}}")


def _b64(digest: bytes) -> str:
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def content_tag(sha256: str) -> str:
    """The part of a clip's hex SHA-256 that a link names it by."""
    tag = sha256[:CONTENT_DIGITS].lower()
    if _CONTENT.fullmatch(tag) is None:
        raise ValueError("a content tag needs a hex SHA-256")
    return tag


class UrlSigner:
    """Signs ``GET`` access to one version of a URL path until a moment, and checks it.

    The version is a content tag (see :func:`content_tag`): a link names the bytes it was made
    for, so a new clip later stored under the same path is not reachable through it.
    """

    def __init__(self, key: bytes) -> None:
        if not isinstance(key, bytes) or len(key) < MIN_KEY_BYTES:
            raise ValueError(f"the signing key must be at least {MIN_KEY_BYTES} bytes")
        self._key = key

    def __repr__(self) -> str:
        return "UrlSigner(key=<hidden>)"  # keeps the key out of logs and tracebacks

    def _signature(self, path: str, expires: int, content: str) -> str:
        message = f"GET\n{path}\n{expires}\n{content}".encode()
        return _b64(hmac.new(self._key, message, hashlib.sha256).digest())

    def sign(self, path: str, expires_at: datetime, content: str) -> str:
        """The query ``expires=<unix seconds>&content=<tag>&signature=<...>`` granting
        ``GET path`` while it holds the bytes tagged ``content``.

        ``expires_at`` must be timezone-aware; fractions of a second are dropped.
        """
        if _CONTENT.fullmatch(content) is None:
            raise ValueError("content must be a content tag (see content_tag)")
        expires = int(utc(expires_at).timestamp())
        signature = self._signature(path, expires, content)
        return f"expires={expires}&content={content}&signature={signature}"

    def verify(
        self,
        path: str,
        expires: str | None,
        content: str | None,
        signature: str | None,
        now: datetime | None = None,
    ) -> bool:
        """Whether ``signature`` grants ``GET path`` for ``content`` now; never raises for bad
        or missing input.

        Refuses expired values, non-numeric or oversized ``expires``, expiries further ahead
        than :data:`MAX_URL_EXPIRY` (plus a little slack), malformed content tags and malformed
        signatures; the signature itself is compared in constant time. Whether the path still
        holds that content is the caller's to check.
        """
        if not isinstance(signature, str) or _SIGNATURE.fullmatch(signature) is None:
            return False
        if not isinstance(expires, str) or _EXPIRES.fullmatch(expires) is None:
            return False
        if not isinstance(content, str) or _CONTENT.fullmatch(content) is None:
            return False
        moment = int(expires)
        current = (datetime.now(UTC) if now is None else utc(now)).timestamp()
        if moment <= current:
            return False
        if moment > current + (MAX_URL_EXPIRY + EXPIRY_SLACK).total_seconds():
            return False
        try:
            expected = self._signature(path, moment, content)
        except UnicodeEncodeError:  # a lone surrogate in the path: no URL of ours has one
            return False
        return hmac.compare_digest(expected.encode("ascii"), signature.encode("ascii"))


def _read_key(path: Path) -> bytes | None:
    """The key stored at ``path``; None if it is absent or unusable (then it is replaced)."""
    try:
        fd = os.open(path, os.O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_BINARY)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StoreError(f"reading the URL signing key failed: {reason(exc)}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise StoreError("the URL signing key is not a regular file")
        data = os.read(fd, KEY_BYTES + 1)
        if os.name != "nt" and info.st_mode & 0o077:
            # The key grants access to every clip: other users must not read it.
            os.fchmod(fd, 0o600)
            log.warning("URL signing key was readable by other users; permissions tightened")
    finally:
        os.close(fd)
    if len(data) != KEY_BYTES:
        log.warning("URL signing key file is malformed; a new key is made")
        return None
    return data


def load_or_create_key(path: Path) -> bytes:
    """The URL signing key kept at ``path``: 32 random bytes made once (mode 0600), then reused.

    Safe against two processes starting at once: the file is published without clobbering,
    and the loser reads the winner's key. Raises :class:`StoreError` if it cannot be kept.
    """
    key = _read_key(path)
    if key is not None:
        return key
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise StoreError(f"creating the key folder failed: {reason(exc)}") from None
    fresh = secrets.token_bytes(KEY_BYTES)
    try:
        write_atomic(path, fresh, mode=0o600, overwrite=False)
    except FileExistsError:
        # Someone else created it meanwhile, or an unusable key is there: reread, else replace.
        key = _read_key(path)
        if key is not None:
            return key
        write_atomic(path, fresh, mode=0o600, overwrite=True)
    return fresh
