"""Headers a third-party receiver parses: syslog HOSTNAME, email Date and Message-ID.

Each message goes through a real receiver (a UDP socket for syslog, aiosmtpd
for email) and is parsed there with the standard library, the way a collector
or a mail client reads it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import ssl
import time
from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest

from alerting.alert import Severity
from alerting.channels.email import EmailChannel, message_id_domain
from alerting.channels.syslog import SyslogChannel
from tests.test_channels import alert, smtp_server

CLOUD_HOST = "ip-10-20-30-40.eu-west-1.compute.internal"  # 41 characters


def syslog_hostname_received(hostname: str) -> str:
    """HOSTNAME as a collector on 127.0.0.1 parses it (the third field of the header)."""
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(10)
    port = receiver.getsockname()[1]
    try:
        channel = SyslogChannel(address=f"udp://127.0.0.1:{port}")

        async def send() -> None:  # in one event loop, as the agent's channels live
            await channel.send([dataclasses.replace(alert(), hostname=hostname)])
            await channel.close()

        asyncio.run(send())
        data = receiver.recv(65536).decode("ascii")
    finally:
        receiver.close()
    version, _stamp, host, *_ = data.split(" ")
    assert version.endswith(">1")
    return host


def test_syslog_keeps_a_cloud_fqdn_whole() -> None:
    assert syslog_hostname_received(CLOUD_HOST) == CLOUD_HOST


def test_syslog_hostname_is_cut_at_the_rfc5424_limit_of_255() -> None:
    long_name = ".".join(["a" * 63] * 5)  # 319 characters
    assert syslog_hostname_received(long_name) == long_name[:255]
    assert syslog_hostname_received("") == "-"  # NILVALUE, never an empty field


@pytest.fixture
def india_time(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process in a zone that is not UTC, so that an offset cannot be right by chance."""
    monkeypatch.setenv("TZ", "IST-5:30")  # POSIX form: needs no tz database
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def received_mail(certificate: tuple[Path, Path], hostname: str) -> tuple[str, str]:
    """(Date, Message-ID) of one alert mailed through a real SMTP server."""
    cert, key = certificate
    controller, received, _ = smtp_server(cert, key, starttls=True)
    channel = EmailChannel(
        "127.0.0.1",
        controller.port,
        username="alerts",
        password="pw",
        sender="Sysops Agent <agent@mail.example.org>",
        recipients=["oncall@example.com"],
        min_severity=Severity.INFO,
        tls_context=ssl.create_default_context(cafile=str(cert)),
        hostname=hostname,
    )
    try:
        asyncio.run(channel.send([alert()]))
    finally:
        controller.stop()
    ((envelope, _),) = received
    mail = message_from_bytes(envelope.content)
    return mail["Date"], mail["Message-ID"]


def test_email_date_carries_the_real_utc_offset(
    certificate: tuple[Path, Path], india_time: None
) -> None:
    before = time.time()
    date, _ = received_mail(certificate, CLOUD_HOST)
    assert not date.endswith("-0000")  # RFC 5322: "-0000" means the zone is unknown
    sent = parsedate_to_datetime(date)
    assert sent.utcoffset() == timedelta(hours=5, minutes=30)
    assert before - 1 <= sent.timestamp() <= time.time() + 1  # the offset matches the clock


def test_email_message_id_is_on_the_hosts_domain(certificate: tuple[Path, Path]) -> None:
    _, fqdn_id = received_mail(certificate, CLOUD_HOST)
    assert fqdn_id.startswith("<") and fqdn_id.endswith(f"@{CLOUD_HOST}>")
    # A short hostname is no domain: the sender address's domain stands in.
    _, short_id = received_mail(certificate, "web-01")
    assert short_id.endswith("@mail.example.org>")


@pytest.mark.parametrize(
    ("hostname", "sender", "domain"),
    [
        ("db-1.example.net", "a@b.example", "db-1.example.net"),
        ("DB-1.Example.NET.", "a@b.example", "db-1.example.net"),  # root dot, any case
        ("web-01", "Agent <agent@example.com>", "example.com"),
        ("10.0.0.7", "agent@example.com", "example.com"),  # an IPv4 address is not a domain
        ("bad_label.example", "agent@example.com", "example.com"),
        ("-x.example", "agent@example.com", "example.com"),
        ("web-01", "not an address", "localhost.localdomain"),
    ],
)
def test_message_id_domain(hostname: str, sender: str, domain: str) -> None:
    assert message_id_domain(hostname, sender) == domain
