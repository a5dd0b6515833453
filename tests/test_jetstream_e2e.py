"""JetStream (#15, item 3) against a real nats-server with JetStream on (`-js -sd`).

The streams the agent creates hold only what it publishes through JetStream:
alerts (bounded by age and size) and the inventory (the latest per host, so an
unchanged one is stored once); metrics and heartbeats are never stored.  An
existing stream is used as it is, the difference logged once.  `compression`
applies to alerts too.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from agent.config import parse_config_text
from agent.telemetry import Telemetry
from alerting.alert import Alert, Severity, Status
from alerting.channels.nats import STREAM_MAX_AGE_SECS, STREAM_MAX_BYTES, NatsChannel
from tests.conftest import agent_command, write_config
from tests.test_nats_channel import free_port
from tests.test_telemetry_e2e import TOKEN, Message, config_text, start_server, watch


def stream_infos(port: int) -> dict[str, Any]:
    """Every stream's info, by name, and which stream (if any) would store each kind."""

    async def read() -> dict[str, Any]:
        import nats
        from nats.js.errors import NotFoundError

        client = await nats.connect(f"nats://127.0.0.1:{port}", token=TOKEN)
        js = client.jetstream()
        out: dict[str, Any] = {info.config.name: info for info in await js.streams_info()}
        for kind in ("alerts", "inventory", "metrics", "heartbeat"):
            try:
                out[kind] = await js.find_stream_name_by_subject(
                    f"sysops.web-01_example_com.{kind}"
                )
            except NotFoundError:
                out[kind] = None
        out["stored_alerts"] = []
        if out["alerts"]:
            subscription = await js.subscribe("sysops.*.alerts", ordered_consumer=True)
            try:
                while True:
                    msg = await subscription.next_msg(timeout=1.0)
                    out["stored_alerts"].append((dict(msg.headers or {}), msg.data))
            except Exception:  # noqa: S110 - a timeout: no more stored alerts
                pass
        await client.close()
        return out

    return asyncio.run(read())


@pytest.mark.e2e
def test_streams_hold_only_alerts_and_the_latest_inventory(tmp_path: Path) -> None:
    import zstandard

    port = free_port()
    server = start_server(port, tmp_path / "js")
    text = (
        config_text(port, compression=True, host=tmp_path)
        .replace("[nats]\n", "[nats]\njetstream = true\n")
        .replace("inventory_interval_secs = 2", "inventory_interval_secs = 0.2")
    )
    config = write_config(tmp_path, text)
    agents: list[subprocess.Popen[bytes]] = []

    def start() -> None:
        agents.append(subprocess.Popen(agent_command("--config", str(config)), cwd=tmp_path,
                                       env={**os.environ, "NATS_TOKEN": TOKEN},
                                       stdout=subprocess.DEVNULL, stderr=(tmp_path / f"err{len(agents)}").open("w")))  # fmt: skip

    def enough(got: list[Message]) -> bool:
        # Five heartbeats: about 25 inventory intervals, the memory alert and metric batches.
        kinds = [subject.rsplit(".", 1)[1] for subject, _, _ in got]
        return kinds.count("heartbeat") >= 5 and "alerts" in kinds and "metrics" in kinds

    def heartbeats(got: list[Message]) -> bool:
        return [subject.rsplit(".", 1)[1] for subject, _, _ in got].count("heartbeat") >= 3

    try:
        messages = asyncio.run(watch(port, enough, 40, start, token=TOKEN))
        agents[0].send_signal(signal.SIGTERM)
        assert agents[0].wait(timeout=15) == 0
        # A restart with the same inventory, within the duplicate window: not stored again.
        asyncio.run(watch(port, heartbeats, 40, start, token=TOKEN))
        infos = stream_infos(port)
    finally:
        for agent in agents:
            agent.send_signal(signal.SIGTERM)
            agent.wait(timeout=15)
        server.terminate()
        server.wait(timeout=10)
    assert enough(messages), [m[0] for m in messages]
    alerts, inventory = infos["SYSOPS"], infos["SYSOPS_INVENTORY"]
    assert alerts.config.subjects == ["sysops.*.alerts"]
    assert alerts.config.max_age == STREAM_MAX_AGE_SECS == 7 * 86400  # as TELEMETRY.md says
    assert alerts.config.max_bytes == STREAM_MAX_BYTES == 256 * 1024 * 1024
    assert inventory.config.subjects == ["sysops.*.inventory"]
    assert inventory.config.max_msgs_per_subject == 1 and inventory.config.max_age == 0
    # Metrics and heartbeats are published, and no stream stores them.
    assert (infos["metrics"], infos["heartbeat"]) == (None, None)
    assert (infos["alerts"], infos["inventory"]) == ("SYSOPS", "SYSOPS_INVENTORY")
    assert alerts.config.duplicate_window == inventory.config.duplicate_window == 120
    # The unchanged inventory, over some 40 intervals and a restart, was stored once.
    assert inventory.state.last_seq == 1 and inventory.state.messages == 1
    # The stored alert is compressed like every other payload, and decodes.
    assert alerts.state.messages == len(infos["stored_alerts"]) >= 1
    headers, data = infos["stored_alerts"][0]
    assert headers.get("Content-Encoding") == "zstd"
    record = json.loads(zstandard.ZstdDecompressor().decompressobj().decompress(data))
    assert record["metric"] == "memory_used_percent" and record["hostname"] == "web-01.example.com"
    log = (tmp_path / "err0").read_text()
    assert "JetStream stream SYSOPS created over sysops.*.alerts" in log
    assert "Traceback" not in log + (tmp_path / "err1").read_text()


ALERT = Alert(analyzer="threshold", metric="disk_used_percent", labels=(("mountpoint", "/"),),
              status=Status.FIRING, severity=Severity.WARN, value=91.0, threshold=90.0,
              message="disk / is 91 % full", timestamp=1_700_000_000.0,
              hostname="web-01.example.com")  # fmt: skip


@pytest.mark.e2e
def test_an_existing_stream_is_used_as_it_is_and_the_difference_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An older agent's stream over `sysops.>` (every kind, no limits): kept, said once."""
    import dataclasses

    import nats

    from alerting.channels import nats as nats_channel

    monkeypatch.setattr(nats_channel, "_said", set())  # a fresh process's state
    port = free_port()
    server = start_server(port, tmp_path / "js")
    url = f"nats://127.0.0.1:{port}"

    async def scenario() -> Any:
        client = await nats.connect(url, token=TOKEN)
        js = client.jetstream()
        await js.add_stream(name="SYSOPS", subjects=["sysops.>"])
        for n in range(3):  # three channels (three reloads), three alerts
            channel = NatsChannel([url], "web-01.example.com", token=TOKEN,
                                  jetstream_stream="SYSOPS")  # fmt: skip
            await channel.send(
                [dataclasses.replace(ALERT, value=91.0 + n, timestamp=ALERT.timestamp + n)]
            )
            await channel.close()
        # The inventory's own stream cannot be made (its subjects are SYSOPS's): it goes there.
        settings = parse_config_text(
            f'[agent]\nhostname = "web-01.example.com"\n[nats]\nenabled = true\nurl = "{url}"\n'
            f'token = "{TOKEN}"\njetstream = true\n',
            "t",
        ).settings
        for content in ("a", "b"):  # two different inventories (a change), each published
            telemetry = Telemetry(
                settings, lambda c=content: {"content_hash": c * 64}, lambda: ([], {})
            )
            await telemetry.connect()
            await telemetry.publish_inventory()
            await telemetry.close()
        info = await js.stream_info("SYSOPS")
        await client.close()
        return info

    try:
        with caplog.at_level(logging.INFO, logger="alerting.channels.nats"):
            info = asyncio.run(scenario())
    finally:
        server.terminate()
        server.wait(timeout=10)
    # Used, unchanged: three alerts, two inventories, and the two "stopping" heartbeats of
    # the two clean closes (the operator's stream covers every subject).
    assert info.config.subjects == ["sysops.>"] and info.state.messages == 7
    said = [
        r.getMessage() for r in caplog.records if "exists with other settings" in r.getMessage()
    ]
    assert len(said) == 1, caplog.text
    assert "subjects ['sysops.>'] (ours: ['sysops.*.alerts'])" in said[0]
    assert "max_age 0.0 (ours: 604800.0)" in said[0]
    refused = [r.getMessage() for r in caplog.records if "cannot create" in r.getMessage()]
    assert len(refused) == 1 and "SYSOPS_INVENTORY over sysops.*.inventory" in refused[0]


@pytest.mark.e2e
def test_an_inventory_is_published_to_jetstream_only_when_it_changes(tmp_path: Path) -> None:
    """Not left to the duplicate window alone: an interval longer than the window (a day,
    say) would store the same inventory again each time."""
    import nats

    port = free_port()
    server = start_server(port, tmp_path / "js")
    url = f"nats://127.0.0.1:{port}"
    settings = parse_config_text(
        f'[agent]\nhostname = "web-01.example.com"\n[nats]\nenabled = true\nurl = "{url}"\n'
        f'token = "{TOKEN}"\njetstream = true\n',
        "t",
    ).settings
    hashes = iter("aaabbb")

    async def scenario() -> tuple[int, Any, dict[str, Any]]:
        client = await nats.connect(url, token=TOKEN)
        seen: list[bytes] = []

        async def handler(msg: Any) -> None:
            seen.append(msg.data)

        await client.subscribe("sysops.*.inventory", cb=handler)
        await client.flush()
        telemetry = Telemetry(
            settings, lambda: {"content_hash": next(hashes) * 64}, lambda: ([], {})
        )
        await telemetry.connect()
        for _ in range(6):
            await telemetry.publish_inventory()
        await telemetry.close()
        await client.flush()
        js = client.jetstream()
        info = await js.stream_info("SYSOPS_INVENTORY")
        last = await js.get_last_msg("SYSOPS_INVENTORY", "sysops.web-01_example_com.inventory")
        await client.drain()  # every message received is handed to the handler first
        assert telemetry.published["inventory"] == 2
        return len(seen), info, json.loads(last.data or b"{}")

    try:
        published, info, stored = asyncio.run(scenario())
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert published == 2  # "a" once, "b" once
    assert (info.state.last_seq, info.state.messages) == (2, 1)  # the latest per host
    assert stored["content_hash"] == "b" * 64


@pytest.mark.e2e
def test_a_lost_stream_is_made_again(tmp_path: Path) -> None:
    """A server restarted without its storage, or the stream deleted: the send that finds
    no stream makes it again and publishes once more, so the alert is not held back."""
    import dataclasses

    import nats

    port = free_port()
    server = start_server(port, tmp_path / "js")
    url = f"nats://127.0.0.1:{port}"

    async def scenario() -> tuple[int, int]:
        client = await nats.connect(url, token=TOKEN)
        js = client.jetstream()
        channel = NatsChannel([url], "web-01.example.com", token=TOKEN, jetstream_stream="SYSOPS")
        await channel.send([ALERT])
        created = (await js.stream_info("SYSOPS")).created
        await js.delete_stream("SYSOPS")
        second = dataclasses.replace(ALERT, timestamp=ALERT.timestamp + 1)
        await channel.send([second])  # no stream answers: made again, published again
        await channel.close()
        info = await js.stream_info("SYSOPS")
        await client.close()
        return info.state.messages, int(info.created > created)

    try:
        stored, remade = asyncio.run(scenario())
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert (stored, remade) == (1, 1)
