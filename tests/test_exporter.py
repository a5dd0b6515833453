"""The opt-in Prometheus endpoint, parsed with prometheus-client's own parser."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from agent.exporter import exposition
from agent.store import Store
from analyzers.base import SeriesKey
from tests.conftest import (
    agent_command,
    hermetic_agent_keys,
    only_collectors,
    wait_until,
    write_config,
)
from tests.test_nats_channel import free_port


def test_exposition_has_help_type_labels_and_counter_suffix() -> None:
    store = Store(capacity=8)
    store.write_samples(
        100.0,
        [
            SeriesKey("cpu_usage_percent"),
            SeriesKey("disk_used_percent", (("device", "sda1"), ("mountpoint", '/mnt/"x"'))),
            SeriesKey("ecc_correctable_errors", (("mc", "0"),)),
        ],
        [12.5, 40.0, 3.0],
    )
    store.write_samples(110.0, [SeriesKey("cpu_usage_percent")], [20.0])
    text = exposition(store).decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    cpu = families["cpu_usage_percent"]
    assert cpu.type == "gauge" and cpu.documentation and cpu.samples[0].value == 20.0  # newest
    disk = families["disk_used_percent"].samples[0]
    assert disk.labels == {"device": "sda1", "mountpoint": '/mnt/"x"'}  # escaped and parsed back
    ecc = families["ecc_correctable_errors"]
    assert ecc.type == "counter" and ecc.samples[0].name == "ecc_correctable_errors_total"
    assert "# HELP cpu_usage_percent" in text and "# TYPE cpu_usage_percent gauge" in text


@pytest.mark.e2e
def test_agent_serves_only_its_path_and_survives_bad_requests(tmp_path: Path) -> None:
    port = free_port()
    config = write_config(
        tmp_path,
        f'[agent]\ndata_dir = "data"\n{hermetic_agent_keys(tmp_path)}'
        f"[collector]\ncpu_interval_secs = 0.5\n{only_collectors('cpu', 'memory')}"
        f'[prometheus]\nenabled = true\nbind = "127.0.0.1:{port}"\npath = "/metrics"\n',
    )
    agent = subprocess.Popen(
        agent_command("--config", str(config)),
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "err").open("w"),
    )
    try:
        url = f"http://127.0.0.1:{port}"

        def scrape() -> str:
            try:
                text = httpx.get(url + "/metrics", timeout=2).text
            except httpx.TransportError:  # not listening yet
                return ""
            return text if "cpu_usage_percent" in text else ""  # a rate: after two reads

        body = str(wait_until(scrape, 60, "cpu_usage_percent on /metrics"))
        names = {f.name for f in text_string_to_metric_families(body)}
        assert {"cpu_usage_percent", "memory_used_percent"} <= names, body[:500]
        assert httpx.get(url + "/other", timeout=2).status_code == 404
        assert httpx.post(url + "/metrics", timeout=2).status_code == 405
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            raw.sendall(b"GET /metrics HTTP/1.1\r\nX: " + b"a" * 20000 + b"\r\n\r\n")
            try:
                answer = raw.recv(100)
            except ConnectionResetError:  # closed with our bytes unread: also nothing served
                answer = b""
            assert answer == b""  # an oversized request head gets no answer
        assert httpx.get(url + "/metrics", timeout=2).status_code == 200
    finally:
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(timeout=15) == 0
    log = (tmp_path / "err").read_text()
    assert f"Prometheus endpoint on http://127.0.0.1:{port}/metrics" in log
    assert "Traceback" not in log


def test_metric_names_follow_prometheus_suffix_rules() -> None:
    """promtool rejects _total/_count/_sum/_bucket on gauges; counters get _total when served."""
    from agent.collectors import ALL_METRICS

    reserved = ("_total", "_count", "_sum", "_bucket")
    assert [s.name for s in ALL_METRICS if s.type == "gauge" and s.name.endswith(reserved)] == []


@pytest.mark.e2e
def test_a_port_in_use_is_reported_and_the_agent_keeps_running(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = write_config(
            tmp_path,
            f'[agent]\ndata_dir = "data"\n{hermetic_agent_keys(tmp_path)}'
            f"[collector]\ncpu_interval_secs = 0.5\n{only_collectors('cpu', 'memory')}"
            f'[prometheus]\nenabled = true\nbind = "127.0.0.1:{port}"\n',
        )
        err_path = tmp_path / "stderr"
        with err_path.open("w") as err:
            agent = subprocess.Popen(agent_command("--config", str(config)), cwd=tmp_path,
                                     stdout=subprocess.DEVNULL, stderr=err)  # fmt: skip
        try:
            wait_until(lambda: "cannot serve Prometheus" in err_path.read_text(), 60, "the report")
            time.sleep(0.5)  # staying up after the failure is what is tested
            assert agent.poll() is None  # still monitoring without its endpoint
            agent.send_signal(signal.SIGTERM)
            agent.wait(timeout=15)
        finally:
            if agent.poll() is None:
                agent.kill()
                agent.wait(timeout=5)
        stderr = err_path.read_text()
    assert agent.returncode == 0
    assert f"cannot serve Prometheus on 127.0.0.1:{port}" in stderr and "Traceback" not in stderr
