"""The NATS channel against a real nats-server on loopback."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest

from alerting.alert import Alert, Severity, Status
from alerting.channels.base import DeliveryError
from alerting.channels.nats import NatsChannel, subject_token
from tests.conftest import until, wait_until


def nats_server_binary() -> str:
    found = shutil.which("nats-server") or next(
        (p for p in ("/usr/sbin/nats-server", "/usr/bin/nats-server") if Path(p).exists()), None
    )
    if found is None:
        pytest.fail(
            "nats-server is not installed (scripts/test installs Debian's nats-server package)"
        )
    return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def accepting(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
    except OSError:
        return False
    return True


ALERT = Alert(analyzer="threshold", metric="gpu_temperature_celsius", labels=(("gpu", "0"),), status=Status.FIRING, severity=Severity.CRITICAL, value=91.0, threshold=85.0,
              message="GPU 0 is hot", timestamp=1_700_000_000.0, hostname="gpu-01.example.com", context={"line": "x"})  # fmt: skip


def test_subject_tokens() -> None:
    assert subject_token("web-01.example.com") == "web-01_example_com"
    assert subject_token("a b*>") == "a_b__"


@pytest.mark.e2e
def test_alert_published_on_the_host_subject(nats_url: str) -> None:
    import nats

    async def scenario() -> tuple[str, dict[str, object]]:
        subscriber = await nats.connect(nats_url)
        received: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()

        async def handler(msg: object) -> None:
            await received.put((msg.subject, msg.data))  # type: ignore[attr-defined]

        await subscriber.subscribe("sysops.*.alerts", cb=handler)
        await subscriber.flush()
        channel = NatsChannel([nats_url], "gpu-01.example.com")
        await channel.send([ALERT])
        subject, data = await asyncio.wait_for(received.get(), 5)
        await channel.close()
        await subscriber.close()
        return subject, json.loads(data)

    subject, body = asyncio.run(scenario())
    assert subject == "sysops.gpu-01_example_com.alerts"
    assert (
        body["hostname"] == "gpu-01.example.com"
        and body["severity"] == "critical"
        and body["status"] == "firing"
    )
    assert (
        body["labels"] == {"gpu": "0"}
        and body["context"] == {"line": "x"}
        and body["fingerprint"] == ALERT.fingerprint
    )


@pytest.mark.e2e
def test_users_of_a_shared_connection_asking_at_once_get_one_client(nats_url: str) -> None:
    from alerting.channels.nats import NatsConnection

    async def scenario() -> tuple[int, bool, bool]:
        connection = NatsConnection([nats_url], reconnect_delay=0.5, max_reconnect_attempts=3)
        channel = NatsChannel([nats_url], "h", connection=connection)
        first, second, _ = await asyncio.gather(
            connection.get(), connection.get(), channel.send([ALERT])
        )
        await channel.close()  # not its connection: it stays open for the other users
        still = connection.connected
        await connection.close()
        return connection.opened, first is second, still

    opened, same, still = asyncio.run(scenario())
    assert opened == 1 and same and still


@pytest.mark.e2e
def test_a_clean_close_is_not_logged_as_a_lost_connection(
    nats_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    from alerting.channels.nats import NatsConnection

    async def scenario() -> None:
        connection = NatsConnection([nats_url])
        await connection.get()
        await connection.close()

    with caplog.at_level(logging.DEBUG, logger="alerting.channels.nats"):
        asyncio.run(scenario())
    said = [(r.levelno, r.getMessage()) for r in caplog.records if "disconnected" in r.getMessage()]
    assert said == [(logging.DEBUG, "disconnected from NATS (closed)")]


@pytest.mark.e2e
def test_a_lost_connection_says_reconnecting_then_that_nats_py_gave_up(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A second reader's finding: when nats-py gave up, the close said "reconnecting"."""
    from alerting.channels.nats import NatsConnection

    port = free_port()
    server = subprocess.Popen([nats_server_binary(), "-a", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    wait_until(lambda: accepting(port), 30, f"nats-server on port {port}")

    async def scenario() -> None:
        connection = NatsConnection(
            [f"nats://127.0.0.1:{port}"], reconnect_delay=0.1, max_reconnect_attempts=1
        )
        client = await connection.get()
        server.terminate()
        await asyncio.to_thread(server.wait, 10)
        await until(lambda: client.is_closed, 30, "nats-py to give up")
        await connection.close()

    try:
        with caplog.at_level(logging.DEBUG, logger="alerting.channels.nats"):
            asyncio.run(scenario())
    finally:
        server.kill()
        server.wait(timeout=10)
    said = [(r.levelno, r.getMessage()) for r in caplog.records if "NATS" in r.getMessage()
            and ("disconnected" in r.getMessage() or "closed" in r.getMessage())]  # fmt: skip
    assert said[:2] == [
        (logging.WARNING, "disconnected from NATS; reconnecting"),
        (logging.WARNING, "NATS connection closed: nats-py gave up reconnecting; a new one is "
                          "made at the next use"),
    ], said  # fmt: skip
    assert len(said) == 2, said


@pytest.mark.e2e
def test_a_server_without_jetstream_is_named_with_the_fix(nats_url: str) -> None:
    """A user's trial: "ServiceUnavailableError: nats: ServiceUnavailableError: code=None
    err_code=None description='None'", and nothing said JetStream was what was missing."""
    channel = NatsChannel([nats_url], "db-01", jetstream_stream="SYSOPS")

    async def scenario() -> None:
        try:
            await channel.send([ALERT])
        finally:
            await channel.close()

    with pytest.raises(DeliveryError) as info:
        asyncio.run(scenario())
    assert str(info.value) == (
        "NATS publish failed: the server has no JetStream (start it with -js, or a "
        "jetstream {} block in its configuration), or [nats] jetstream = false"
    )
    assert info.value.retryable  # the alert waits in the outbox until JetStream is there


def test_an_older_clients_close_while_a_new_one_serves_is_no_loss(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """nats-py calls the callback of the connection for any of its clients: one closed
    (drained) while another, made meanwhile, serves is not "reconnecting"."""
    from types import SimpleNamespace

    from alerting.channels.nats import NatsConnection

    connection = NatsConnection(["nats://127.0.0.1:4222"])
    connection.client = SimpleNamespace(is_reconnecting=False, is_closed=False)  # the new one
    with caplog.at_level(logging.DEBUG, logger="alerting.channels.nats"):
        asyncio.run(connection._disconnected())
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.DEBUG, "disconnected from NATS (closed)")
    ]


def test_no_server_is_a_retryable_error() -> None:
    channel = NatsChannel([f"nats://127.0.0.1:{free_port()}"], "h", connect_timeout=0.5)
    with pytest.raises(DeliveryError) as info:
        asyncio.run(channel.send([ALERT]))
    assert info.value.retryable


@pytest.mark.e2e
def test_jetstream_acknowledged_and_deduplicated(tmp_path: Path) -> None:
    import nats

    from agent.config import parse_config_text
    from agent.telemetry import Telemetry

    port = free_port()
    server = subprocess.Popen([nats_server_binary(), "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(tmp_path / "js")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    wait_until(lambda: accepting(port), 30, f"nats-server on port {port}")
    url = f"nats://127.0.0.1:{port}"
    settings = parse_config_text(
        f'[agent]\nhostname = "db-01"\n[nats]\nenabled = true\nurl = "{url}"\njetstream = true\n',
        "t",
    ).settings

    async def scenario() -> tuple[int, list[str], int]:
        channel = NatsChannel([url], "db-01", jetstream_stream="SYSOPS")
        await channel.send([ALERT])
        await channel.send([ALERT])  # a redelivery after a crash: the same id
        await channel.close()
        telemetry = Telemetry(
            settings, lambda: {"hostname": "db-01", "content_hash": "ab" * 32}, lambda: ([], {})
        )
        await telemetry.connect()
        await telemetry.publish_inventory()
        await telemetry.publish_inventory()  # unchanged inventory: stored once
        await telemetry.close()
        client = await nats.connect(url)
        info = await client.jetstream().stream_info("SYSOPS")
        inventory = await client.jetstream().stream_info("SYSOPS_INVENTORY")
        await client.close()
        return info.state.messages, info.config.subjects, inventory.state.messages

    try:
        stored, subjects, inventories = asyncio.run(scenario())
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert stored == 1 and subjects == ["sysops.*.alerts"]  # one alert
    assert inventories == 1  # one inventory, in its own stream


def test_the_settings_defaults_of_the_stream_limits_are_the_channels() -> None:
    # agent/settings.py writes them out so that it need not import the channel module.
    from agent.settings import NatsSettings
    from alerting.channels.nats import STREAM_MAX_AGE_SECS, STREAM_MAX_BYTES

    assert NatsSettings().jetstream_max_age_secs == STREAM_MAX_AGE_SECS
    assert NatsSettings().jetstream_max_bytes == STREAM_MAX_BYTES


def _info_only_server(received: list[bytes]) -> Any:
    """A server that says INFO without TLS (as nats-server without TLS, or someone between
    who removed the flag) and records what the client sends."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        info = {"server_id": "x", "version": "2.9.10", "proto": 1, "max_payload": 1048576,
                "auth_required": True}  # fmt: skip
        writer.write(b"INFO " + json.dumps(info).encode() + b"\r\n")
        await writer.drain()
        try:
            while data := await asyncio.wait_for(reader.read(4096), 2):
                received.append(data)
        except (TimeoutError, ConnectionError):
            pass
        writer.close()

    return asyncio.start_server(handle, "127.0.0.1", 0)


@pytest.mark.e2e
def test_a_connection_meant_to_be_tls_never_sends_credentials_in_clear(
    certificate: tuple[Path, Path],
) -> None:
    """nats-py upgrades only when the server's INFO (in clear) asks for TLS: a tls:// URL or
    a CA file against a server without TLS sent the token in CONNECT, readable on the wire
    (a new user's proxy saw it)."""
    import ssl

    from alerting.channels.nats import NatsConnection, NatsUnreachable

    async def attempt(scheme: str, tls: ssl.SSLContext | None) -> tuple[bytes, str]:
        received: list[bytes] = []
        server = await _info_only_server(received)
        port = server.sockets[0].getsockname()[1]
        connection = NatsConnection([f"{scheme}://127.0.0.1:{port}"], token="s3cr3tTok",
                                    tls=tls, connect_timeout=1.0, max_reconnect_attempts=0)  # fmt: skip
        problem = ""
        try:
            await (await connection.get()).close()
        except (NatsUnreachable, OSError, TimeoutError) as exc:
            problem = str(exc) or connection.problem
        server.close()
        await server.wait_closed()
        return b"".join(received), problem + " " + connection.problem

    context = ssl.create_default_context(cafile=str(certificate[0]))
    for scheme, tls in (("tls", None), ("nats", context)):
        sent, problem = asyncio.run(attempt(scheme, tls))
        assert b"s3cr3tTok" not in sent and b"CONNECT" not in sent, (scheme, sent)
        assert "offers no TLS" in problem, problem
    # The stand-in is one a client does send its credentials to, when TLS is not meant.
    sent, _ = asyncio.run(attempt("nats", None))
    assert b"CONNECT" in sent and b"s3cr3tTok" in sent


@pytest.mark.e2e
def test_a_tls_url_to_a_real_server_without_tls_is_refused_and_says_why(nats_url: str) -> None:
    from alerting.channels.nats import NatsConnection, NatsUnreachable

    async def scenario() -> str:
        url = nats_url.replace("nats://", "tls://")
        connection = NatsConnection([url], token="t", connect_timeout=1.0, max_reconnect_attempts=0)
        with pytest.raises((NatsUnreachable, OSError, TimeoutError)) as raised:
            await connection.get()
        return f"{raised.value} {connection.problem}"

    assert "the server offers no TLS and the connection is meant to be TLS" in asyncio.run(
        scenario()
    )


def test_a_stream_deduplicating_longer_than_the_agent_asks_is_no_difference(
    tmp_path: Path,
) -> None:
    """The watcher makes the inventory stream with a window of two default intervals (600 s);
    an agent collecting every minute (120 s) warned about it at every start."""
    from types import SimpleNamespace

    from alerting.channels.nats import inventory_stream

    spec = inventory_stream("SYSOPS", "sysops", 1 << 20, 60.0)
    existing = SimpleNamespace(subjects=["sysops.*.inventory"], max_age=0.0, max_bytes=1 << 20,
                               max_msgs_per_subject=1, duplicate_window=600.0)  # fmt: skip
    assert spec.differences(existing) == []
    existing.duplicate_window = 60.0  # shorter: a redelivery could be stored twice
    assert spec.differences(existing) == ["duplicate_window 60.0 (ours: 120.0)"]
    existing.max_bytes = 1 << 30
    assert len(spec.differences(existing)) == 2
    # The watcher only reads the agents' inventories: their window and limits are theirs (it
    # warned "duplicate_window 120.0 (the agent's: 600.0)" of a stream an agent had made).
    from fleet.config import load_config
    from fleet.inventory import Cmdb
    from tests.conftest import write_config

    loaded = load_config(write_config(tmp_path, f'[fleet]\ndata_dir = "{tmp_path}/d"\n'))
    watcher_spec = Cmdb(None, loaded.settings.fleet, "sysops").inventory_spec
    existing.max_bytes, existing.duplicate_window = 1 << 30, 120.0  # jetstream_max_bytes
    assert watcher_spec.differences(existing) == []
    existing.subjects = ["sysops.*.inventory", "sysops.*.metrics"]  # still judged
    assert watcher_spec.differences(existing) == [
        "subjects ['sysops.*.inventory', 'sysops.*.metrics'] (ours: ['sysops.*.inventory'])"
    ]
