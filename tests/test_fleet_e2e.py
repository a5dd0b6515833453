"""sysops-fleet (#18) against a real nats-server with JetStream, real agents and real
watcher processes; alerts arrive on a local webhook receiver, payloads as sent.

Short intervals (heartbeats every 0.5 s, silence after 3 of them, a 1 s lease) keep
each scenario within seconds; every wait has a deadline and waits for what it needs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import (
    HttpReceiver,
    agent_command,
    hermetic_agent_keys,
    only_collectors,
    wait_until,
    write_config,
)
from tests.test_nats_channel import free_port
from tests.test_telemetry_e2e import TOKEN, start_server

INTERVAL = 0.5
AFTER = 3
SILENCE = AFTER * INTERVAL
ENV = {**os.environ, "NATS_TOKEN": TOKEN}


def fleet_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "fleet", *args]


def fleet_config(tmp_path: Path, port: int, receiver: HttpReceiver, instance: str) -> Path:
    return write_config(tmp_path, f"""
[fleet]
instance = "{instance}"
data_dir = "{tmp_path / instance}"
silent_after_intervals = {AFTER}
lease_secs = 1
mass_silence_min_hosts = 5
[nats]
url = "nats://127.0.0.1:{port}"
token = "${{NATS_TOKEN}}"
reconnect_delay_secs = 0.2
[alerting]
min_interval_secs = 3600
[alerting.webhook]
enabled = true
url = "{receiver.url}/hook"
""", name=f"{instance}.toml")  # fmt: skip


class Fleet:
    """Watcher processes, their logs, and what the receiver got."""

    def __init__(self, tmp_path: Path, port: int, receiver: HttpReceiver) -> None:
        self.tmp_path, self.port, self.receiver = tmp_path, port, receiver
        self.watchers: dict[str, subprocess.Popen[bytes]] = {}
        self.starts = 0

    def start(self, instance: str) -> subprocess.Popen[bytes]:
        config = fleet_config(self.tmp_path, self.port, self.receiver, instance)
        self.starts += 1
        log = (self.tmp_path / f"{instance}-{self.starts}.log").open("w")
        process = subprocess.Popen(
            fleet_command("--config", str(config), "--log-level", "info", "run"),
            env=ENV, stdout=subprocess.DEVNULL, stderr=log,
        )  # fmt: skip
        self.watchers[instance] = process
        return process

    def log(self, instance: str) -> str:
        return "".join(p.read_text() for p in sorted(self.tmp_path.glob(f"{instance}-*.log")))

    def alerts(self, metric: str | None = None) -> list[dict[str, Any]]:
        records = [r.json() for r in self.receiver.requests]
        return [r for r in records if metric is None or r["metric"] == metric]  # type: ignore[index]

    def hosts(self, instance: str = "w1") -> list[dict[str, Any]]:
        config = self.tmp_path / f"{instance}.toml"
        done = subprocess.run(fleet_command("--config", str(config), "hosts", "--format", "json"),
                              env=ENV, capture_output=True, text=True, timeout=60)  # fmt: skip
        assert done.returncode == 0, done.stderr
        rows: list[dict[str, Any]] = json.loads(done.stdout)
        return rows

    def status(self, instance: str = "w1") -> dict[str, str]:
        return {row["hostname"]: row["status"] for row in self.hosts(instance)}

    def leader(self) -> str | None:
        async def read() -> str | None:
            import nats

            client = await nats.connect(f"nats://127.0.0.1:{self.port}", token=TOKEN)
            try:
                kv = await client.jetstream().key_value("SYSOPS_FLEET_LEADER")
                value = json.loads((await kv.get("leader")).value)
            except Exception:
                return None
            finally:
                await client.close()
            return None if value.get("released") else str(value["instance"])

        return asyncio.run(read())

    def stop(self) -> None:
        for process in self.watchers.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.watchers.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


class FakeHosts:
    """Heartbeats of made-up hosts, published from the test every INTERVAL, each host at its
    own phase; `alive` says which keep beating."""

    def __init__(self, port: int, names: list[str]) -> None:
        self.port = port
        self.alive = set(names)
        self.names = names
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)
        self._thread.start()

    async def _run(self) -> None:
        import nats

        client = await nats.connect(f"nats://127.0.0.1:{self.port}", token=TOKEN,
                                    reconnect_time_wait=0.2, max_reconnect_attempts=-1)  # fmt: skip
        start = time.monotonic()
        tick = 0
        step = INTERVAL / max(1, len(self.names))
        while not self._stop.is_set():
            name = self.names[tick % len(self.names)]
            if name in self.alive and client.is_connected:
                doc = {"hostname": name, "timestamp": datetime.now(UTC).isoformat(),
                       "heartbeat_interval_secs": INTERVAL, "uptime_secs": 1000.0,
                       "agent_version": "9.9", "status": "healthy", "reasons": []}  # fmt: skip
                subject = f"sysops.{name.replace('.', '_')}.heartbeat"
                with contextlib.suppress(Exception):  # the server is away: the next one then
                    await client.publish(subject, json.dumps(doc).encode())
            tick += 1
            await asyncio.sleep(max(0.0, start + tick * step - time.monotonic()))
        await client.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


class Server:
    """A nats-server with JetStream that can be stopped and started again on the same port
    with the same store."""

    def __init__(self, tmp_path: Path) -> None:
        self.port, self.store = free_port(), tmp_path / "js"
        self.process: subprocess.Popen[bytes] | None = start_server(self.port, self.store)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def start(self) -> None:
        self.process = start_server(self.port, self.store)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    running = Server(tmp_path)
    try:
        yield running
    finally:
        running.stop()


def agent_config(tmp_path: Path, port: int, hostname: str) -> Path:
    home = tmp_path / hostname
    home.mkdir(exist_ok=True)
    return write_config(home, f"""
[agent]
hostname = "{hostname}"
data_dir = "{home / "data"}"
{hermetic_agent_keys(home)}
[collector]
memory_interval_secs = 0.5
{only_collectors("memory")}
[analyzer]
enabled = ["threshold"]
[log_analyzer]
enabled = false
[nats]
enabled = true
url = "nats://127.0.0.1:{port}"
token = "${{NATS_TOKEN}}"
heartbeat_interval_secs = {INTERVAL}
reconnect_delay_secs = 0.2
""")  # fmt: skip


def start_agent(config: Path) -> subprocess.Popen[bytes]:
    err = (config.parent / "agent.log").open("a")
    return subprocess.Popen(agent_command("--config", str(config)), cwd=config.parent, env=ENV,
                            stdout=subprocess.DEVNULL, stderr=err)  # fmt: skip


def firing(alerts: list[dict[str, Any]], host: str) -> list[dict[str, Any]]:
    return [a for a in alerts if a["hostname"] == host and a["status"] == "firing"]


def resolved(alerts: list[dict[str, Any]], host: str) -> list[dict[str, Any]]:
    return [a for a in alerts if a["hostname"] == host and a["status"] == "resolved"]


@pytest.mark.e2e
def test_a_killed_agent_is_announced_in_time_and_resolved_and_a_stopped_one_is_not_critical(
    tmp_path: Path, server: Server, http_receiver: HttpReceiver
) -> None:
    port = server.port
    fleet = Fleet(tmp_path, port, http_receiver)
    configs = {h: agent_config(tmp_path, port, h) for h in ("alpha.example", "beta.example")}
    agents = {h: start_agent(c) for h, c in configs.items()}
    try:
        fleet.start("w1")
        wait_until(lambda: fleet.status() == {"alpha.example": "healthy", "beta.example": "healthy"},
                   60, "both agents listed healthy")  # fmt: skip
        wait_until(lambda: "leading" in fleet.log("w1"), 30, "w1 leading")
        killed = time.time()
        agents["alpha.example"].send_signal(signal.SIGKILL)
        agents["alpha.example"].wait(timeout=10)
        wait_until(lambda: firing(fleet.alerts(), "alpha.example"), 30, "alpha's silence alert")
        (alert,) = firing(fleet.alerts(), "alpha.example")
        # When the watcher raised it (the alert's own time), not when this test, on a machine
        # that may be busy, got round to reading the receiver: that is the watcher's latency.
        latency = alert["epoch"] - killed
        assert latency <= SILENCE + 2, latency
        assert alert["metric"] == "fleet_host_silent" and alert["severity"] == "critical"
        assert "alpha.example is silent: no heartbeat since" in alert["message"]
        assert alert["labels"] == {"host": "alpha.example"}

        # A clean stop: "stopped", at info, and never critical.
        agents["beta.example"].send_signal(signal.SIGTERM)
        assert agents["beta.example"].wait(timeout=30) == 0
        wait_until(lambda: firing(fleet.alerts("fleet_host_stopped"), "beta.example"), 30,
                   "beta's stopped notice")  # fmt: skip
        assert [a["severity"] for a in fleet.alerts() if a["hostname"] == "beta.example"] == [
            "info"
        ]
        assert "stopped cleanly" in fleet.alerts("fleet_host_stopped")[0]["message"]

        # Listed with their statuses (`hosts --format json`).
        rows = {r["hostname"]: r for r in fleet.hosts()}
        assert {h: r["status"] for h, r in rows.items()} == {
            "alpha.example": "silent",
            "beta.example": "stopped",
        }
        assert rows["alpha.example"]["alerted"] and rows["alpha.example"]["agent_version"], rows
        assert rows["alpha.example"]["heartbeat_interval_secs"] == INTERVAL
        only = subprocess.run(
            fleet_command("--config", str(tmp_path / "w1.toml"), "hosts", "--status", "stopped"),
            env=ENV, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert only.returncode == 0 and only.stdout.split()[:6] == [
            "HOST", "STATUS", "LAST", "HEARTBEAT", "VERSION", "UPTIME",
        ]  # fmt: skip
        assert [line.split()[:2] for line in only.stdout.splitlines()[1:]] == [
            ["beta.example", "stopped"]
        ]

        # Back: resolved, with the outage and whether it rebooted (the uptime did not drop).
        agents["alpha.example"] = start_agent(configs["alpha.example"])
        wait_until(lambda: resolved(fleet.alerts(), "alpha.example"), 60, "alpha's resolve")
        (back,) = resolved(fleet.alerts(), "alpha.example")
        assert back["alert_id"] == alert["alert_id"]
        assert back["context"]["rebooted"] is False and back["context"]["outage_secs"] > SILENCE
        assert back["message"].startswith("alpha.example: back after ")
        assert back["message"].endswith(" s, not rebooted")
        assert len(firing(fleet.alerts(), "alpha.example")) == 1
        wait_until(lambda: fleet.status()["alpha.example"] == "healthy", 30, "alpha healthy")
        shown = subprocess.run(
            fleet_command("--config", str(tmp_path / "w1.toml"), "show", "alpha.example"),
            env=ENV, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert shown.returncode == 0, shown.stderr
        detail = json.loads(shown.stdout)
        assert detail["host"]["status"] == "healthy" and "inventory" in detail
        assert detail["heartbeat"]["hostname"] == "alpha.example"
        assert detail["heartbeat"]["heartbeat_interval_secs"] == INTERVAL
        missing = subprocess.run(
            fleet_command("--config", str(tmp_path / "w1.toml"), "show", "gamma.example"),
            env=ENV, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert missing.returncode == 1 and "no host gamma.example" in missing.stderr
    finally:
        for agent in agents.values():
            if agent.poll() is None:
                agent.send_signal(signal.SIGTERM)
                agent.wait(timeout=30)
        fleet.stop()
    log = fleet.log("w1")
    assert "Traceback" not in log, log


@pytest.mark.e2e
def test_a_mass_silence_is_one_alert_and_what_stays_silent_after_it_is_announced_alone(
    tmp_path: Path, server: Server, http_receiver: HttpReceiver
) -> None:
    port = server.port
    fleet = Fleet(tmp_path, port, http_receiver)
    names = [f"node{i:02d}.example" for i in range(10)]
    hosts = FakeHosts(port, names)
    try:
        fleet.start("w1")
        wait_until(lambda: sorted(fleet.status()) == names and set(fleet.status().values())
                   == {"healthy"}, 60, "ten healthy hosts")  # fmt: skip
        wait_until(lambda: "leading" in fleet.log("w1"), 30, "w1 leading")
        hosts.alive -= set(names[:8])  # a switch fails: 8 of 10 at once
        wait_until(fleet.alerts, 30, "an alert")
        (mass,) = fleet.alerts()
        assert mass["metric"] == "fleet_mass_silence" and mass["status"] == "firing"
        assert mass["context"]["silent"] == 8 and mass["context"]["watched"] == 10
        assert mass["message"].startswith("8 of 10 hosts went silent together")
        assert all(n in mass["message"] for n in names[:8])
        # 7 come back, 1 stays away: the episode ends, the one left is announced on its own.
        hosts.alive |= set(names[1:8])
        wait_until(lambda: len(fleet.alerts()) >= 3, 30, "the resolve and the one host left")
        assert [(a["metric"], a["status"], a["hostname"]) for a in fleet.alerts()] == [
            ("fleet_mass_silence", "firing", "w1"),
            ("fleet_mass_silence", "resolved", "w1"),
            ("fleet_host_silent", "firing", names[0]),
        ]
    finally:
        hosts.close()
        fleet.stop()
    assert "Traceback" not in fleet.log("w1")


@pytest.mark.e2e
def test_the_watchers_own_nats_outage_gives_no_alert(
    tmp_path: Path, server: Server, http_receiver: HttpReceiver
) -> None:
    port = server.port
    fleet = Fleet(tmp_path, port, http_receiver)
    names = [f"node{i:02d}.example" for i in range(4)]
    hosts = FakeHosts(port, names)
    try:
        fleet.start("w1")
        wait_until(lambda: sorted(fleet.status()) == names, 60, "four hosts")
        wait_until(lambda: "leading" in fleet.log("w1"), 30, "w1 leading")
        # The server goes away for longer than the silence period, and comes back.
        server.stop()
        wait_until(lambda: "NATS connection lost" in fleet.log("w1"), 30, "the watcher noticing")
        down = time.monotonic()
        wait_until(lambda: time.monotonic() - down > 2 * SILENCE, 10, "an outage of 2 periods")
        server.start()
        wait_until(lambda: "NATS connection back" in fleet.log("w1"), 30, "the watcher back")
        back = datetime.now(UTC).timestamp()

        def all_beat_since_back() -> bool:
            rows = fleet.hosts()
            return len(rows) == 4 and all(
                datetime.fromisoformat(r["last_heartbeat"]).timestamp() > back for r in rows
            )

        wait_until(all_beat_since_back, 60, "every host heard after the return")
        # A host that really stops now is announced: the judging works, and what came in
        # before it is all there is.
        hosts.alive.discard(names[0])
        wait_until(fleet.alerts, 30, "the control alert")
        assert [(a["metric"], a["hostname"]) for a in fleet.alerts()] == [
            ("fleet_host_silent", names[0])
        ]
    finally:
        hosts.close()
        fleet.stop()
    assert "Traceback" not in fleet.log("w1")


@pytest.mark.e2e
def test_two_watchers_leader_killed_one_alert_each_way_not_zero_not_two(
    tmp_path: Path, server: Server, http_receiver: HttpReceiver
) -> None:
    port = server.port
    fleet = Fleet(tmp_path, port, http_receiver)
    names = ["x.example", "y.example", "z.example"]
    hosts = FakeHosts(port, names)
    try:
        fleet.start("w1")
        wait_until(lambda: fleet.leader() == "w1", 30, "w1 leading")
        fleet.start("w2")
        wait_until(lambda: sorted(fleet.status("w2")) == names, 60, "three hosts")
        wait_until(lambda: "started as w2" in fleet.log("w2"), 30, "w2 following")
        # x goes silent while its leader dies: the other one takes over and announces it.
        hosts.alive.discard("x.example")
        fleet.watchers["w1"].send_signal(signal.SIGKILL)
        killed = time.monotonic()
        wait_until(lambda: fleet.leader() == "w2", 30, "w2 taking over")
        took = time.monotonic() - killed
        assert took <= 2 * 1.0 + 1.0, took  # two leases, and a second for the polling
        fleet.watchers["w1"].wait(timeout=10)
        wait_until(lambda: firing(fleet.alerts(), "x.example"), 30, "x's silence alert")
        # w1 back as a follower; y goes silent and is announced by w2; then w2 dies and w1,
        # taking over, neither announces y again nor misses the resolves of x and y.
        fleet.start("w1")
        wait_until(lambda: fleet.log("w1").count("started as w1") == 2, 30, "w1 following")
        hosts.alive.discard("y.example")
        wait_until(lambda: firing(fleet.alerts(), "y.example"), 30, "y's silence alert")
        fleet.watchers["w2"].send_signal(signal.SIGKILL)
        fleet.watchers["w2"].wait(timeout=10)
        wait_until(lambda: fleet.leader() == "w1", 30, "w1 leading again")
        wait_until(lambda: fleet.log("w1").count("leading:") >= 2, 30, "w1 taking over")
        hosts.alive |= {"x.example", "y.example"}
        wait_until(lambda: resolved(fleet.alerts(), "x.example")
                   and resolved(fleet.alerts(), "y.example"), 30, "both resolves")  # fmt: skip
        alerts = fleet.alerts()
        for host in ("x.example", "y.example"):
            (fired,) = firing(alerts, host)
            (back,) = resolved(alerts, host)
            assert back["alert_id"] == fired["alert_id"]
        assert not [a for a in alerts if a["hostname"] == "z.example"]
    finally:
        hosts.close()
        fleet.stop()
    assert "Traceback" not in fleet.log("w1") + fleet.log("w2")
