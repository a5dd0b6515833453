"""Telemetry end to end: a running agent publishes all four kinds to a real nats-server.

The agent reads a captured host with only the CPU and memory collectors and the
threshold analyzer, so the one alert is the memory alert each test sets up.
Subscribers are in place before the agent starts, and every wait is for the
messages a test needs, with a deadline.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import agent_command, wait_until, write_config
from tests.test_nats_channel import free_port, nats_server_binary

TOKEN = "s3cr3t-nats-token"


def start_server(port: int, store: Path | None = None, *extra: str) -> subprocess.Popen[bytes]:
    jetstream = ["-js", "-sd", str(store)] if store is not None else []
    server = subprocess.Popen([nats_server_binary(), "-a", "127.0.0.1", "-p", str(port), "--auth", TOKEN, *jetstream, *extra],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    import socket

    deadline = time.monotonic() + 30  # a busy host starts processes slowly
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return server
        except OSError:
            time.sleep(0.05)
    raise AssertionError("nats-server did not start")


def wait_for_port(port: int) -> None:
    from tests.test_nats_channel import accepting

    wait_until(lambda: accepting(port), 30, f"nats-server on port {port}")


Message = tuple[str, dict[str, str], bytes]


def config_text(
    port: int, token: str = TOKEN, compression: bool = False, host: Path | None = None
) -> str:
    """With `host` (a tmp_path) the agent reads a captured host: memory 25 % used, CPU idle."""
    from tests.conftest import hermetic_agent_keys, only_collectors

    return f"""
[agent]
hostname = "web-01.example.com"
data_dir = "data"
{hermetic_agent_keys(host) if host is not None else ""}
[collector]
cpu_interval_secs = 0.5
memory_interval_secs = 0.5
{only_collectors("cpu", "memory")}
[analyzer]
enabled = ["threshold"]
[thresholds]
memory_percent = 0.5
[log_analyzer]
enabled = false
[nats]
enabled = true
url = "nats://127.0.0.1:{port}"
token = "${{NATS_TOKEN}}"
metrics_interval_secs = 1
heartbeat_interval_secs = 1
inventory_interval_secs = 2
reconnect_delay_secs = 0.5
compression = {"true" if compression else "false"}
"""


async def watch(
    port: int,
    done: Callable[[list[Message]], bool],
    timeout: float,
    start: Callable[[], object] | None = None,
    subject: str = "sysops.>",
    **connect: Any,
) -> list[Message]:
    """Subscribe, then call `start`, then collect until `done(messages)` or the timeout.

    On a timeout what arrived is returned: the test's assertions say what is missing.
    """
    import nats

    client = await nats.connect(f"nats://127.0.0.1:{port}", **connect)
    got: list[Message] = []

    async def handler(msg: Any) -> None:
        got.append((msg.subject, dict(msg.headers or {}), msg.data))

    await client.subscribe(subject, cb=handler)
    await client.flush()  # the server knows the interest before anything is published
    if start is not None:
        start()
    deadline = time.monotonic() + timeout
    try:
        while not done(got) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
    finally:
        await client.close()
    return got


def by_kind(
    messages: list[tuple[str, dict[str, str], bytes]], decode: Any = None
) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for subject, headers, raw in messages:
        data = decode(raw) if headers.get("Content-Encoding") == "zstd" else raw
        out.setdefault(subject.rsplit(".", 1)[1], []).append(
            {"subject": subject, **json.loads(data)}
        )
    return out


@pytest.mark.parametrize("compression", [False, True])
def test_all_four_kinds_arrive_for_a_dotted_hostname(tmp_path: Path, compression: bool) -> None:
    import zstandard

    port = free_port()
    server = start_server(port)
    config = write_config(tmp_path, config_text(port, compression=compression, host=tmp_path))
    agents: list[subprocess.Popen[bytes]] = []
    decode = (
        (lambda b: zstandard.ZstdDecompressor().decompressobj().decompress(b))
        if compression
        else None
    )

    def start() -> None:
        agents.append(subprocess.Popen(agent_command("--config", str(config)), cwd=tmp_path, env={**__import__("os").environ, "NATS_TOKEN": TOKEN},
                                       stdout=subprocess.DEVNULL, stderr=(tmp_path / "err").open("w")))  # fmt: skip

    def complete(messages: list[Message]) -> bool:
        kinds = by_kind(messages, decode)
        names = {m["name"] for batch in kinds.get("metrics", []) for m in batch["metrics"]}
        return len(kinds) == 4 and {"cpu_usage_percent", "memory_used_percent"} <= names

    try:
        messages = asyncio.run(watch(port, complete, 30, start, token=TOKEN))
    finally:
        for agent in agents:
            agent.send_signal(signal.SIGTERM)
            agent.wait(timeout=10)
        server.terminate()
        server.wait(timeout=10)
    kinds = by_kind(messages, decode)
    assert set(kinds) == {"metrics", "inventory", "heartbeat", "alerts"}, (
        set(kinds),
        (tmp_path / "err").read_text()[-2000:],
    )
    assert all(
        m["subject"].startswith("sysops.web-01_example_com.") for ms in kinds.values() for m in ms
    )
    metrics = kinds["metrics"][0]
    assert metrics["hostname"] == "web-01.example.com" and {
        "name",
        "value",
        "labels",
        "timestamp",
    } <= set(metrics["metrics"][0])
    assert {m["name"] for batch in kinds["metrics"] for m in batch["metrics"]} >= {
        "cpu_usage_percent",
        "memory_used_percent",
    }
    beat = kinds["heartbeat"][-1]
    assert (
        beat["status"] in ("healthy", "degraded")
        and beat["agent_version"]
        and beat["uptime_secs"] > 0
    )
    inventory = kinds["inventory"][0]
    assert inventory["hostname"] == "web-01.example.com" and len(inventory["content_hash"]) == 64
    alert = kinds["alerts"][0]
    assert (
        alert["metric"] == "memory_used_percent"
        and alert["status"] == "firing"
        and alert["hostname"] == "web-01.example.com"
    )
    assert TOKEN not in (tmp_path / "err").read_text()
    validate_against_schemas(kinds)


def validate_against_schemas(kinds: dict[str, list[dict[str, Any]]]) -> None:
    """Every real published message matches its documented JSON Schema."""
    import jsonschema

    schemas = Path(__file__).parent.parent / "docs" / "schemas"
    for kind, schema_name in (
        ("metrics", "metrics"),
        ("alerts", "alert"),
        ("heartbeat", "heartbeat"),
        ("inventory", "inventory"),
    ):
        schema = json.loads((schemas / f"{schema_name}.schema.json").read_text())
        for message in kinds[kind]:
            document = {k: v for k, v in message.items() if k != "subject"}
            jsonschema.validate(document, schema, format_checker=jsonschema.FormatChecker())


def test_wrong_token_is_said_once_and_retried(tmp_path: Path) -> None:
    port = free_port()
    server_log = tmp_path / "nats-server.log"  # it logs each refused attempt
    server = subprocess.Popen([nats_server_binary(), "-a", "127.0.0.1", "-p", str(port), "--auth", TOKEN],
                              stdout=subprocess.DEVNULL, stderr=server_log.open("w"))  # fmt: skip
    wait_for_port(port)
    config = write_config(tmp_path, config_text(port, host=tmp_path))
    env = {**__import__("os").environ, "NATS_TOKEN": "wrong"}
    bad = subprocess.Popen(agent_command("--config", str(config)), cwd=tmp_path, env=env,
                           stdout=subprocess.DEVNULL, stderr=(tmp_path / "bad").open("w"))  # fmt: skip
    # The server logs each refused attempt: after three, the agent could have said it thrice.
    # 60 s: the agent's start-up alone can take seconds on a busy host.
    wait_until(lambda: server_log.read_text().count("authentication error") >= 3, 60,
               "three refused connection attempts")  # fmt: skip
    bad.send_signal(signal.SIGTERM)
    assert bad.wait(timeout=30) == 0
    server.terminate()
    server.wait(timeout=10)
    log_text = (tmp_path / "bad").read_text()
    assert (
        "NATS refused the credentials (Authorization Violation)" in log_text
        and "retrying" in log_text
    )
    assert (
        "Traceback" not in log_text and log_text.count("refused the credentials") == 1
    )  # said once, not per retry


GAP_SECS = 5.0  # ten metric intervals and ten reconnect attempts


def _stamps(messages: list[Message]) -> list[float]:
    from datetime import datetime

    return [datetime.fromisoformat(m["timestamp"].replace("Z", "+00:00")).timestamp()
            for batch in by_kind(messages).get("metrics", []) for m in batch["metrics"]]  # fmt: skip


def in_stream(port: int, subject: str, stream: str = "SYSOPS") -> list[Message]:
    """Every message `stream` (the agent's SYSOPS) holds on `subject` (none before it exists)."""

    async def read() -> list[Message]:
        import nats
        from nats.js.errors import NotFoundError

        client = await nats.connect(f"nats://127.0.0.1:{port}", token=TOKEN)
        try:
            js = client.jetstream()
            try:
                info = await js.stream_info(stream, subjects_filter=subject)
            except NotFoundError:
                return []
            # Exactly as many as the stream holds, each with a deadline a busy host meets: a
            # short per-message timeout taken as "no more" could return none of them.
            held = sum((info.state.subjects or {}).values())
            if not held:
                return []
            subscription = await js.subscribe(subject, stream=stream, ordered_consumer=True)
            fetched = [await subscription.next_msg(timeout=30) for _ in range(held)]
            return [(m.subject, dict(m.headers or {}), m.data) for m in fetched]
        finally:
            await client.close()

    return asyncio.run(read())


def keep_metrics(port: int) -> None:
    """A stream of the test's own over the metric batches (the agent stores only alerts and
    inventories): on file, so that it outlives a restart of the server, and a place to read
    what the agent sent while no subscriber of the test could have been listening."""

    async def create() -> None:
        import nats

        client = await nats.connect(f"nats://127.0.0.1:{port}", token=TOKEN)
        try:
            await client.jetstream().add_stream(name="TESTMETRICS", subjects=["sysops.*.metrics"])
        finally:
            await client.close()

    asyncio.run(create())


def test_server_away_metrics_of_the_gap_arrive_and_alerts_exactly_once(tmp_path: Path) -> None:
    """JetStream mode: NATS stops for a while the agent runs and an alert fires meanwhile."""
    port = free_port()
    store = tmp_path / "js"
    server = start_server(port, store)
    text = (
        config_text(port, host=tmp_path)
        .replace("[nats]\n", "[nats]\njetstream = true\n")
        .replace("[log_analyzer]", "[alerting]\nbacklog_retry_secs = 1\n[log_analyzer]")
    )
    text = text.replace(
        "memory_percent = 0.5", "memory_percent = 99.9"
    )  # no alert until the outage
    config = write_config(tmp_path, text)
    env = {**__import__("os").environ, "NATS_TOKEN": TOKEN}
    err = tmp_path / "err"
    agents: list[subprocess.Popen[bytes]] = []

    def start() -> None:
        agents.append(subprocess.Popen(agent_command("--config", str(config)), cwd=tmp_path, env=env,
                                       stdout=subprocess.DEVNULL, stderr=err.open("w")))  # fmt: skip

    try:
        # Connected and publishing before the outage.
        keep_metrics(port)
        asyncio.run(watch(port, lambda got: bool(_stamps(got)), 60, start, token=TOKEN))
        (agent,) = agents
        server.terminate()  # NATS goes away
        server.wait(timeout=10)
        gap_start = time.time()
        config.write_text(text.replace("memory_percent = 99.9", "memory_percent = 0.5"))
        agent.send_signal(signal.SIGHUP)  # an alert fires while NATS is away
        wait_until(lambda: "configuration reloaded" in err.read_text(), 30, "the reload")
        time.sleep(max(0.0, gap_start + GAP_SECS - time.time()))  # the outage's length
        gap_end = time.time()
        server = start_server(port, store)

        def caught_up() -> list[Message] | None:
            # Read from the stream, not a live subscription: the agent may reconnect and send
            # what it held before a subscriber started after the restart could be in place.
            got = in_stream(port, "sysops.*.metrics", "TESTMETRICS") + in_stream(
                port, "sysops.*.alerts"
            )
            alerts = [json.loads(raw) for subject, _, raw in got if subject.endswith(".alerts")]
            done = any(gap_start + 1 < t < gap_end - 1 for t in _stamps(got)) and any(
                a["metric"] == "memory_used_percent" for a in alerts
            )
            return got if done else None

        messages = typing.cast(
            list[Message], wait_until(caught_up, 60, "the outage's samples and the alert, stored")
        )
        alerts_in_stream = [json.loads(raw) for _, _, raw in in_stream(port, "sysops.*.alerts")]
    finally:
        for agent in agents:
            agent.send_signal(signal.SIGTERM)
            assert agent.wait(timeout=30) == 0
        server.terminate()
        server.wait(timeout=10)
    stamps = _stamps(messages)
    assert any(gap_start + 1 < t < gap_end - 1 for t in stamps), (
        "samples taken during the outage were not delivered"
    )
    memory = [a for a in alerts_in_stream if a["metric"] == "memory_used_percent"]
    assert len(memory) == 1, (
        alerts_in_stream,
        (tmp_path / "err").read_text()[-3000:],
    )  # exactly once
    # Every alert in the stream (the channel's own failure and recovery too) is stored once.
    ids = [a["id"] for a in alerts_in_stream]
    assert len(ids) == len(set(ids)), alerts_in_stream
    assert "reconnected to NATS" in (tmp_path / "err").read_text()


def test_cluster_failover_keeps_heartbeats_coming(tmp_path: Path) -> None:
    import httpx

    ports = [free_port() for _ in range(3)]
    routes = [free_port() for _ in range(3)]
    monitors = [free_port() for _ in range(3)]
    servers = {}
    for i in range(3):
        conf = tmp_path / f"n{i}.conf"
        conf.write_text(
            f"server_name: n{i}\nlisten: 127.0.0.1:{ports[i]}\nhttp: 127.0.0.1:{monitors[i]}\n"
            f"cluster {{\n  name: testc\n  listen: 127.0.0.1:{routes[i]}\n"
            f"  routes: [{', '.join(f'nats://127.0.0.1:{r}' for r in routes)}]\n}}\n"
        )
        servers[ports[i]] = subprocess.Popen(
            [nats_server_binary(), "-c", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    text = config_text(ports[0], host=tmp_path).replace(
        f'url = "nats://127.0.0.1:{ports[0]}"',
        "urls = [" + ", ".join(f'"nats://127.0.0.1:{p}"' for p in ports) + "]",
    )
    text = text.replace('token = "${NATS_TOKEN}"\n', "").replace(
        "heartbeat_interval_secs = 1", "heartbeat_interval_secs = 0.5"
    )
    config = write_config(tmp_path, text)

    def routes_formed() -> bool:  # each node routes to the other two (its monitoring port says)
        try:
            return all(httpx.get(f"http://127.0.0.1:{m}/routez", timeout=2).json()["num_routes"] >= 2
                       for m in monitors)  # fmt: skip
        except httpx.TransportError:
            return False

    wait_until(routes_formed, 60, "the cluster's routes")
    agent = subprocess.Popen(
        agent_command("--config", str(config)),
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "err").open("w"),
    )
    try:

        def connected_port() -> int | None:
            for line in (tmp_path / "err").read_text().splitlines():
                if "telemetry: connected to NATS 127.0.0.1:" in line:
                    return int(line.rsplit(":", 1)[1])
            return None

        connected = wait_until(connected_port, 60, "the agent's connection")
        assert connected in servers, (tmp_path / "err").read_text()
        servers[connected].terminate()  # the node the agent uses goes down
        servers[connected].wait(timeout=10)
        other = next(p for p in ports if p != connected)

        beats = asyncio.run(
            watch(other, lambda got: len(got) >= 3, 60, subject="sysops.*.heartbeat")
        )
        assert len(beats) >= 3, (tmp_path / "err").read_text()[-2000:]
        assert "reconnected to NATS" in (tmp_path / "err").read_text()
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(timeout=10)
        for server in servers.values():
            server.terminate()
            server.wait(timeout=10)


def test_tls_with_a_verified_self_signed_ca(tmp_path: Path, certificate: tuple[Path, Path]) -> None:
    import ssl

    cert, key = certificate
    port = free_port()
    server = subprocess.Popen([nats_server_binary(), "-a", "127.0.0.1", "-p", str(port), "--tls", "--tlscert", str(cert), "--tlskey", str(key)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    wait_for_port(port)
    text = config_text(port, host=tmp_path).replace(
        'token = "${NATS_TOKEN}"\n', f'tls_ca_file = "{cert}"\n'
    )
    agent = subprocess.Popen(agent_command("--config", str(write_config(tmp_path, text))), cwd=tmp_path,
                             stdout=subprocess.DEVNULL, stderr=(tmp_path / "err").open("w"))  # fmt: skip

    tls = ssl.create_default_context(cafile=str(cert))
    try:
        beats = asyncio.run(
            watch(port, bool, 20, subject="sysops.*.heartbeat", tls=tls)  # one is enough
        )
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(timeout=10)
        server.terminate()
        server.wait(timeout=10)
    assert beats, (tmp_path / "err").read_text()[-2000:]


def test_metric_batches_stay_under_the_servers_max_payload(tmp_path: Path) -> None:
    import numpy as np

    from agent.config import parse_config_text
    from agent.telemetry import Telemetry
    from analyzers.base import SeriesKey

    port = free_port()
    conf = tmp_path / "small.conf"
    conf.write_text(f"listen: 127.0.0.1:{port}\nmax_payload: 8192\n")
    server = subprocess.Popen(
        [nats_server_binary(), "-c", str(conf)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for_port(port)
    settings = parse_config_text(
        f'[agent]\nhostname = "h"\n[nats]\nenabled = true\nurl = "nats://127.0.0.1:{port}"\nbatch_size = 100000\n',
        "t",
    ).settings

    async def scenario() -> tuple[list[bytes], int]:
        import nats

        client = await nats.connect(f"nats://127.0.0.1:{port}")
        got: list[bytes] = []

        async def handler(msg: Any) -> None:
            got.append(msg.data)

        await client.subscribe("sysops.h.metrics", cb=handler)
        await client.flush()
        telemetry = Telemetry(settings, dict, lambda: ([], {}))
        await telemetry.connect()
        keys = [
            SeriesKey.of("process_rss_bytes", pid=str(i), comm="worker", user="app")
            for i in range(2000)
        ]
        telemetry.add_samples(time.time(), keys, np.arange(2000, dtype=np.float64))
        await telemetry.publish_metrics()
        deadline = time.monotonic() + 10
        while sum(len(json.loads(m)["metrics"]) for m in got) < 2000:
            assert time.monotonic() < deadline, f"{len(got)} batches so far"
            await asyncio.sleep(0.02)
        await telemetry.close()
        await client.close()
        return got, telemetry.published["metrics"]

    try:
        messages, published = asyncio.run(scenario())
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert published == len(messages) > 1
    assert all(len(m) <= 8192 for m in messages)
    assert sum(len(json.loads(m)["metrics"]) for m in messages) == 2000


def test_user_and_password(tmp_path: Path) -> None:
    from agent.config import parse_config_text
    from agent.telemetry import Telemetry

    port = free_port()
    server = subprocess.Popen([nats_server_binary(), "-a", "127.0.0.1", "-p", str(port), "--user", "agent", "--pass", "pw-123"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    wait_for_port(port)
    text = f'[agent]\nhostname = "h"\n[nats]\nenabled = true\nurl = "nats://127.0.0.1:{port}"\nuser = "agent"\npassword = "${{P}}"\n'
    settings = parse_config_text(text, "t", environ={"P": "pw-123"}).settings

    async def scenario() -> list[dict[str, Any]]:
        import nats

        client = await nats.connect(f"nats://127.0.0.1:{port}", user="agent", password="pw-123")
        got: list[dict[str, Any]] = []

        async def handler(msg: Any) -> None:
            got.append(json.loads(msg.data))

        await client.subscribe("sysops.h.heartbeat", cb=handler)
        await client.flush()
        telemetry = Telemetry(
            settings, dict, lambda: (["collector disk failing: PermissionError"], {})
        )
        await telemetry.connect()
        await telemetry.publish_heartbeat()
        deadline = time.monotonic() + 10
        while not got:
            assert time.monotonic() < deadline, "no heartbeat"
            await asyncio.sleep(0.02)
        await telemetry.close()  # a clean stop: one more, saying "stopping"
        deadline = time.monotonic() + 10
        while len(got) < 2:
            assert time.monotonic() < deadline, "no stopping heartbeat"
            await asyncio.sleep(0.02)
        await client.close()
        return got

    try:
        beat, last = asyncio.run(scenario())
        assert last["status"] == "stopping" and last["heartbeat_interval_secs"] == 60
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert beat["status"] == "degraded" and beat["reasons"] == [
        "collector disk failing: PermissionError"
    ]


@pytest.mark.e2e
def test_telemetry_and_alerts_share_one_connection(tmp_path: Path) -> None:
    """nats-server's own connection list (the monitoring endpoint) shows the agent once."""
    import os
    import urllib.request

    port, monitor = free_port(), free_port()
    server = start_server(port, None, "-m", str(monitor))
    config = write_config(tmp_path, config_text(port))

    def connections() -> dict[str, Any]:
        with urllib.request.urlopen(f"http://127.0.0.1:{monitor}/connz", timeout=5) as reply:
            document: dict[str, Any] = json.load(reply)
        return document

    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        import nats

        client = await nats.connect(f"nats://127.0.0.1:{port}", token=TOKEN, name="test")
        kinds: set[str] = set()
        both = asyncio.Event()

        async def handler(msg: Any) -> None:
            kinds.add(msg.subject.rsplit(".", 1)[1])
            if {"alerts", "heartbeat", "metrics"} <= kinds:
                both.set()

        await client.subscribe("sysops.>", cb=handler)
        await client.flush()
        agent = subprocess.Popen(agent_command("--config", str(config)), cwd=tmp_path,
                                 env={**os.environ, "NATS_TOKEN": TOKEN},
                                 stdout=subprocess.DEVNULL, stderr=(tmp_path / "err").open("w"))  # fmt: skip
        loop = asyncio.get_running_loop()
        try:
            await asyncio.wait_for(both.wait(), 30)  # telemetry and the alert channel both publish
            before = await loop.run_in_executor(None, connections)
            # A reload replaces the channel (its old worker closes it): the connection stays.
            agent.send_signal(signal.SIGHUP)
            await loop.run_in_executor(
                None,
                lambda: wait_until(
                    lambda: "configuration reloaded" in (tmp_path / "err").read_text(),
                    20,
                    "the reload",
                ),
            )
            return before, await loop.run_in_executor(None, connections)
        finally:
            agent.send_signal(signal.SIGTERM)
            await asyncio.get_running_loop().run_in_executor(None, agent.wait, 15)
            await client.close()

    try:
        before, after = asyncio.run(scenario())
    finally:
        server.terminate()
        server.wait(timeout=10)
    names = sorted(c.get("name", "") for c in before["connections"])
    assert names == ["sysops-agent", "test"], (names, (tmp_path / "err").read_text())
    assert [(c["cid"], c.get("name")) for c in after["connections"]] == [
        (c["cid"], c.get("name")) for c in before["connections"]
    ]


def test_a_clean_stop_ends_with_a_stopping_heartbeat_carrying_the_interval(
    tmp_path: Path,
) -> None:
    """A fleet watcher counts silence in the host's own heartbeat interval, and tells a
    clean stop (SIGTERM: one last heartbeat saying "stopping") from a crash."""
    port = free_port()
    server = start_server(port)
    config = write_config(tmp_path, config_text(port, host=tmp_path))
    agents: list[subprocess.Popen[bytes]] = []
    sent: list[bool] = []

    def start() -> None:
        agents.append(subprocess.Popen(agent_command("--config", str(config)), cwd=tmp_path, env={**__import__("os").environ, "NATS_TOKEN": TOKEN},
                                       stdout=subprocess.DEVNULL, stderr=(tmp_path / "err").open("w")))  # fmt: skip

    def stopped_after_a_beat(messages: list[Message]) -> bool:
        beats = by_kind(messages).get("heartbeat", [])
        if beats and not sent:  # SIGTERM once the agent is up and beating
            agents[0].send_signal(signal.SIGTERM)
            sent.append(True)
        return any(b["status"] == "stopping" for b in beats)

    try:
        messages = asyncio.run(
            watch(port, stopped_after_a_beat, 60, start, token=TOKEN, subject="sysops.*.heartbeat")
        )
        assert agents[0].wait(timeout=30) == 0
    finally:
        for agent in agents:
            if agent.poll() is None:
                agent.kill()
                agent.wait(timeout=10)
        server.terminate()
        server.wait(timeout=10)
    beats = by_kind(messages)["heartbeat"]
    assert beats[-1]["status"] == "stopping", [b["status"] for b in beats]
    assert [b["status"] for b in beats].count("stopping") == 1
    assert all(b["heartbeat_interval_secs"] == 1 for b in beats)
    validate_against_schemas({"metrics": [], "alerts": [], "inventory": [], "heartbeat": beats})
