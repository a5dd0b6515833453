"""Every NATS error names its cause in one line (#15, item 5), against real servers.

nats-py raises a bare TimeoutError when its connection attempts fail ("TimeoutError: ;
retrying" was the log line); the reason it gives only to its error callback
(refused, DNS, certificate, credentials, no answer) is what the agent says now.
A certificate failure is said at error level once per episode, then at debug
level until the server's certificate is accepted again.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from alerting.alert import Alert, Severity, Status
from alerting.channels.base import DeliveryError
from alerting.channels.nats import NatsChannel, NatsConnection
from tests.conftest import wait_until
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
