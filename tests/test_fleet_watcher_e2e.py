"""The watcher in-process on a real nats-server: the CMDB fed through the durable pull
consumer by the leader (with a stand-in for fleet/inventory.py's Cmdb, which lives in
another branch until merged), systemd notifications, and SIGHUP-style reloads."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from alerting.alert import Alert, Severity, Status
from fleet import store
from fleet.config import load_config
from fleet.settings import FleetSection, FleetSettings
from fleet.watcher import Watcher
from tests.conftest import HttpReceiver, write_config
from tests.test_nats_channel import free_port
from tests.test_telemetry_e2e import TOKEN, start_server


class StandInCmdb:
    """What the watcher needs of fleet.inventory.Cmdb: the latest per host, and a change
    when the memory total differs from the previous inventory's."""

    def __init__(self, js: Any, subjects: str, stream: str) -> None:
        self.js, self.subjects, self.stream = js, subjects, stream
        self.latest: dict[str, dict[str, Any]] = {}
        self.ingested = 0
        self.ready = False

    async def ensure(self) -> None:
        await self.js.add_stream(name=self.stream, subjects=[self.subjects], max_msgs_per_subject=1)
        self.ready = True

    async def ingest(self, document: Mapping[str, Any]) -> list[Any]:
        host = str(document["hostname"])
        self.ingested += 1
        before = self.latest.get(host)
        self.latest[host] = dict(document)
        if before is None or before["memory_total"] == document["memory_total"]:
            return []
        return [("memory.total_bytes", before["memory_total"], document["memory_total"])]


def change_alert(
    hostname: str, changes: Sequence[Any], section: FleetSection, timestamp: float
) -> Alert | None:
    path, old, new = changes[0]
    return Alert(analyzer="cmdb", metric="fleet_hardware_change", labels=(("host", hostname),),
                 status=Status.FIRING, severity=Severity.WARN, value=float(new), threshold=None,
                 message=f"{hostname}: {path} {old} -> {new}", timestamp=timestamp,
                 hostname=hostname, context={"event": True})  # fmt: skip


def config_text(tmp_path: Path, port: int, url: str, lease: float = 1.0) -> str:
    return f"""
[fleet]
instance = "w1"
data_dir = "{tmp_path / "data"}"
lease_secs = {lease}
[nats]
url = "nats://127.0.0.1:{port}"
token = "{TOKEN}"
[alerting.webhook]
enabled = true
url = "{url}"
"""


@pytest.mark.e2e
def test_the_leader_feeds_the_cmdb_and_announces_changes_and_systemd_hears_of_it(
    tmp_path: Path, http_receiver: HttpReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    server = start_server(port, tmp_path / "js")
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify.sock"))
    notify.setblocking(False)
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify.sock"))
    config = write_config(tmp_path, config_text(tmp_path, port, http_receiver.url + "/a"))
    stand_ins: list[StandInCmdb] = []

    def factory(js: Any, settings: FleetSettings) -> tuple[Any, Any]:
        stand_ins.append(StandInCmdb(js, "sysops.*.inventory", settings.fleet.inventory_stream))
        return stand_ins[-1], change_alert

    async def until(condition: Any, timeout: float = 30.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not condition():
            assert loop.time() < deadline, "timed out"
            await asyncio.sleep(0.05)

    async def scenario() -> tuple[list[str], dict[str, Any]]:
        import nats

        watcher = Watcher(load_config(config), str(config))
        watcher.cmdb_factory = factory
        task = asyncio.create_task(watcher.run())
        await until(lambda: watcher.leading and stand_ins and stand_ins[0].ready)
        client = await nats.connect(f"nats://127.0.0.1:{port}", token=TOKEN)
        js = client.jetstream()
        for n, total in enumerate((64, 64, 32), 1):  # the same twice, then a DIMM fewer
            doc = {"hostname": "gpu-01.example", "memory_total": total}
            await js.publish("sysops.gpu-01_example.inventory", json.dumps(doc).encode())
            await until(lambda n=n: stand_ins[0].ingested == n)  # type: ignore[misc]
        await until(lambda: http_receiver.requests)
        consumer = await js.consumer_info("SYSOPS_INVENTORY", "SYSOPS_FLEET_cmdb")
        # A bad file is refused and the running configuration kept; a good one applies.
        config.write_text(config_text(tmp_path, port, http_receiver.url + "/b") + "oops = 1\n")
        assert await watcher.reload() is False
        config.write_text(config_text(tmp_path, port, http_receiver.url + "/b"))
        assert await watcher.reload() is True
        assert [w.name for w in watcher.router.workers] == ["webhook"]
        await client.close()
        watcher.request_stop()
        assert await task == 0
        messages = []
        while True:
            try:
                messages.append(notify.recv(4096).decode())
            except BlockingIOError:
                break
        return messages, {"acked": consumer.ack_floor.stream_seq, "pending": consumer.num_pending}

    try:
        messages, consumer = asyncio.run(scenario())
    finally:
        server.terminate()
        server.wait(timeout=10)
        notify.close()
    (request,) = http_receiver.requests
    record = request.json()
    assert request.path == "/a"
    assert record["metric"] == "fleet_hardware_change" and record["hostname"] == "gpu-01.example"  # type: ignore[index]
    assert record["message"] == "gpu-01.example: memory.total_bytes 64 -> 32"  # type: ignore[index]
    assert consumer == {"acked": 3, "pending": 0}  # every inventory stored, then acknowledged
    assert messages[0].startswith("READY=1\nSTATUS=")
    assert any(m.startswith("STATUS=leader; ") for m in messages), messages
    assert "RELOADING=1" in messages and messages[-1] == "STOPPING=1"


@pytest.mark.e2e
def test_a_claim_the_previous_leader_left_unsettled_is_sent_again_as_the_same_notification(
    tmp_path: Path, http_receiver: HttpReceiver
) -> None:
    """The crash window between claiming a transition and settling it: the next leader
    routes the pending alert with the claimed timestamp (so with the same id) and settles."""
    port = free_port()
    server = start_server(port, tmp_path / "js")
    config = write_config(tmp_path, config_text(tmp_path, port, http_receiver.url))
    at = round(time.time() - 400.0, 3)
    last = store.iso(at - 200.0)
    record = {"hostname": "db-01.example", "status": "silent", "since": store.iso(at),
              "last_heartbeat": last, "heartbeat_interval_secs": 60.0,
              "agent_version": "0.1.0", "uptime_secs": 100.0, "reasons": [], "mass": False,
              "silent_from": last, "outage_secs": None, "rebooted": None,
              "alerted": False, "alert": None, "alert_since": None,
              "pending": {"status": "firing", "metric": "fleet_host_silent", "at": at}}  # fmt: skip

    async def scenario() -> dict[str, Any]:
        import nats

        client = await nats.connect(f"nats://127.0.0.1:{port}", token=TOKEN)
        js = client.jetstream()
        kv = await js.create_key_value(bucket="SYSOPS_FLEET_HOSTS")
        await kv.create("db-01_example", json.dumps(record).encode())
        watcher = Watcher(load_config(config), str(config))
        task = asyncio.create_task(watcher.run())
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while not http_receiver.requests or json.loads((await kv.get("db-01_example")).value).get(
            "pending"
        ):
            assert loop.time() < deadline, "timed out"
            await asyncio.sleep(0.05)
        settled: dict[str, Any] = json.loads((await kv.get("db-01_example")).value)
        watcher.request_stop()
        assert await task == 0
        await client.close()
        return settled

    try:
        settled = asyncio.run(scenario())
    finally:
        server.terminate()
        server.wait(timeout=10)
    (request,) = http_receiver.requests
    sent = request.json()
    assert sent["status"] == "firing" and sent["hostname"] == "db-01.example"  # type: ignore[index]
    assert sent["epoch"] == at  # type: ignore[index]
    expected = Alert(analyzer="fleet", metric="fleet_host_silent",
                     labels=(("host", "db-01.example"),), status=Status.FIRING,
                     severity=Severity.CRITICAL, value=0.0, threshold=None, message="",
                     timestamp=at)  # fmt: skip
    assert sent["id"] == expected.id and sent["alert_id"] == expected.alert_id  # type: ignore[index]
    assert settled["pending"] is None and settled["alerted"] is True
    assert (settled["alert"], settled["alert_since"]) == ("fleet_host_silent", at)
