"""Exact values (#15, item 4): what leaves the agent shows the value as collected.

The store's rings are float32; 2.81 in float32 is 2.809999942779541, which the
exporter used to print where node_exporter prints 2.81.  The newest sample of
each series is kept in float64 beside the ring and is what the exporter, the
alert context and NATS show.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
from pathlib import Path

import httpx
import pytest

from agent.exporter import exposition
from agent.store import Store
from analyzers.base import SeriesKey
from tests.conftest import agent_command, wait_until, write_config
from tests.test_nats_channel import free_port
from tests.test_telemetry_e2e import TOKEN, by_kind, config_text, start_server, watch

LOAD = SeriesKey("cpu_load1")
PROCESS = SeriesKey("process_cpu_percent", (("name", "db"),))


def test_the_newest_value_leaves_the_store_as_collected() -> None:
    store = Store(capacity=8)
    store.write_samples(1.0, [LOAD, PROCESS], [0.5, 12.3])
    store.write_samples(2.0, [LOAD, PROCESS], [2.81, 33.7])
    assert store.latest_of(LOAD) == 2.81
    assert store.latest_by_metric("process_cpu_percent") == [(PROCESS, 33.7)]  # alert context
    assert [(k, v) for k, v, _ in store.latest_all()] == [(LOAD, 2.81), (PROCESS, 33.7)]
    text = exposition(store).decode()
    assert "cpu_load1 2.81\n" in text and "2.80999" not in text, text
    # History stays float32 (the analyzers' windows): only the newest sample is exact.
    assert store.window(store.series_id(LOAD))[1].tolist() == [0.5, 2.809999942779541]


def test_a_series_not_in_the_newest_write_and_a_reused_id() -> None:
    store = Store(capacity=8)
    store.write_samples(1.0, [LOAD], [2.81])
    assert store.latest_of(LOAD) == 2.81
    store.write_samples(2.0, [LOAD], [float("nan")])  # a gap: nothing newest to show
    assert store.latest_of(LOAD) is None
    store.write_samples(3.0, [LOAD], [0.1])
    sid = store.series_id(LOAD)
    store.retire([sid])
    # The id is reused by a new series: it shows nothing until written.
    assert store.series_id(PROCESS) == sid and store.latest_of(PROCESS) is None
    store.write_samples(4.0, [PROCESS], [7.3])
    assert store.latest_of(PROCESS) == 7.3


@pytest.mark.e2e
def test_exporter_and_nats_say_what_proc_loadavg_says(tmp_path: Path) -> None:
    nats_port, prom_port = free_port(), free_port()
    server = start_server(nats_port)
    text = config_text(nats_port, host=tmp_path)
    loadavg = tmp_path / "host-proc" / "loadavg"
    loadavg.unlink()  # the captured host is a copy: rewrite it, never the fixture
    loadavg.write_text("2.81 0.37 0.39 1/719 19737\n")
    config = write_config(
        tmp_path, text + f'[prometheus]\nenabled = true\nbind = "127.0.0.1:{prom_port}"\n'
    )
    agent: subprocess.Popen[bytes] | None = None

    def start() -> None:
        nonlocal agent
        agent = subprocess.Popen(
            agent_command("--config", str(config)),
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=(tmp_path / "err").open("w"),
            env={"NATS_TOKEN": TOKEN, "PATH": "/usr/bin:/bin"},
        )

    def has_load(messages: list[tuple[str, dict[str, str], bytes]]) -> bool:
        return any(b'"cpu_load1"' in raw for subject, _, raw in messages if "metrics" in subject)

    try:
        messages = asyncio.run(
            watch(nats_port, has_load, 30, start, "sysops.*.metrics", token=TOKEN)
        )

        def scrape() -> str:
            try:
                body = httpx.get(f"http://127.0.0.1:{prom_port}/metrics", timeout=2).text
            except httpx.TransportError:  # not listening yet
                return ""
            return body if "cpu_load1 " in body else ""

        body = str(wait_until(scrape, 15, "cpu_load1 on /metrics"))
    finally:
        if agent is not None:
            agent.send_signal(signal.SIGTERM)
            agent.wait(timeout=15)
        server.terminate()
        server.wait(timeout=10)
    assert "\ncpu_load1 2.81\n" in body, body
    assert "2.80999" not in body
    loads = [m["value"] for batch in by_kind(messages)["metrics"] for m in batch["metrics"]
             if m["name"] == "cpu_load1"]  # fmt: skip
    assert loads and set(loads) == {2.81}, loads
    raw = next(raw for _, _, raw in messages if b'"cpu_load1"' in raw)
    assert '"value": 2.81' in raw.decode() or '"value":2.81' in raw.decode()
    assert json.loads(raw)["hostname"] == "web-01.example.com"


def test_an_alert_carries_the_value_as_collected(tmp_path: Path) -> None:
    """Webhooks, NATS and messages render the alert record: its value is the sample's."""
    from agent.config import parse_config_text
    from agent.runtime import Agent
    from alerting.alert import Alert
    from tests.test_pipeline import Scripted

    loaded = parse_config_text(
        f'[agent]\ndata_dir = "{tmp_path}"\n[analyzer]\nenabled = ["threshold"]\n'
        "[thresholds]\ncpu_percent = { warn = 2, critical = 50 }\n",
        "t.toml",
    )
    agent = Agent(loaded)
    alerts: list[Alert] = []
    agent.pipeline.sink = alerts.append
    collector = Scripted([1.5, 2.81, 2.81, 2.81])
    for _ in range(4):
        agent.tick(collector)
    firing = [a for a in alerts if a.metric == "cpu_usage_percent"]
    assert firing and firing[0].value == 2.81, alerts
    assert '"value": 2.81' in json.dumps(firing[0].to_record())
