"""The MQTT settings: broker URL forms, CA file, topic prefix, and credentials never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from vms_desktop.settings import Settings, SettingsError


def test_broker_url_forms_and_defaults(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    plain = Settings(MQTT_URL="mqtt://bob:pa%40ss-word-9@broker.lan").mqtt_broker
    assert plain is not None
    assert (plain.host, plain.port, plain.tls, plain.username, plain.password) == (
        "broker.lan",
        1883,
        False,
        "bob",
        "pa@ss-word-9",
    )
    tls = Settings(MQTT_URL=f"mqtts://broker.lan?ca={ca}").mqtt_broker
    assert tls is not None and (tls.port, tls.tls, tls.ca_file, tls.username) == (
        8883,
        True,
        ca,
        None,
    )
    separate = Settings(MQTT_URL="mqtts://broker.lan:9883", MQTT_CA_FILE=str(ca)).mqtt_broker
    assert separate is not None and (separate.port, separate.ca_file) == (9883, ca)
    settings = Settings()
    assert settings.mqtt_broker is None
    assert (settings.mqtt_topic_prefix, settings.mqtt_ha_discovery) == ("vms", False)
    assert Settings(MQTT_TOPIC_PREFIX=" /site-1/vms/ ").mqtt_topic_prefix == "site-1/vms"
    assert Settings(MQTT_HA_DISCOVERY="yes").mqtt_ha_discovery is True


def test_credentials_never_shown() -> None:
    settings = Settings(MQTT_URL="mqtt://bob:Very-Secret-77@broker.lan:1884")
    rows = dict(settings.describe())
    assert rows["MQTT_URL"] == "mqtt://***@broker.lan:1884"
    assert "Very-Secret-77" not in repr(settings)
    assert "Very-Secret-77" not in str(settings.model_dump())
    assert "Very-Secret-77" not in repr(settings.mqtt_broker)
    assert "Very-Secret-77" in settings.secret_values()


@pytest.mark.parametrize(
    ("values", "variable", "words"),
    [
        ({"MQTT_URL": "http://broker.lan"}, "MQTT_URL", "mqtt:// or mqtts://"),
        ({"MQTT_URL": "mqtt://u:Secret-Word-1@broker.lan/x"}, "MQTT_URL", "has a path"),
        ({"MQTT_URL": "mqtts://u:Secret-Word-1@h?ca=/no/such.pem"}, "MQTT_URL", "CA file"),
        ({"MQTT_URL": "mqtt://u:Secret-Word-1@h?ca=/etc/hostname"}, "MQTT_URL", "mqtts://"),
        ({"MQTT_URL": "mqtt://h", "MQTT_CA_FILE": "/etc/hostname"}, "MQTT_CA_FILE", "mqtts://"),
        ({"MQTT_TOPIC_PREFIX": "vms/#"}, "MQTT_TOPIC_PREFIX", "wildcard"),
        ({"MQTT_TOPIC_PREFIX": "a//b"}, "MQTT_TOPIC_PREFIX", "empty level"),
        ({"MQTT_CLIENT_ID": "two words"}, "MQTT_CLIENT_ID", "not allowed"),
    ],
)
def test_bad_values_are_named(values: dict[str, str], variable: str, words: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings(**values)
    text = str(caught.value)
    assert f"{variable}: " in text and words in text
    assert "Secret-Word-1" not in text
