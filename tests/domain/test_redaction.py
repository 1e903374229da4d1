"""Credentials are removed from URLs, free text (FFmpeg messages) and log records."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from urllib.parse import quote, quote_plus

import pytest

from vms_desktop.domain.camera import CameraConfig
from vms_desktop.domain.redaction import RedactingFilter, redact_text, redact_url

PASSWORD = "s3cr/t@p w%d"
URL = f"rtsp://admin:{quote(PASSWORD, safe='')}@cam-01:554/stream?ch=1"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("rtsp://admin:pw@cam:554/s", "rtsp://***@cam:554/s"),
        ("rtsps://admin@cam/s", "rtsps://***@cam/s"),
        ("rtsp://:pw@cam", "rtsp://***@cam"),
        ("RTSP://Admin:PW@cam", "RTSP://***@cam"),
        ("rtsp://admin:p@ss@cam/s", "rtsp://***@cam/s"),
        ("rtsp://admin:p%40ss@cam/s", "rtsp://***@cam/s"),
        ("http://user:pw@[::1]:8080/x?y=1#z", "http://***@[::1]:8080/x?y=1#z"),
        ("rtsp://cam:554/stream", "rtsp://cam:554/stream"),
        ("http://cam/snap@2x.jpg", "http://cam/snap@2x.jpg"),
        ("demo://?width=1280&height=720", "demo://?width=1280&height=720"),
        ("/home/user@host/video.mp4", "/home/user@host/video.mp4"),
        ("C:\\Videos\\a@b.mp4", "C:\\Videos\\a@b.mp4"),
        ("user@example.com", "user@example.com"),
        ("", ""),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_redact_url_is_idempotent() -> None:
    once = redact_url("rtsp://admin:pw@cam/s")
    assert redact_url(once) == once


def test_camera_display_url_uses_redaction() -> None:
    camera = CameraConfig(id="cam01", url="rtsp://admin:hunter2@cam/s")
    assert camera.display_url == "rtsp://***@cam/s"
    assert "hunter2" not in repr(camera)


@pytest.mark.parametrize(
    "message",
    [
        "[rtsp @ 0x55d0] method DESCRIBE failed: 401 Unauthorized rtsp://admin:hunter2@cam/s",
        "Error opening input file 'rtsp://admin:hunter2@cam:554/s'.",
        'Input #0, rtsp, from "rtsp://admin:hunter2@cam/s":',
        "could not open rtsp%3A%2F%2Fadmin%3Ahunter2%40cam%2Fs",
        "could not open rtsp%3a%2f%2fadmin%3ahunter2%40cam%2fs",
        "double: rtsp%253A%252F%252Fadmin%253Ahunter2%2540cam%252Fs",
        "two urls rtsp://a:hunter2@x/1 and http://b:hunter2@y/2 end",
        "multi\nline rtsp://admin:hunter2@cam/s\nnext",
    ],
)
def test_redact_text_removes_url_credentials(message: str) -> None:
    redacted = redact_text(message)
    assert "hunter2" not in redacted
    assert "***" in redacted


def test_redact_text_keeps_the_rest_of_the_message() -> None:
    text = "[tcp @ 0x55] Connection to tcp://cam:554?timeout=0 failed: Connection refused"
    assert redact_text(text) == text
    assert (
        redact_text("open rtsp://admin:pw@cam/s failed: 401") == "open rtsp://***@cam/s failed: 401"
    )


def test_encoded_url_with_deeper_encoded_password_is_redacted_whole() -> None:
    # The password "p/w@x" inside an encoded URL is encoded one level deeper than the URL itself.
    text = "url=rtsp%3A%2F%2Fadmin%3Ap%252Fw%2540x%40cam%2Fs end"
    assert redact_text(text) == "url=rtsp%3A%2F%2F***%40cam%2Fs end"


@pytest.mark.parametrize(
    "form",
    [
        PASSWORD,
        quote(PASSWORD, safe=""),
        quote(PASSWORD),
        quote_plus(PASSWORD),
        quote(PASSWORD, safe="").lower(),
    ],
)
def test_redact_text_removes_secret_in_every_form(form: str) -> None:
    text = f"auth failed for password {form} (retrying)"
    redacted = redact_text(text, [PASSWORD])
    assert form not in redacted
    assert redacted == "auth failed for password *** (retrying)"


def test_redact_text_secret_alone_and_inside_url() -> None:
    text = f"connect {URL}; server said: wrong password '{PASSWORD}'"
    redacted = redact_text(text, [PASSWORD])
    assert PASSWORD not in redacted
    assert quote(PASSWORD, safe="") not in redacted
    assert (
        redacted == "connect rtsp://***@cam-01:554/stream?ch=1; server said: wrong password '***'"
    )


def test_redact_text_ignores_empty_secrets_and_accepts_generators() -> None:
    assert redact_text("nothing to hide", ["", ""]) == "nothing to hide"
    assert redact_text("key AKIA1234567 here", (s for s in ["AKIA1234567"])) == "key *** here"


def test_longer_secret_removed_whole_when_it_contains_a_shorter_one() -> None:
    text = "token abcdefgh-12345678"
    assert redact_text(text, ["abcdefgh", "abcdefgh-12345678"]) == "token ***"


def test_secret_with_regex_characters_is_literal() -> None:
    assert redact_text("a.b.c.d.e and axbxcxdxe", ["a.b.c.d.e"]) == "*** and axbxcxdxe"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Bearer Tok3nValue9 refused", "Bearer *** refused"),
        ("token=Tok3nValue9&x=1", "token=***&x=1"),
        ("'Tok3nValue9'", "'***'"),
        ("(Tok3nValue9)", "(***)"),
        ("Tok3nValue9", "***"),
        ("xTok3nValue9 and Tok3nValue9x", "xTok3nValue9 and Tok3nValue9x"),
        ("Tok3nValue9_backup", "Tok3nValue9_backup"),
        ("ÉTok3nValue9", "ÉTok3nValue9"),
    ],
)
def test_a_secret_is_masked_only_where_it_stands_whole(text: str, expected: str) -> None:
    assert redact_text(text, ["Tok3nValue9"]) == expected


def test_edges_that_are_not_word_characters_need_no_boundary() -> None:
    # The secret's own "-" or "@" edge already separates it from what is around it.
    assert redact_text("x-s3cretpw-x", ["-s3cretpw-"]) == "x***x"
    assert redact_text("pw@s3cretpw done", ["@s3cretpw"]) == "pw*** done"


@pytest.mark.parametrize("secret", ["a", "admin", "1234", "hunter2"])
def test_short_secrets_are_not_searched_in_free_text(secret: str) -> None:
    text = f"a cat sat on a mat; administrator 12345 says hunter2 is {secret}"
    assert redact_text(text, [secret]) == text
    # Inside URLs they are removed whatever their length.
    url = f"rtsp://admin:{secret}@cam/s failed"
    assert redact_text(url, [secret]) == "rtsp://***@cam/s failed"


def test_a_one_letter_api_token_no_longer_garbles_logs(
    captured: tuple[logging.Logger, list[str]],
) -> None:
    logger, lines = captured
    handler = logger.handlers[0]
    handler.filters.clear()
    handler.addFilter(RedactingFilter(lambda: ["a"]))
    logger.warning("camera cam01 has reconnected after a gap")
    assert lines == ["WARNING camera cam01 has reconnected after a gap"]


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, list[str]]]:
    logger = logging.getLogger("test.redaction.libav")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    lines: list[str] = []

    class ListHandler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = ListHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    handler.addFilter(RedactingFilter(lambda: [PASSWORD, "AKIASECRET"]))
    logger.addHandler(handler)
    try:
        yield logger, lines
    finally:
        logger.removeHandler(handler)


def test_filter_redacts_formatted_message(captured: tuple[logging.Logger, list[str]]) -> None:
    logger, lines = captured
    logger.warning("opening %s failed (key %s, pw %s)", URL, "AKIASECRET", PASSWORD)
    assert lines == ["WARNING opening rtsp://***@cam-01:554/stream?ch=1 failed (key ***, pw ***)"]


def test_filter_redacts_tracebacks(captured: tuple[logging.Logger, list[str]]) -> None:
    logger, lines = captured
    try:
        raise ConnectionError(f"cannot reach {URL} with {PASSWORD}")
    except ConnectionError:
        logger.exception("camera failed")
    assert len(lines) == 1
    assert "ConnectionError" in lines[0]
    assert PASSWORD not in lines[0]
    assert quote(PASSWORD, safe="") not in lines[0]


def test_filter_survives_bad_format_arguments(captured: tuple[logging.Logger, list[str]]) -> None:
    logger, lines = captured
    logger.error("two placeholders %s %s", PASSWORD)
    assert len(lines) == 1
    assert PASSWORD not in lines[0]


def test_filter_survives_failing_provider() -> None:
    def broken() -> list[str]:
        raise RuntimeError("settings not ready")

    record = logging.LogRecord("libav", logging.ERROR, __file__, 1, "%s", (URL,), None)
    assert RedactingFilter(broken).filter(record)
    assert record.getMessage() == "rtsp://***@cam-01:554/stream?ch=1"


def test_filter_without_provider_still_removes_url_credentials() -> None:
    record = logging.LogRecord("libav", logging.INFO, __file__, 1, "open %s", (URL,), None)
    assert RedactingFilter().filter(record)
    assert record.getMessage() == "open rtsp://***@cam-01:554/stream?ch=1"
