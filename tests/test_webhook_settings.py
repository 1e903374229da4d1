"""WEBHOOK_URLS and WEBHOOK_SECRET: parsed, checked with clear messages, never shown in full."""

from __future__ import annotations

import pytest

from vms_desktop.settings import SettingsError, load_settings
from vms_desktop.settings.model import Settings


def load(**environ: str) -> Settings:
    return load_settings(env_files=[], environ=environ)


def test_urls_are_split_trimmed_and_deduplicated() -> None:
    settings = load(
        WEBHOOK_URLS=" https://a.example/hook , http://127.0.0.1:9000/x?k=1,,https://a.example/hook"
    )
    assert settings.webhook_urls == ("https://a.example/hook", "http://127.0.0.1:9000/x?k=1")
    assert load().webhook_urls == ()


def test_credentials_in_urls_and_the_secret_are_hidden_and_redacted() -> None:
    settings = load(
        WEBHOOK_URLS="https://hooks:pw-Zq81-long@a.example/hook",
        WEBHOOK_SECRET="Hq3-Zt8_wN5pK1vR6yB2",
    )
    shown = dict(settings.describe())
    assert shown["WEBHOOK_URLS"] == "https://***@a.example/hook"
    assert shown["WEBHOOK_SECRET"] == "(set, hidden)"
    assert {"pw-Zq81-long", "Hq3-Zt8_wN5pK1vR6yB2"} <= set(settings.secret_values())
    assert "pw-Zq81-long" not in repr(settings)
    assert "pw-Zq81-long" not in str(settings.model_dump())


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        (
            {"WEBHOOK_URLS": "https://a.example,ftp://b.example"},
            "WEBHOOK_URLS: URL 2 is not an http",
        ),
        ({"WEBHOOK_URLS": "https://a.example/x#frag"}, "URL 1 has a fragment"),
        ({"WEBHOOK_URLS": "https://a .example"}, "URL 1 contains spaces"),
        ({"WEBHOOK_SECRET": "short-key"}, "WEBHOOK_SECRET: is shorter than 16 characters"),
        ({"WEBHOOK_SECRET": "abababababababababab"}, "too easy to guess for a signing key"),
        ({"WEBHOOK_SECRET": "with spaces in the key"}, "contains spaces"),
    ],
)
def test_bad_values_are_refused_saying_what_is_allowed(
    environ: dict[str, str], message: str
) -> None:
    with pytest.raises(SettingsError) as refused:
        load(**environ)
    text = str(refused.value)
    assert message in text and "allowed:" in text
    secret = environ.get("WEBHOOK_SECRET")
    assert secret is None or secret not in text
