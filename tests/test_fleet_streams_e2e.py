"""Startup on a server that already has an older stream over `sysops.>` (a real
nats-server): the heartbeat stream cannot be made ("subjects overlap"), the watcher
uses the stream that covers the subject instead of exiting."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from fleet import store
from fleet.settings import FleetSettings
from tests.test_nats_channel import free_port
from tests.test_telemetry_e2e import TOKEN, start_server


@pytest.mark.e2e
def test_an_older_stream_over_everything_is_used_for_the_seed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    process = start_server(port, tmp_path / "js")

    async def main() -> tuple[list[str], list[Any]]:
        import nats

        client = await nats.connect(f"nats://127.0.0.1:{port}", token=TOKEN)
        try:
            js = client.jetstream()
            await js.add_stream(name="SYSOPS", subjects=["sysops.>"])
            for host in ("a", "b"):
                doc = {"hostname": host, "status": "healthy", "heartbeat_interval_secs": 10}
                await js.publish(f"sysops.{host}.heartbeat", json.dumps(doc).encode())
            await js.publish("sysops.a.heartbeat", json.dumps({**doc, "hostname": "a",
                             "status": "degraded"}).encode())  # fmt: skip
            settings = FleetSettings()
            await store.ensure(js, settings)  # no exception: "subjects overlap" handled
            seeded = await asyncio.wait_for(store.heartbeats(js, settings), 30)
            return sorted(f"{d['hostname']}:{d['status']}" for d, _ in seeded), seeded
        finally:
            await client.close()

    try:
        with caplog.at_level(logging.WARNING, "fleet.store"):
            hosts, _ = asyncio.run(main())
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert hosts == ["a:degraded", "b:healthy"]
    assert any("read from the stream SYSOPS" in r.getMessage() for r in caplog.records)


@pytest.mark.e2e
def test_changes_of_an_unknown_host_exits_1_as_show_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from fleet.cli import main
    from fleet.config import load_config
    from fleet.watcher import make_cmdb
    from tests.conftest import write_config

    port = free_port()
    process = start_server(port, tmp_path / "js")
    config = write_config(tmp_path, f"""
[fleet]
data_dir = "{tmp_path}/d"
bucket_prefix = "TCLI_FLEET"
inventory_stream = "TCLI_INVENTORY"
heartbeat_stream = "TCLI_HEARTBEAT"
[nats]
url = "nats://127.0.0.1:{port}"
token = "{TOKEN}"
""")  # fmt: skip

    async def prepare() -> None:
        import nats

        client = await nats.connect(f"nats://127.0.0.1:{port}", token=TOKEN)
        try:
            js = client.jetstream()
            settings = load_config(config).settings
            await store.ensure(js, settings)
            await make_cmdb(js, settings).ensure()
            doc = {"hostname": "known", "status": "healthy"}
            await js.publish("sysops.known.heartbeat", json.dumps(doc).encode())
        finally:
            await client.close()

    try:
        asyncio.run(asyncio.wait_for(prepare(), 30))
        assert main(["--config", str(config), "changes", "known"]) == 0
        said = capsys.readouterr()
        assert said.out == "" and "no change recorded for known" in said.err
        assert main(["--config", str(config), "changes", "unknown"]) == 1
        assert "no host unknown" in capsys.readouterr().err
    finally:
        process.terminate()
        process.wait(timeout=30)
