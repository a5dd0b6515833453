"""config/fleet.example.toml: valid against the fleet watcher's schema, every [fleet] key
written with its default and explained, secrets only from the environment."""

from __future__ import annotations

import re
from dataclasses import fields

import pytest

from common.config import ConfigError, parse_document
from common.schema import schema_keys
from fleet.settings import FleetSection, FleetSettings
from tests.conftest import REPO

EXAMPLE = REPO / "config/fleet.example.toml"
ENV = {
    "NATS_TOKEN": "tok",
    "FLEET_WEBHOOK_URL": "https://alerts.example.com/in",
    "FLEET_WEBHOOK_TOKEN": "wt",
    "FLEET_WEBHOOK_HMAC": "hm",
}


def test_fleet_example_is_valid() -> None:
    parsed = parse_document(EXAMPLE.read_text(), FleetSettings, str(EXAMPLE), environ=ENV)
    settings = parsed.settings
    assert isinstance(settings, FleetSettings)
    assert settings.alerting.webhook.enabled and settings.alerting.syslog.enabled
    assert settings.alerting.webhook.headers["Authorization"].reveal() == "Bearer wt"
    assert settings.nats.token is not None and settings.nats.token.reveal() == "tok"
    assert not parsed.has_literal_secrets  # every secret is a ${NAME} reference


def test_every_fleet_key_is_in_the_example_with_its_default_and_a_comment() -> None:
    text = EXAMPLE.read_text()
    settings = parse_document(text, FleetSettings, str(EXAMPLE), environ=ENV).settings
    defaults = FleetSection()
    lines = text.splitlines()
    for key in schema_keys(FleetSettings):
        section, _, name = key.path.rpartition(".")
        if section != "fleet":
            continue
        # Written as a key (or, for the per-machine instance name, as a commented key).
        found = [i for i, line in enumerate(lines) if re.match(rf"^(# )?{name} = ", line)]
        assert found, f"fleet.{name} is not in {EXAMPLE.name}"
        above = found[0] - 1
        while re.match(r"^\w+ = ", lines[above]):  # a block of keys under one comment
            above -= 1
        assert lines[above].startswith("#"), f"fleet.{name} has no comment above it"
    for f in fields(FleetSection):
        if f.name != "instance":
            assert getattr(settings.fleet, f.name) == getattr(defaults, f.name), f.name


def test_a_missing_secret_is_named() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_document(EXAMPLE.read_text(), FleetSettings, str(EXAMPLE), environ={})
    text = str(caught.value)
    assert "NATS_TOKEN" in text and "FLEET_WEBHOOK_TOKEN" in text


def test_a_nats_url_nats_py_cannot_use_is_refused_where_it_is_written() -> None:
    """`http://127.0.0.1:4222` passed --validate and was "DNS lookup failed" at the first
    connection; a bad port, "invalid connect url option" (a new user's trial)."""
    from agent.config import parse_config_text

    refused = {
        "http://127.0.0.1:4222": "scheme 'http': a NATS URL is nats://, tls://, ws:// or wss://",
        "nats://127.0.0.1:49355x": "the port is not a number from 0 to 65535",
        "nats://127.0.0.1:99999": "the port is not a number from 0 to 65535",
        "nats://:4222": "no host",
    }
    for url, said in refused.items():
        text = f'[nats]\nurl = "{url}"\n'
        with pytest.raises(ConfigError, match=re.escape(f"t.toml:2: nats.url: {said}")):
            parse_document(text, FleetSettings, "t.toml")
        with pytest.raises(ConfigError, match=re.escape("nats.urls[1]: " + said)):
            parse_config_text(f'[nats]\nurls = ["nats://127.0.0.1:4222", "{url}"]\n', "t.toml")
    for url in ("nats://127.0.0.1:4222", "tls://nats.example:4222", "127.0.0.1:4222",
                "wss://nats.example", "nats://user:pw@[::1]:4222"):  # fmt: skip
        parse_document(f'[nats]\nurl = "{url}"\n', FleetSettings, "t.toml")
