"""Every error names its cause in one line (#15, item 5), against real servers.

nats-py raises a bare TimeoutError when its connection attempts fail ("TimeoutError: ;
retrying" was the log line); the reason it gives only to its error callback
(refused, DNS, certificate, credentials, no answer) is what the agent says now.
A certificate failure is said at error level once per episode, then at debug
level until the server's certificate is accepted again: on NATS and on the web
channels (an HTTPS server whose certificate the system store does not know).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from alerting.alert import Alert, Severity, Status
from alerting.channels.base import DeliveryError
from alerting.channels.nats import NatsChannel, NatsConnection
from alerting.channels.tls import verified_context
from alerting.channels.webhook import WebhookChannel
from alerting.delivery import ChannelWorker
from tests.conftest import wait_until
from tests.test_http import KeepAlive, tls_server_context, trust
from tests.test_http import server as https_server
from tests.test_nats_channel import accepting, free_port, nats_server_binary

ALERT = Alert(analyzer="threshold", metric="disk_used_percent", labels=(), status=Status.FIRING,
              severity=Severity.WARN, value=91.0, threshold=90.0, message="disk / is 91 % full",
              timestamp=1_700_000_000.0, hostname="h")  # fmt: skip


def send_error(connection: NatsConnection) -> str:
    """The channel's error for one send over `connection` (which must fail)."""

    async def attempt() -> str:
        channel = NatsChannel([], "h", connection=connection)
        try:
            await channel.send([ALERT])
        except DeliveryError as exc:
            return str(exc)
        finally:
            await connection.close()
        raise AssertionError("the send succeeded")

    return asyncio.run(attempt())


def nats_logs(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records if r.name.startswith("alerting")]


@pytest.fixture
def server(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[int]:
    """A nats-server started with the extra arguments the test names; its port."""
    port = free_port()
    process = subprocess.Popen(
        [nats_server_binary(), "-a", "127.0.0.1", "-p", str(port), *request.param],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_until(lambda: accepting(port), 10, f"nats-server on port {port}")
    try:
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_refused_and_dns_are_named(caplog: pytest.LogCaptureFixture) -> None:
    closed = free_port()  # nothing listens there
    with caplog.at_level(logging.WARNING):
        error = send_error(NatsConnection([f"nats://127.0.0.1:{closed}"], connect_timeout=0.5))
        dns = send_error(NatsConnection(["nats://no-such-host.invalid:4222"], connect_timeout=0.5))
    assert error == "cannot connect to NATS: connection refused"
    assert dns.startswith("cannot connect to NATS: DNS lookup failed: ")
    logged = [text for _, text in nats_logs(caplog)]
    assert "NATS: connection refused; retrying" in logged
    assert not [text for text in logged if ": ;" in text or "TimeoutError" in text], logged


def test_a_server_that_never_answers_is_named(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as silent:  # accepts connections, says nothing (a firewall's blackhole)
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        port = silent.getsockname()[1]
        with caplog.at_level(logging.WARNING):
            error = send_error(NatsConnection([f"nats://127.0.0.1:{port}"], connect_timeout=0.5))
    assert error == "cannot connect to NATS: no answer from the server within 0.5 s"
    assert (logging.WARNING, "NATS: no answer from the server within 0.5 s; retrying") in nats_logs(
        caplog
    )


@pytest.mark.parametrize("server", [["--auth", "right-token"]], indirect=True)
def test_wrong_credentials_are_named(server: int, caplog: pytest.LogCaptureFixture) -> None:
    connection = NatsConnection(
        [f"nats://127.0.0.1:{server}"], token="wrong-token", connect_timeout=0.5
    )
    with caplog.at_level(logging.WARNING):
        error = send_error(connection)
    assert error == (
        "cannot connect to NATS: the server refused the credentials (Authorization Violation)"
    )
    assert "wrong-token" not in caplog.text


@pytest.fixture
def tls_server(tmp_path: Path, certificate: tuple[Path, Path]) -> Iterator[int]:
    port = free_port()
    cert, key = certificate
    process = subprocess.Popen(
        [nats_server_binary(), "-a", "127.0.0.1", "-p", str(port),
         "--tls", "--tlscert", str(cert), "--tlskey", str(key)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    wait_until(lambda: accepting(port), 10, f"nats-server on port {port}")
    try:
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_a_certificate_failure_is_one_error_per_episode(
    tls_server: int, certificate: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    # The system store does not know the server's self-signed certificate.
    context = ssl.create_default_context()
    connection = NatsConnection(
        [f"tls://localhost:{tls_server}"], tls=context, connect_timeout=0.5, reconnect_delay=0.05
    )

    async def scenario() -> tuple[list[str], bool]:
        errors = []
        for _ in range(3):  # three deliveries fail, each after several connect attempts
            try:
                await connection.get()
            except ConnectionError as exc:
                errors.append(str(exc))
        context.load_verify_locations(certificate[0])  # the operator fixes the trust
        client = await connection.get()
        connected = bool(client.is_connected)
        await connection.close()
        return errors, connected

    with caplog.at_level(logging.DEBUG, logger="alerting.channels.nats"):
        errors, connected = asyncio.run(scenario())
    assert connected
    assert set(errors) == {"certificate verify failed: self-signed certificate"}, errors
    logged = nats_logs(caplog)
    said = [(level, text) for level, text in logged if "certificate verify failed" in text]
    assert [level for level, _ in said].count(logging.ERROR) == 1, logged
    assert len(said) > 1 and all(level == logging.DEBUG for level, _ in said[1:]), logged
    assert said[0][1].startswith("NATS: certificate verify failed: self-signed certificate")
    assert (logging.INFO, "NATS: the server's certificate is accepted again") in logged


def self_signed(directory: Path) -> tuple[Path, Path]:
    """Another self-signed certificate for localhost (the server's before its renewal)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_path, key_path = directory / "old-cert.pem", directory / "old-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_a_web_channel_certificate_failure_is_one_error_per_episode(
    tmp_path: Path,
    certificate: tuple[Path, Path],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    trust(monkeypatch, certificate[0])  # the agent trusts the server's new certificate ...
    receiver = KeepAlive()
    served = tls_server_context(self_signed(tmp_path))  # ... but the server still has an old one

    async def scenario() -> ChannelWorker:
        async with https_server(receiver, served) as port:
            channel = WebhookChannel(f"https://localhost:{port}/hook", retry_count=2)
            worker = ChannelWorker(channel, backoff_base=0.01, group_wait=0.0, park_secs=0.05)
            worker.start()
            worker.submit(dataclasses.replace(ALERT, timestamp=time.time()))  # not expired
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 20
            while worker.stats.parked < 3:  # three passes over the backlog, each with retries
                assert loop.time() < deadline, "the worker never parked three times"
                await asyncio.sleep(0.01)
            served.load_cert_chain(*certificate)  # renewed: new handshakes get the trusted one
            while worker.pending:
                assert loop.time() < deadline + 10, "never delivered once renewed"
                await asyncio.sleep(0.01)
            await worker.stop()
            return worker

    try:
        with caplog.at_level(logging.DEBUG, logger="alerting.delivery"):
            worker = asyncio.run(scenario())
    finally:
        verified_context.cache_clear()
    assert worker.stats.sent == 1 and len(receiver.requests) == 1
    logged = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "alerting.delivery"]
    said = [(level, text) for level, text in logged if "certificate verify failed" in text]
    assert len(said) >= 9, logged  # 3 passes x 3 attempts
    assert [level for level, _ in said] == [logging.ERROR] + [logging.DEBUG] * (len(said) - 1)
    assert said[0][1].startswith("channel webhook: cannot reach https://localhost:")
    assert "certificate verify failed: self-signed certificate" in said[0][1]
    assert (
        logging.INFO,
        "channel webhook: the certificate is accepted again; delivering",
    ) in logged
