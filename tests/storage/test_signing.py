"""Signed local clip URLs: round trip, expiry, tampering, the clip's content, the key file."""

from __future__ import annotations

import hmac
import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from vms_desktop.domain.errors import StoreError
from vms_desktop.domain.store_state import MAX_URL_EXPIRY
from vms_desktop.storage.signing import (
    CONTENT_DIGITS,
    KEY_BYTES,
    UrlSigner,
    content_tag,
    load_or_create_key,
)

KEY = bytes(range(32))
PATH = "/clips/_files/event-123.mp4"
NOW = datetime(2025, 5, 31, 10, 30, tzinfo=UTC)
SHA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
CONTENT = content_tag(SHA)


def signed(
    signer: UrlSigner, path: str, expires_at: datetime, content: str = CONTENT
) -> tuple[str, str]:
    query = parse_qs(signer.sign(path, expires_at, content), strict_parsing=True)
    assert set(query) == {"expires", "content", "signature"}
    assert query["content"] == [content]
    return query["expires"][0], query["signature"][0]


def test_round_trip() -> None:
    signer = UrlSigner(KEY)
    expires, signature = signed(signer, PATH, NOW + timedelta(hours=2))
    assert expires == str(int((NOW + timedelta(hours=2)).timestamp()))
    assert "=" not in signature and "+" not in signature and "/" not in signature
    assert signer.verify(PATH, expires, CONTENT, signature, now=NOW)


def test_the_signature_is_hmac_sha256_of_method_path_expiry_and_content() -> None:
    import base64
    import hashlib

    expires, signature = signed(UrlSigner(KEY), PATH, NOW + timedelta(minutes=5))
    message = f"GET\n{PATH}\n{expires}\n{CONTENT}".encode()
    digest = hmac.new(KEY, message, hashlib.sha256).digest()
    assert signature == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def test_expiry() -> None:
    signer = UrlSigner(KEY)
    expires_at = NOW + timedelta(minutes=1)
    expires, signature = signed(signer, PATH, expires_at)
    assert signer.verify(PATH, expires, CONTENT, signature, now=expires_at - timedelta(seconds=1))
    assert not signer.verify(PATH, expires, CONTENT, signature, now=expires_at)
    assert not signer.verify(PATH, expires, CONTENT, signature, now=expires_at + timedelta(days=1))


def test_the_maximum_expiry_verifies_but_a_far_future_one_does_not() -> None:
    signer = UrlSigner(KEY)
    expires, signature = signed(signer, PATH, NOW + MAX_URL_EXPIRY)
    assert signer.verify(PATH, expires, CONTENT, signature, now=NOW)
    # Signed with our key but far beyond what we ever issue: refused anyway.
    expires, signature = signed(signer, PATH, NOW + MAX_URL_EXPIRY + timedelta(days=1))
    assert not signer.verify(PATH, expires, CONTENT, signature, now=NOW)


@pytest.mark.parametrize(
    "path",
    [
        "/clips/_files/event-124.mp4",
        "/clips/_files/event-123.mp4x",
        "/clips/_files/EVENT-123.mp4",
        "/clips/_files/event-123.mp4/",
        "/clips/_files/../_files/event-123.mp4",
        "/clips/_files/event-123.mp4\n",
    ],
)
def test_a_signature_covers_only_its_path(path: str) -> None:
    signer = UrlSigner(KEY)
    expires, signature = signed(signer, PATH, NOW + timedelta(hours=1))
    assert not signer.verify(path, expires, CONTENT, signature, now=NOW)


def test_a_signature_covers_only_its_content() -> None:
    signer = UrlSigner(KEY)
    expires, signature = signed(signer, PATH, NOW + timedelta(hours=1))
    other = content_tag("0" * 64)
    assert not signer.verify(PATH, expires, other, signature, now=NOW)
    assert signer.verify(PATH, expires, CONTENT, signature, now=NOW)


def test_content_tags_are_a_prefix_of_the_sha256() -> None:
    assert content_tag(SHA) == "9f86d081884c7d65" and CONTENT_DIGITS == 16
    assert content_tag(SHA.upper()) == CONTENT
    for bad in ("", "xyz", "g" * 64, SHA[:10]):
        with pytest.raises(ValueError):
            content_tag(bad)
    with pytest.raises(ValueError):
        UrlSigner(KEY).sign(PATH, NOW, "not-a-tag")


@pytest.mark.parametrize(
    "content",
    [
        "",
        None,
        CONTENT.upper(),
        CONTENT + "0",
        CONTENT[:-1],
        " " + CONTENT,
        "\uff10" * 16,
        "é" * 16,
    ],
)
def test_malformed_content_is_refused(content: str | None) -> None:
    signer = UrlSigner(KEY)
    expires, signature = signed(signer, PATH, NOW + timedelta(hours=1))
    assert not signer.verify(PATH, expires, content, signature, now=NOW)


def test_tampered_expiry_is_refused() -> None:
    signer = UrlSigner(KEY)
    expires, signature = signed(signer, PATH, NOW + timedelta(hours=1))
    later = str(int(expires) + 3600)
    assert not signer.verify(PATH, later, CONTENT, signature, now=NOW)
    assert not signer.verify(PATH, "0" + expires, CONTENT, signature, now=NOW)


def test_tampered_signature_is_refused() -> None:
    signer = UrlSigner(KEY)
    expires, signature = signed(signer, PATH, NOW + timedelta(hours=1))
    flipped = ("B" if signature[0] == "A" else "A") + signature[1:]
    for bad in (flipped, signature[:-1], signature + "A", signature + "=", signature.upper()):
        assert not signer.verify(PATH, expires, CONTENT, bad, now=NOW), bad


def test_another_key_does_not_verify() -> None:
    expires, signature = signed(UrlSigner(KEY), PATH, NOW + timedelta(hours=1))
    assert not UrlSigner(bytes(32)).verify(PATH, expires, CONTENT, signature, now=NOW)


@pytest.mark.parametrize(
    "expires",
    [
        "",
        "abc",
        "-1",
        "+1748687400",
        "1748687400.0",
        "1e10",
        " 1748687400",
        "1748687400 ",
        "\u0661\u0667\u0664\u0668\u0666\u0668\u0667\u0664\u0660\u0660",  # Arabic-Indic digits
        "9" * 40,
        None,
    ],
)
def test_malformed_expiry_is_refused(expires: str | None) -> None:
    signer = UrlSigner(KEY)
    _, signature = signed(signer, PATH, NOW + timedelta(hours=1))
    assert not signer.verify(PATH, expires, CONTENT, signature, now=NOW)


@pytest.mark.parametrize(
    "signature", ["", "x", "é" * 43, "\x00" * 43, "A" * 10_000, "A" * 42 + "\uff21", None]
)
def test_malformed_signature_is_refused(signature: str | None) -> None:
    signer = UrlSigner(KEY)
    expires, _ = signed(signer, PATH, NOW + timedelta(hours=1))
    assert not signer.verify(PATH, expires, CONTENT, signature, now=NOW)


def test_odd_paths_never_raise() -> None:
    signer = UrlSigner(KEY)
    expires, signature = signed(signer, PATH, NOW + timedelta(hours=1))
    for path in ("", "\ud800", "\x00", "x" * 1_000_000):
        assert not signer.verify(path, expires, CONTENT, signature, now=NOW)


def test_signatures_are_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[object, object]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    signer = UrlSigner(KEY)
    expires, signature = signed(signer, PATH, NOW + timedelta(hours=1))
    assert signer.verify(PATH, expires, CONTENT, signature, now=NOW)
    assert not signer.verify("/other", expires, CONTENT, signature, now=NOW)
    assert len(calls) == 2


def test_naive_expiry_is_refused_when_signing() -> None:
    with pytest.raises(ValueError):
        UrlSigner(KEY).sign(PATH, datetime(2025, 5, 31, 10, 30), CONTENT)


def test_short_keys_are_refused_and_keys_never_shown() -> None:
    with pytest.raises(ValueError):
        UrlSigner(b"short")
    assert KEY.hex() not in repr(UrlSigner(KEY)) and str(KEY) not in repr(UrlSigner(KEY))


def test_key_file_is_created_private_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "state" / "url-signing.key"
    key = load_or_create_key(path)
    assert len(key) == KEY_BYTES
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes() == key
    assert load_or_create_key(path) == key
    assert [p.name for p in path.parent.iterdir()] == ["url-signing.key"]  # no temp left
    assert load_or_create_key(tmp_path / "other.key") != key


def test_key_file_permissions_are_tightened(tmp_path: Path) -> None:
    path = tmp_path / "url-signing.key"
    key = load_or_create_key(path)
    os.chmod(path, 0o644)
    assert load_or_create_key(path) == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_malformed_key_file_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "url-signing.key"
    path.write_bytes(b"too short")
    key = load_or_create_key(path)
    assert len(key) == KEY_BYTES and path.read_bytes() == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_symlinked_key_file_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.write_bytes(bytes(32))
    path = tmp_path / "url-signing.key"
    path.symlink_to(outside)
    with pytest.raises(StoreError, match="symbolic link"):
        load_or_create_key(path)
    assert outside.read_bytes() == bytes(32)
