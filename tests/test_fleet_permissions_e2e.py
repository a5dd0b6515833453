"""The NATS permissions docs/DEPLOYMENT.md gives the fleet watcher, on a real nats-server:
every JetStream call the watcher makes (through nats-py, as fleet/ uses it) passes; deleting
another stream and publishing on an agent's subjects are refused."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from fleet.store import records
from tests.conftest import REPO, until, wait_until
from tests.test_nats_channel import free_port, nats_server_binary

PASSWORD = "fleet-pw"


def documented_block() -> str:
    text = (REPO / "docs/DEPLOYMENT.md").read_text()
    match = re.search(r"```text\n(authorization \{.*?\n\})\n```", text, re.S)
    assert match, "docs/DEPLOYMENT.md no longer has the watcher's authorization block"
    return match.group(1)


def start(tmp_path: Path) -> tuple[int, subprocess.Popen[bytes]]:
    block = documented_block().replace(
        "users = [", 'users = [\n    { user: "agent", password: "agent-pw" }', 1
    )
    conf = tmp_path / "nats.conf"
    conf.write_text(f'jetstream {{ store_dir: "{tmp_path / "js"}" }}\n{block}\n')
    port = free_port()
    server = subprocess.Popen(
        [nats_server_binary(), "-c", str(conf), "-a", "127.0.0.1", "-p", str(port)],
        env={**os.environ, "FLEET_PASSWORD": PASSWORD},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def listening() -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            assert server.poll() is None, "nats-server refused the documented configuration"
            return False

    wait_until(listening, 30, "nats-server to listen")
    return port, server


async def exercise(port: int) -> tuple[dict[str, str], list[str]]:
    import nats
    from nats.js.api import DeliverPolicy, KeyValueConfig, StreamConfig

    violations: list[str] = []

    async def on_error(exc: Exception) -> None:
        violations.append(str(exc))

    agent = await nats.connect(f"nats://agent:agent-pw@127.0.0.1:{port}")
    nc = await nats.connect(f"nats://sysops-fleet:{PASSWORD}@127.0.0.1:{port}", error_cb=on_error)
    js = nc.jetstream()
    results: dict[str, str] = {}

    async def step(name: str, call: Callable[[], Awaitable[Any]]) -> Any:
        try:
            value = await asyncio.wait_for(call(), 5)
        except Exception as exc:
            results[name] = f"{type(exc).__name__}: {exc}"
            return None
        results[name] = "ok"
        return value

    for name, subjects, per_subject in (
        ("SYSOPS_HEARTBEAT", ["sysops.*.heartbeat"], 1),
        ("SYSOPS_INVENTORY", ["sysops.*.inventory"], 1),
        ("SYSOPS_FLEET_CHANGES", ["sysops.fleet.changes.*"], 1000),
    ):
        config = StreamConfig(name=name, subjects=subjects, max_msgs_per_subject=per_subject)
        await step(f"create {name}", lambda c=config: js.add_stream(c))
        await step(f"info {name}", lambda n=name: js.stream_info(n))
    beats: list[str] = []

    async def on_beat(msg: Any) -> None:
        beats.append(msg.subject)

    await step("subscribe heartbeats", lambda: nc.subscribe("sysops.*.heartbeat", cb=on_beat))
    await nc.flush()
    await agent.publish("sysops.h1.heartbeat", b"{}")
    await agent.publish("sysops.h1.inventory", b"{}")
    await agent.flush()
    await until(lambda: beats, 10, "the agent's heartbeat on the watcher's subscription")
    results["heartbeat received"] = "ok"
    await step("last heartbeat", lambda: js.get_last_msg("SYSOPS_HEARTBEAT", "sysops.h1.heartbeat"))

    async def latest_per_host() -> Any:
        sub = await js.subscribe(
            "sysops.*.heartbeat",
            ordered_consumer=True,
            deliver_policy=DeliverPolicy.LAST_PER_SUBJECT,
        )
        msg = await sub.next_msg(timeout=2)
        await sub.unsubscribe()
        return msg

    await step("heartbeats, last per subject", latest_per_host)

    async def cmdb_consumer() -> None:
        sub = await js.pull_subscribe(
            "sysops.*.inventory", durable="SYSOPS_FLEET_cmdb", stream="SYSOPS_INVENTORY"
        )
        [msg] = await sub.fetch(1, timeout=2)
        await msg.ack_sync()
        await js.consumer_info("SYSOPS_INVENTORY", "SYSOPS_FLEET_cmdb")

    await step("inventory durable consumer", cmdb_consumer)
    for bucket in ("SYSOPS_FLEET_HOSTS", "SYSOPS_FLEET_LEADER", "SYSOPS_FLEET_CMDB"):

        async def key_value(b: str = bucket) -> None:
            await js.create_key_value(KeyValueConfig(bucket=b, history=5))
            kv = await js.key_value(b)
            revision = await kv.create("leader", b"{}")
            await kv.update("leader", b"{}", last=revision)
            await kv.put("h1", b"{}")
            await kv.get("h1")
            # The listing the watcher uses (not nats-py's kv.keys(), whose end-of-values
            # marker can come before the values on a busy machine).
            assert "h1" in await records(js, b)
            await js.get_msg(f"KV_{b}", seq=1, subject=f"$KV.{b}.h1", next=True)  # history
            await kv.delete("h1")

        await step(f"bucket {bucket}", key_value)
    await step("record a change", lambda: js.publish("sysops.fleet.changes.h1", b"{}"))

    async def read_changes() -> Any:
        sub = await js.subscribe("sysops.fleet.changes.h1", ordered_consumer=True)
        msg = await sub.next_msg(timeout=2)
        await sub.unsubscribe()
        return msg

    await step("read changes", read_changes)
    allowed_violations = list(violations)
    # What it must not do.
    await agent.jetstream().add_stream(StreamConfig(name="SYSOPS", subjects=["sysops.*.alerts"]))
    await step("delete another stream", lambda: js.delete_stream("SYSOPS"))
    await nc.publish("sysops.h1.alerts", b"{}")
    await nc.flush()

    def both_refusals_said() -> bool:  # the server's errors arrive asynchronously
        later = " ".join(violations[len(allowed_violations) :]).lower()
        return "$js.api.stream.delete.sysops" in later and "sysops.h1.alerts" in later

    await until(both_refusals_said, 10, "the server's two permissions violations")
    await nc.close()
    await agent.close()
    return results, [*allowed_violations, "--", *violations[len(allowed_violations) :]]


@pytest.mark.e2e
def test_the_documented_permissions_allow_what_the_watcher_does_and_no_more(
    tmp_path: Path,
) -> None:
    port, server = start(tmp_path)
    try:
        results, violations = asyncio.run(exercise(port))
    finally:
        server.terminate()
        server.wait(timeout=10)
    refused = results.pop("delete another stream")
    assert {k: v for k, v in results.items() if v != "ok"} == {}
    assert violations[0] == "--", violations  # nothing refused while doing its work
    assert refused != "ok"
    later = " ".join(violations[1:])
    assert "$js.api.stream.delete.sysops" in later.lower() and "sysops.h1.alerts" in later
