"""Removal of credentials from URLs, free text and log records before they are shown anywhere."""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable, Iterable
from urllib.parse import quote, quote_plus

MASK = "***"

_SCHEME = r"[A-Za-z][A-Za-z0-9+.\-]*"

# A plain URL's userinfo runs from "://" to the last "@" before the authority ends ("/", "?", "#"
# or whitespace). Taking the last "@" matches how FFmpeg splits a URL whose password holds a raw
# "@", and the class deliberately allows quotes and other odd characters: redacting a little too
# much is harmless, leaving half a password is not.
_PLAIN_USERINFO = re.compile(rf"(?P<head>{_SCHEME}://)(?P<userinfo>[^\s/?#]*)(?P<at>@)")

# The same URL percent-encoded once or several times (FFmpeg and HTTP libraries echo encoded URLs).
# The number of "25"s after each "%" is the encoding depth; the separators of the encoded URL all
# share the depth of its "://", so a deeper-encoded "/" or "@" inside the password is not mistaken
# for the end of the userinfo.
_ENCODED_USERINFO = re.compile(
    rf"(?P<head>{_SCHEME}%(?P<depth>(?:25)*)3[Aa]%(?P=depth)2[Ff]%(?P=depth)2[Ff])"
    r"(?P<userinfo>(?:(?!%(?P=depth)(?:2[Ff]|3[Ff]|23))[^\s/?#])*)"
    r"(?P<at>@|%(?P=depth)40)"
)

_PERCENT_ESCAPE = re.compile(r"(%[0-9A-Fa-f]{2})")
_WORD_CHARACTER = re.compile(r"\w")

# A shorter secret ("admin", "1234", a user name) is as likely to be an ordinary word of the
# message as the secret itself: masking it would garble the text and, by where the masks fall,
# tell the secret. It is still removed where it matters, inside URLs, by the userinfo rules.
MIN_FREE_TEXT_SECRET = 8


def _mask_userinfo(match: re.Match[str]) -> str:
    return f"{match['head']}{MASK}{match['at']}"


def redact_url(url: str) -> str:
    """``url`` with the credentials (userinfo) of every URL in it replaced by ``***``.

    ``rtsp://admin:pw@cam:554/s`` becomes ``rtsp://***@cam:554/s``; strings without a
    ``scheme://user@`` part (plain URLs, file paths, ``demo://``) come back unchanged.
    """
    return _ENCODED_USERINFO.sub(_mask_userinfo, _PLAIN_USERINFO.sub(_mask_userinfo, url))


def _secret_forms(secret: str) -> set[str]:
    """The spellings in which a secret shows up in URLs and messages."""
    return {secret, quote(secret, safe=""), quote(secret), quote_plus(secret)}


def _form_pattern(form: str) -> str:
    """Regex for one spelling standing as a whole token, its percent escapes in either case.

    An edge that is a word character must not touch another word character, so a secret is
    never masked inside a longer word (``token`` in ``tokenizer``).
    """
    parts = []
    for piece in _PERCENT_ESCAPE.split(form):
        if _PERCENT_ESCAPE.fullmatch(piece):
            parts.append("%" + "".join(f"[{c.upper()}{c.lower()}]" for c in piece[1:]))
        else:
            parts.append(re.escape(piece))
    before = r"(?<!\w)" if _WORD_CHARACTER.match(form[0]) else ""
    after = r"(?!\w)" if _WORD_CHARACTER.match(form[-1]) else ""
    return before + "".join(parts) + after


@functools.lru_cache(maxsize=64)
def _secrets_regex(secrets: tuple[str, ...]) -> re.Pattern[str] | None:
    forms = {
        form
        for secret in secrets
        if len(secret) >= MIN_FREE_TEXT_SECRET
        for form in _secret_forms(secret)
    }
    if not forms:
        return None
    # Longest first, so a secret that contains another one is removed whole.
    ordered = sorted(forms, key=lambda f: (-len(f), f))
    return re.compile("|".join(_form_pattern(form) for form in ordered))


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with URL credentials and every given secret replaced by ``***``.

    Each secret is removed where it stands as a whole token, as written and percent-encoded
    (``quote`` with ``safe=''``, with the default safe set, and ``quote_plus``), because error
    messages quote URLs in all these forms and sometimes show a password alone. Secrets shorter
    than :data:`MIN_FREE_TEXT_SECRET` characters are not looked for in free text (URL
    credentials are removed whatever their length); empty secrets are ignored.
    """
    redacted = redact_url(text)
    pattern = _secrets_regex(tuple(sorted({s for s in secrets if s})))
    if pattern is not None:
        redacted = pattern.sub(MASK, redacted)
    return redacted


class RedactingFilter(logging.Filter):
    """Logging filter that passes each record's message and traceback through :func:`redact_text`.

    Attach it to handlers rather than only to loggers: a logger's filters do not see records that
    propagate up from its children. It suits the ``libav`` logger through which PyAV forwards
    FFmpeg's messages, which quote camera URLs in full.
    """

    def __init__(self, secrets_provider: Callable[[], Iterable[str]] | None = None) -> None:
        super().__init__()
        self._secrets_provider = secrets_provider

    def _secrets(self) -> tuple[str, ...]:
        if self._secrets_provider is None:
            return ()
        try:
            return tuple(self._secrets_provider())
        except Exception:
            # Logging must not fail because settings are half-built; URL userinfo is still removed.
            return ()

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact the record in place; never drops a record."""
        secrets = self._secrets()
        try:
            message = record.getMessage()
        except Exception:
            # A bad format/args pair would otherwise be reported by Handler.handleError, which
            # prints the raw args; keep them, redacted, so the mistake stays visible.
            message = f"{record.msg} {record.args!r}"
        record.msg = redact_text(message, secrets)
        record.args = ()
        if record.exc_info and not record.exc_text:
            # Formatters reuse a pre-filled exc_text, so the traceback they print is this one.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text, secrets)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info, secrets)
        return True
